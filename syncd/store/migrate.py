"""Schema migrations: Alembic, configured in code, with its scripts inside the package.

``upgrade`` runs every pending migration in one transaction. On PostgreSQL that transaction
first takes an advisory lock, so two processes upgrading at once run one after the other (the
second finds nothing left to do); on SQLite ``BEGIN IMMEDIATE`` serialises them the same way.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Final

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from syncd.config import Settings
from syncd.errors import StoreError
from syncd.store.engine import DEFERRED, create_engine_for
from syncd.store.failures import engine_label, store_error

log = structlog.get_logger(__name__)

MIGRATIONS_DIR: Final = Path(str(importlib.resources.files("syncd.migrations")))
"""The Alembic script directory (env.py, script.py.mako, versions/): the repository's top-level
``migrations/``, installed as the package ``syncd.migrations``."""

ADVISORY_LOCK_KEY: Final = 0x73796E6364_4D4947  # "syncd" "MIG": one key for every syncd
"""PostgreSQL advisory lock held (per transaction) while migrating."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for syncd's migrations; ``url`` only for hand-run Alembic commands."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this version of syncd knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it was never migrated."""
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(**DEFERRED)
            with connection.begin():
                return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise store_error("cannot read the schema revision", engine, exc) from exc


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: head); return the revision reached."""
    config = alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            before = MigrationContext.configure(connection).get_current_revision()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise store_error("migration failed", engine, exc) from exc
    except CommandError as exc:  # e.g. the database is at a revision this syncd does not know
        raise StoreError(
            f"cannot migrate {engine_label(engine)}: {exc} (was it migrated by a newer syncd?)"
        ) from exc
    if after is None:
        raise StoreError(f"migration to {revision} left {engine_label(engine)} without a revision")
    if after != before:
        log.info("schema_upgraded", from_revision=before, to_revision=after)
    return after


def ensure_schema(settings: Settings, engine: Engine | None = None) -> str:
    """Make sure the schema is at head: upgrade when ``database.auto_migrate``, else check.

    Raises StoreError naming ``syncd db upgrade`` when auto-migration is off and the database
    is behind. Returns the revision the database is at.
    """
    own_engine = engine is None
    engine = engine or create_engine_for(settings.database.url.get_secret_value())
    try:
        if settings.database.auto_migrate:
            revision = upgrade(engine)
        else:
            current, revision = current_revision(engine), head_revision()
            if current != revision:
                raise StoreError(
                    f"database {engine_label(engine)} is at revision {current or 'none'}, this "
                    f"syncd needs {revision}: run `syncd db upgrade` (or set "
                    "database.auto_migrate = true)"
                )
        _register_sinks(settings, engine)
        log.info("database_ready", database=engine_label(engine), revision=revision)
        return revision
    finally:
        if own_engine:
            engine.dispose()


def _register_sinks(settings: Settings, engine: Engine) -> None:
    """Give each configured sink the database has not seen its start position, before any pass
    can write an event: ``start = "latest"`` must mean the end of the outbox as it was when the
    sink was added, not after the first sync that follows (docs/events.md)."""
    if not settings.sinks:
        return
    # Imported here: syncd.events imports syncd.store (engine, tables) at module level.
    from syncd.events.ledger import ensure_states

    latest = [sink.name for sink in settings.sinks if sink.start == "latest"]
    try:
        with engine.begin() as conn:
            ensure_states(conn, [sink.name for sink in settings.sinks], at_latest=latest)
    except SQLAlchemyError as exc:
        raise store_error("cannot register the sinks", engine, exc) from exc


def known_revisions() -> set[str]:
    """Every revision this version of syncd knows."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}
