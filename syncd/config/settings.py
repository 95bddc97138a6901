"""Configuration: a TOML file overridden by ``SYNCD_*`` environment variables.

Where the file comes from: ``-c/--config``, else ``$SYNCD_CONFIG``, else ``./syncd.toml`` when it
exists, else defaults only. Nested keys in the environment use ``__``:
``SYNCD_API__TOKEN``, ``SYNCD_DATABASE__URL``; list and table values take JSON
(``SYNCD_SINKS='[{"name": "out", "type": "stdout"}]'``). The environment overrides single keys of
a file's section, the rest of the section stays. Every model forbids unknown keys, so a typo (in
the file or in a variable name) is an error naming the key rather than a setting silently ignored.
Empty variables count as unset. In ``api.token_file`` and a file sink's ``path``, ``~``, ``$VAR``
and ``${VAR}`` are expanded (``"${CREDENTIALS_DIRECTORY}/token"`` for a systemd credential); an
unset variable is an error. A relative SQLite path in the file's ``database.url`` resolves against
the file's directory (``syncd.config.sources.anchor_sqlite_url``).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from syncd.config.sinks import (
    Name,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Section,
    SinkSettings,
    http_url,
)
from syncd.config.sources import (
    CONFIG_ENV_VAR,
    anchor_sqlite_url,
    describe_validation_error,
    expand_path,
    key_error,
    read_toml,
    setting_env_vars,
    sink_names,
)
from syncd.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("syncd.toml")


class ApiSettings(Section):
    """``[api]``: where the oHallo API is and how hard syncd may use it."""

    base_url: str = "https://api.ohallo.eu"
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout_s: PositiveFloat = 30.0
    max_concurrency: PositiveInt = 8
    max_requests_per_s: PositiveFloat = 20.0
    max_attempts: PositiveInt = 6

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("token")
    @classmethod
    def _blank_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("token_file", mode="before")
    @classmethod
    def _expand_token_file(cls, value: object) -> object:
        if isinstance(value, str | os.PathLike):
            return expand_path(value) if os.fspath(value) else None
        return value

    @model_validator(mode="after")
    def _read_token_file(self) -> ApiSettings:
        if self.token_file is None:
            return self
        if self.token is not None:
            raise key_error("token_file", "set either api.token or api.token_file, not both")
        try:
            text = self.token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise key_error(
                "token_file",
                f"cannot read {self.token_file} ({reason}); "
                "point it at a readable file holding the API key",
            ) from None
        token = text.strip()
        if not token:
            raise key_error("token_file", f"{self.token_file} is empty")
        object.__setattr__(self, "token", SecretStr(token))
        return self

    def require_token(self) -> str:
        """The API key, or a ConfigError telling how to provide one."""
        if self.token is None or not self.token.get_secret_value():
            raise ConfigError(
                "api.token: not set; set api.token or api.token_file in the config file, "
                "or the SYNCD_API__TOKEN environment variable"
            )
        return self.token.get_secret_value()


class DatabaseSettings(Section):
    """``[database]``: where the mirror lives."""

    url: SecretStr = SecretStr("sqlite:///syncd.db")
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: SecretStr) -> SecretStr:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        url = value.get_secret_value().strip()
        if url.startswith("postgres:"):
            url = "postgresql:" + url.removeprefix("postgres:")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            backend = ""
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:///PATH or postgresql://USER@HOST/DB URL")
        return SecretStr(url)


class SyncSettings(Section):
    """``[sync]``: what to mirror and how often."""

    workspaces: list[Name] = Field(default_factory=list)
    poll_interval_s: PositiveFloat = 30.0
    attention_interval_s: PositiveFloat = 15.0
    reconcile_interval_s: PositiveFloat = 3600.0
    status_counts_interval_s: PositiveFloat = 300.0
    lookback_s: NonNegativeFloat = 300.0
    terminal_statuses: list[Name] = Field(
        default_factory=lambda: ["resolved", "closed", "abandoned"]
    )
    refresh_interval_s: NonNegativeFloat = 900.0
    """Recent conversations' details are re-read at least this often (0: never)."""
    refresh_recent_days: NonNegativeFloat = 7.0
    """A terminal conversation counts as recent while its last activity is this young."""


