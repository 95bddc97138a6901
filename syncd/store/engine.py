"""Engines for the mirror: SQLite tuned for one writer and many readers, or PostgreSQL.

SQLite connections run in WAL mode with a busy timeout, foreign keys on and ``synchronous=NORMAL``.
The driver's own transaction handling is switched off (it never emits BEGIN for SELECT, DDL or
SAVEPOINT, so those escaped their transaction); SQLAlchemy's ``begin`` event emits
``BEGIN IMMEDIATE`` instead, which takes the write lock up front: a transaction that reads first
and writes later can then never fail with SQLITE_BUSY halfway. A read-only caller can ask for a
plain deferred BEGIN, so it does not queue behind the writer::

    reader = engine.execution_options(**DEFERRED)

The database file (and any directory created for it) is made readable by its owner only, before
SQLite creates it: the mirror holds personal data.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from syncd.stamps import Stamp

BUSY_TIMEOUT_MS: Final = 30_000
"""How long a SQLite connection waits for another writer's lock before failing."""

BEGIN_OPTION: Final = "syncd_sqlite_begin"
"""Execution option naming the SQLite BEGIN mode of a transaction (default ``IMMEDIATE``)."""

DEFERRED: Final[dict[str, Any]] = {BEGIN_OPTION: "DEFERRED"}
"""Execution options for read-only work on SQLite: ``engine.execution_options(**DEFERRED)``."""

_BEGIN_MODES: Final = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_ASCII: Final = json.JSONEncoder(separators=(",", ":"))
# Exact types orjson writes byte for byte as the stdlib encoder above does (floats are not:
# orjson writes 1e-05 as 0.00001 and NaN as null; nor are enums, written by their value).
_SCALARS: Final = frozenset({str, Stamp, int, bool, type(None)})
_CONTAINERS: Final = frozenset({dict, list, tuple})
_PLAIN: Final = _SCALARS | _CONTAINERS
_MAX_DEPTH: Final = 200  # orjson refuses deeper nesting (254) anyway; a cycle ends here too
# Anything else orjson would write its own way is refused, so the stdlib path takes over.
# (A Stamp, the one subclass admitted, is a str to both encoders: its text, as sent.)
_ORJSON_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_FILE_MODE: Final = 0o600
_DIR_MODE: Final = 0o700


def create_engine_for(url: str | URL) -> Engine:
    """A configured Engine for a ``sqlite:///`` or ``postgresql+psycopg://`` URL."""
    parsed = _normalise(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, json_serializer=dumps_json)
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )


def dumps_json(value: Any) -> str:
    """JSON as stored in ``raw`` columns: real unicode, not ``\\u`` escapes, so BI tools read it."""
    text = compact_json(value)
    if text is not None:
        return text
    text = _JSON.encode(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from the API: keep it as an escape
            return _JSON_ASCII.encode(value)
    return text


def compact_json(value: Any) -> str | None:
    """``value`` as compact JSON with real unicode, by orjson, or None where that could differ.

    The text is exactly what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``
    writes, whatever its ``default``: orjson is only given values made of str, int, bool, None,
    dict, list and tuple (exact types, no float), and whatever it refuses (a lone surrogate, an
    int beyond 64 bits, a key that is not a str, deep nesting) makes this return None.
    """
    return plain_json_text(value) if is_plain_json(value) else None


def is_plain_json(value: Any) -> bool:
    """Whether ``value`` is made of nothing but str, int, bool, None, dict, list and tuple."""
    return _is_plain(value, 0)


def plain_json_text(value: Any) -> str | None:
    """``compact_json`` of a value ``is_plain_json`` accepted (or of a dict of such values)."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return None


def _is_plain(value: Any, depth: int) -> bool:
    """Whether ``value`` holds nothing but the exact types of ``_PLAIN``, nested not too deep."""
    kind = type(value)
    items: Any
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return kind in _SCALARS
    kinds = set(map(type, items))
    if kinds <= _SCALARS:
        return True
    if not kinds <= _PLAIN or depth >= _MAX_DEPTH:
        return False
    for item in items:  # a flat container is checked here, without a call: most are
        kind = type(item)
        if kind is dict:
            inner = item.values()
        elif kind is list or kind is tuple:
            inner = item
        else:
            continue
        if not set(map(type, inner)) <= _SCALARS and not _is_plain(item, depth + 1):
            return False
    return True


def _normalise(url: URL) -> URL:
    # "postgresql://" alone would pick psycopg2, which syncd does not depend on.
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, json_serializer=dumps_json)
    path = sqlite_file(url)

    @event.listens_for(engine, "do_connect")
    def _create_private_file(*_: Any) -> None:
        if path is not None:
            create_private_file(path)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # The driver must not manage transactions: the "begin" listener below does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{BEGIN_OPTION}={mode!r}: expected one of {sorted(_BEGIN_MODES)}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL opens, or None for an in-memory or ``uri=true`` database."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("uri") in ("true", "1"):
        return None
    return Path(database)


def missing_sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of the SQLite file ``url`` opens when it does not exist (else None)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = sqlite_file(parsed)
    return None if path is None or path.exists() else path.resolve()


def create_private_file(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the owner only; leave an existing one."""
    missing = [parent for parent in reversed(path.parents) if not parent.exists()]
    for directory in missing:
        with contextlib.suppress(FileExistsError):  # another process won the race: fine
            directory.mkdir(mode=_DIR_MODE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
