"""The one way commands open the configured database, read it and write it.

``opened`` creates the engine, applies a schema policy and disposes the engine at exit;
``read`` and ``write`` run a function in one transaction. Each turns a database error into a
``StoreError`` naming the database (``syncd.store.failures``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

from sqlalchemy import Connection, Engine

from syncd.config import Settings
from syncd.store.engine import DEFERRED, create_engine_for
from syncd.store.existing import open_existing
from syncd.store.failures import database_errors
from syncd.store.migrate import ensure_schema

T = TypeVar("T")

Schema = Literal["ensure", "existing", "unchecked"]
"""``ensure``: migrated, or checked, as ``database.auto_migrate`` says (``ensure_schema``);
``existing``: must exist at head, never created (``syncd.store.existing``); ``unchecked``: as is
(the ``syncd db`` commands look for themselves)."""


@contextmanager
def opened(settings: Settings, schema: Schema = "ensure") -> Iterator[Engine]:
    """An engine on ``database.url`` under the ``schema`` policy, disposed at exit."""
    if schema == "existing":
        engine = open_existing(settings)
    else:
        engine = create_engine_for(settings.database.url.get_secret_value())
    try:
        if schema == "ensure":
            ensure_schema(settings, engine)
        yield engine
    finally:
        engine.dispose()


def read(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work`` in one read-only transaction (a deferred BEGIN on SQLite)."""
    reader = engine.execution_options(**DEFERRED)
    with database_errors("cannot read", engine), reader.connect() as conn, conn.begin():
        return work(conn)


def write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work`` in one writing transaction (SQLite: the write lock taken up front)."""
    with database_errors("cannot write", engine), engine.begin() as conn:
        return work(conn)