class PrivacySettings(Section):
    """``[privacy]``: what personal data the mirror and the events keep, and for how long.

    ``hash_key`` / ``hash_key_file``: the HMAC key for ``hash_contact_emails`` (required when
    hashing is on; the file form suits systemd credentials and docker secrets). The retention
    keys (0 = keep for ever) bound syncd's own growing tables.
    """

    store_message_bodies: bool = True
    hash_contact_emails: bool = False
    hash_key: SecretStr | None = None
    hash_key_file: Path | None = None
    purge_deleted_after_days: NonNegativeFloat = 0.0
    """Conversations confirmed deleted longer ago than this are erased (0: never)."""
    status_history_retention_days: NonNegativeFloat = 0.0
    """Status-history rows observed longer ago than this are removed (0: kept)."""
    status_snapshots_retention_days: NonNegativeFloat = 0.0
    """Status-count snapshots taken longer ago than this are removed (0: kept)."""

    @field_validator("hash_key")
    @classmethod
    def _blank_key_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("hash_key_file", mode="before")
    @classmethod
    def _expand_key_file(cls, value: object) -> object:
        if isinstance(value, str | os.PathLike):
            return expand_path(value) if os.fspath(value) else None
        return value

    @model_validator(mode="after")
    def _read_key_file(self) -> PrivacySettings:
        if self.hash_key_file is not None:
            if self.hash_key is not None:
                raise key_error(
                    "hash_key_file", "set either privacy.hash_key or privacy.hash_key_file"
                )
            try:
                key = self.hash_key_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise key_error(
                    "hash_key_file",
                    f"cannot read {self.hash_key_file} ({reason}); "
                    "point it at a readable file holding the hashing key",
                ) from None
            if not key:
                raise key_error("hash_key_file", f"{self.hash_key_file} is empty")
            object.__setattr__(self, "hash_key", SecretStr(key))
        if self.hash_contact_emails and self.hash_key is None:
            raise key_error(
                "hash_key",
                "privacy.hash_contact_emails is on but no key is set; set privacy.hash_key or "
                "privacy.hash_key_file (SYNCD_PRIVACY__HASH_KEY), e.g. 32 random bytes in hex",
            )
        return self


class EventsSettings(Section):
    """``[events]``: the outbox."""

    retention_days: PositiveFloat = 30.0
    drain_timeout_s: NonNegativeFloat = 30.0


class DaemonSettings(Section):
    """``[daemon]``: the long-running process."""

    shutdown_timeout_s: PositiveFloat = 20.0


class ServerSettings(Section):
    """``[server]``: the health and metrics endpoint of ``syncd run`` (port 0: any free port)."""

    listen: str = "127.0.0.1:9187"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9187 or [::1]:9187")
        return value

    @property
    def host(self) -> str:
        """The address to bind, without IPv6 brackets."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port to bind."""
        return int(self.listen.rpartition(":")[2])


class LoggingSettings(Section):
    """``[logging]``: level and format (``SYNCD_LOG_LEVEL`` overrides the level)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCD_",
        env_nested_delimiter="__",
        # An empty variable counts as unset (compose files often pass `${VAR:-}` through).
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    api: ApiSettings = Field(default_factory=ApiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    sinks: list[SinkSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_sink_names(self) -> Settings:
        seen: set[str] = set()
        for index, sink in enumerate(self.sinks):
            if sink.name in seen:
                raise key_error(
                    f"sinks.{index}.name", f"{sink.name!r} is used twice; must be unique"
                )
            seen.add(sink.name)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then ``SYNCD_*``, then the TOML file; merged key by key."""
        file_data = _FILE_DATA.get()
        if file_data is None:
            return init_settings, env_settings
        return init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=file_data)


# The parsed TOML file for the Settings() call in progress (pydantic-settings builds the sources
# in the classmethod above, which takes no arguments of ours). A ContextVar keeps concurrent loads
# in threads or tasks apart.
_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("syncd_config_file", default=None)


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file to read: explicit, else $SYNCD_CONFIG, else ./syncd.toml if present."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load and validate the configuration, or raise ConfigError naming the key and the fix."""
    config_path = resolve_config_path(path)
    file_data: dict[str, Any] = {}
    if config_path is not None:
        origin = (
            "-c"
            if path is not None
            else (f"${CONFIG_ENV_VAR}" if os.environ.get(CONFIG_ENV_VAR) else "default location")
        )
        file_data = read_toml(config_path, origin)
        anchor_sqlite_url(file_data, config_path.resolve().parent)
    env = setting_env_vars(Settings)
    token = _FILE_DATA.set(file_data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(
                exc, config_path, env, model=Settings, sink_names=sink_names(file_data)
            )
        ) from None
    except SettingsError:
        # Only reached for shapes setting_env_vars lets through (it checks names and JSON).
        raise ConfigError(
            "environment: a SYNCD_* variable could not be parsed; list and table values take JSON"
        ) from None
    finally:
        _FILE_DATA.reset(token)
