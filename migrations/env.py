"""Alembic environment for syncd, run by ``syncd.store.migrate`` (no alembic.ini needed).

The caller hands over an open connection in ``config.attributes["connection"]``, already inside
the transaction (and, on PostgreSQL, holding the advisory lock) that the migration runs in. For
``alembic revision --autogenerate`` by hand, ``sqlalchemy.url`` in the config is used instead.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from syncd.store.engine import create_engine_for
from syncd.store.tables import UTCDateTime, metadata


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render syncd's own column types as the plain SQLAlchemy types they store as."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_and_run(connection: Connection) -> None:
    """Run the migrations on ``connection`` (batch mode on SQLite, which cannot ALTER much)."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Entry point: use the caller's connection, else open one from ``sqlalchemy.url``."""
    if context.is_offline_mode():
        raise RuntimeError("syncd migrations run online only: use `syncd db upgrade`")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        configure_and_run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_engine_for(url)
    try:
        with engine.begin() as new_connection:
            configure_and_run(new_connection)
    finally:
        engine.dispose()


run()
