"""Opening the configured database for reading only: never created, never migrated.

``syncd status``, ``syncd events list`` and ``syncd db current`` run from any directory, often by
hand; creating and migrating a fresh empty database there would make them report "no sync has
run yet" about a daemon that runs fine elsewhere. So a SQLite file that does not exist, or a
database without syncd's schema, is an error naming ``database.url`` and the file.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from syncd.config import Settings, safe_database_url
from syncd.errors import ConfigError, StoreError
from syncd.store.engine import create_engine_for, missing_sqlite_file, sqlite_file
from syncd.store.migrate import current_revision, head_revision

_WHERE = (
    "point database.url at the daemon's database (`-c` with its config file, or "
    "SYNCD_DATABASE__URL); a relative SQLite path in a config file resolves against the "
    "file's directory, elsewhere against the working directory"
)


def database_label(settings: Settings) -> str:
    """The database a command uses, for people: the password masked, a SQLite path absolute."""
    url = settings.database.url.get_secret_value()
    parsed = make_url(url)
    path = sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None:
        return f"sqlite:///{path.resolve()}"
    return safe_database_url(url)


def require_existing(settings: Settings) -> None:
    """A ConfigError when ``database.url`` names a SQLite file that does not exist."""
    missing = missing_sqlite_file(settings.database.url.get_secret_value())
    if missing is not None:
        raise ConfigError(f"database.url: the database file {missing} does not exist; {_WHERE}")


def open_existing(settings: Settings) -> Engine:
    """An engine on the configured database, which must exist and be at syncd's schema head."""
    require_existing(settings)
    engine = create_engine_for(settings.database.url.get_secret_value())
    try:
        current = current_revision(engine)
        if current is None:
            raise ConfigError(
                f"database.url: {database_label(settings)} holds no syncd schema (never "
                f"migrated: not the daemon's database?); {_WHERE}"
            )
        head = head_revision()
        if current != head:
            raise StoreError(
                f"database {database_label(settings)} is at revision {current}, this syncd "
                f"reads {head}: run `syncd db upgrade` (or start the daemon, which migrates)"
            )
    except BaseException:
        engine.dispose()
        raise
    return engine
