"""Database errors as ``StoreError``: one line naming the database (password masked) and the fix.

Every command reaches the database through ``syncd.store.opening`` and ``syncd.store.migrate``,
which translate ``SQLAlchemyError`` (and the sqlite3/psycopg errors it wraps) here, so no
command shows a traceback for a database problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syncd.config import safe_database_url
from syncd.errors import StoreError

_HINTS = (
    ("file is not a database", "database.url must name syncd's SQLite file"),
    ("no such table", "not syncd's database, or damaged? `syncd db current` tells"),
    ("connection refused", "is the server running, and database.url right?"),
    ("could not translate host name", "is the host in database.url right?"),
    ("password authentication failed", "check the user and password in database.url"),
)


def engine_label(engine: Engine) -> str:
    """The engine's database for people: the URL with its password masked."""
    return safe_database_url(engine.url.render_as_string(hide_password=False))


def describe(exc: SQLAlchemyError) -> str:
    """The driver's own message in one line (without SQLAlchemy's appended SQL and background
    link), with the fix when it is obvious."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    for fragment, hint in _HINTS:
        if fragment in reason.lower():
            return f"{reason} ({hint})"
    return reason


def store_error(what: str, engine: Engine, exc: SQLAlchemyError) -> StoreError:
    """``WHAT on DATABASE: reason`` in one line."""
    return StoreError(f"{what} on {engine_label(engine)}: {describe(exc)}")


@contextmanager
def database_errors(what: str, engine: Engine) -> Iterator[None]:
    """Turn a ``SQLAlchemyError`` raised inside into ``store_error(what, engine, exc)``."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_error(what, engine, exc) from exc
