"""Logging: structlog events on stderr, JSON lines when stderr is not a TTY, secrets masked.

Call ``configure_logging(...)`` once a command knows its settings (again later is fine). Every
event goes through ``SecretRedactor`` after exceptions are formatted, so a token cannot reach the
output through a field, a nested value, an exception message or a traceback. Logging from other
libraries (httpx, alembic, apscheduler, aiohttp) takes the same path at WARNING and above.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from syncd.errors import ConfigError
from syncd.masking import MASK, compile_secrets, redact, redact_text

__all__ = [
    "LOG_LEVEL_ENV",
    "MASK",
    "SecretRedactor",
    "compile_secrets",
    "configure_logging",
    "redact",
    "redact_registered",
    "redact_text",
    "register_secret",
]

LOG_LEVEL_ENV = "SYNCD_LOG_LEVEL"
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
THIRD_PARTY_LOGGERS = ("httpx", "httpcore", "alembic", "apscheduler", "aiohttp", "asyncio")

LogFormat = Literal["auto", "json", "console"]


class SecretRedactor:
    """A structlog processor masking registered secrets and secret-looking substrings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self.pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too from now on."""
        with self._lock:
            self._secrets |= {s for s in secrets if s}
            self.pattern = compile_secrets(self._secrets)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Mask every secret in the event (keys, values, nested containers, formatted text)."""
        pattern = self.pattern
        return {redact(key, pattern): redact(value, pattern) for key, value in event_dict.items()}


# One registry for the process: secrets are never forgotten once registered.
_REGISTRY = SecretRedactor()


def register_secret(value: str) -> None:
    """Mask ``value`` in every log event from now on (and in ``redact_registered``)."""
    _REGISTRY.add([value])


def redact_registered(value: Any) -> Any:
    """``value`` with every registered secret and every secret-looking substring masked."""
    return redact(value, _REGISTRY.pattern)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    name = record.name if record is not None else getattr(logger, "name", "")
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


# One lock for structlog's and the stdlib's lines, so they never interleave.
_WRITE_LOCK = threading.Lock()


def _write_line(line: str) -> None:
    """Write one line to whatever ``sys.stderr`` is now (pytest and daemons swap it)."""
    with _WRITE_LOCK:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _StderrLogger:
    """The structlog logger: rendered lines go to ``sys.stderr``."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or ""

    def msg(self, message: str) -> None:
        """Write one line; a closed or broken stderr never takes the process down."""
        with contextlib.suppress(OSError, ValueError):
            _write_line(message)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _logger_factory(*args: Any) -> _StderrLogger:
    return _StderrLogger(args[0] if args and isinstance(args[0], str) else None)


class _StderrHandler(logging.Handler):
    """The stdlib handler: records rendered by structlog's ProcessorFormatter to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        """Format through structlog's ProcessorFormatter and write one line."""
        try:
            _write_line(self.format(record))
        except Exception:
            self.handleError(record)


def resolve_level(level: str | None) -> int:
    """The numeric level: ``$SYNCD_LOG_LEVEL``, else ``level``, else info."""
    chosen = os.environ.get(LOG_LEVEL_ENV) or level or "info"
    number = LEVELS.get(chosen.strip().lower())
    if number is None:
        source = LOG_LEVEL_ENV if os.environ.get(LOG_LEVEL_ENV) else "logging.level"
        raise ConfigError(f"{source}: must be one of {', '.join(LEVELS)}")
    return number


def configure_logging(
    level: str | None = None, fmt: LogFormat = "auto", secrets: Iterable[str] = ()
) -> None:
    """Send structlog and stdlib logging to stderr through one redacting renderer."""
    number = resolve_level(level)
    _REGISTRY.add(secrets)
    as_json = fmt == "json" or (fmt == "auto" and not _stderr_is_tty())
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=_stderr_is_tty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Exceptions become text before redaction, so their messages and tracebacks are masked too.
    final: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _REGISTRY,
        *([_leading_fields] if as_json else []),
        renderer,
    ]
    structlog.configure(
        processors=[*shared, *final],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
    _route_stdlib(number, shared, final)


def _leading_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """timestamp, level, logger and event first, so JSON lines read well in journalctl."""
    first = {
        k: event_dict.pop(k) for k in ("timestamp", "level", "logger", "event") if k in event_dict
    }
    return {**first, **event_dict}


def _library_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """A library's record (APScheduler, aiohttp, ...) in syncd's shape: ``event`` is a stable
    name, ``<top-level package>_log``, and the library's sentence goes into ``message``."""
    record = event_dict.get("_record")
    name = record.name if isinstance(record, logging.LogRecord) else "library"
    event_dict["message"] = event_dict.pop("event", "")
    event_dict["event"] = f"{name.split('.')[0] or 'library'}_log"
    return event_dict


def _route_stdlib(number: int, shared: list[Processor], final: list[Processor]) -> None:
    """Other libraries' logging: WARNING and up, through the same processors."""
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _library_event],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    quiet = max(logging.WARNING, number)
    root.setLevel(quiet)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    # syncd's own stdlib loggers, if any, follow the configured level.
    logging.getLogger("syncd").setLevel(number)


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
