"""``CommandContext``: what every command shares, set up once and torn down at exit."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy import Engine

from syncd.config import Settings, load_settings
from syncd.config.logs import configure_logging_for
from syncd.errors import ConfigError
from syncd.store.existing import database_label
from syncd.store.opening import Schema, opened

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(ConfigError):
    """A bad command-line argument: ``syncd: MESSAGE`` on stderr, exit 2."""


class CommandContext:
    """A command's arguments, settings and engine.

    ``settings()`` loads the configuration (``-c FILE``, else ``$SYNCD_CONFIG``, else
    ``./syncd.toml``) once and configures logging by it, every configured secret masked;
    ``engine()`` opens the database under a schema policy (``syncd.store.opening``) and
    disposes it when the command ends.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._settings: Settings | None = None
        self._resources = ExitStack()

    @property
    def config_path(self) -> str | None:
        """The ``-c FILE`` given, if any."""
        path: str | None = getattr(self.args, "config", None)
        return path

    @property
    def database(self) -> str | None:
        """The database the command uses, for people (None before the settings are loaded)."""
        return database_label(self._settings) if self._settings is not None else None

    def settings(self, *, log_level: str | None = None) -> Settings:
        """The settings; logging configured by them (at ``log_level`` when given)."""
        if self._settings is None:
            self.use(load_settings(self.config_path), log_level=log_level)
        elif log_level is not None:
            configure_logging_for(self._settings, log_level)
        assert self._settings is not None
        return self._settings

    def use(self, settings: Settings, *, log_level: str | None = None) -> None:
        """Run with ``settings`` built by the command instead of loaded (``syncd demo``)."""
        self._settings = settings
        configure_logging_for(settings, log_level)

    def engine(self, schema: Schema = "ensure") -> Engine:
        """An engine on the configured database, disposed when the command ends."""
        return self._resources.enter_context(opened(self.settings(), schema))

    def close(self) -> None:
        """Dispose of everything the command opened."""
        self._resources.close()

    def __enter__(self) -> CommandContext:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def time_option(option: str, value: str) -> datetime:
    """An ISO-8601 time given to ``option`` (UTC when it names no zone), else a UsageError."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"{option} {value!r}: not an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
