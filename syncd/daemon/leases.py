"""Who runs a scope's passes when several ``syncd run`` share a database.

PostgreSQL: a session-level advisory lock per scope, held on one dedicated connection for as
long as this process owns the scope. When the owner dies its session ends, PostgreSQL releases
the locks, and the other process takes the scope over at its next pass tick (within one
interval). SQLite: one daemon per database file, enforced with an exclusive ``flock`` on a
lock file beside it; a second ``syncd run`` refuses to start with a clear message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import IO

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from syncd.errors import StoreError, first_line
from syncd.store.engine import sqlite_file

log = structlog.get_logger(__name__)


def lease_key(scope: str) -> int:
    """A stable signed 64-bit advisory-lock key for a scope."""
    digest = hashlib.blake2b(f"syncd-scope:{scope}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leases:
    """Scope ownership: always granted on SQLite (one daemon per file), locks on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    def start(self) -> None:
        """SQLite: take the database's daemon lock, or raise StoreError saying who has it."""
        if self._postgres:
            return
        path = sqlite_file(self._engine.url)
        if path is None:  # in-memory database: nothing to share
            return
        lock_path = Path(f"{path}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().decode(errors="replace").strip() or "unknown"
            handle.close()
            raise StoreError(
                f"another syncd run (pid {holder}) already serves the SQLite database {path}; "
                "SQLite takes one daemon at a time: stop the other one, or use PostgreSQL "
                "to run two instances"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._file = handle

    def owns(self, scope: str) -> bool:
        """Whether this process may run the scope's passes now (taking it over if free)."""
        if not self._postgres:
            return True
        with self._lock:
            try:
                conn = self._connection()
                if scope in self._held:
                    conn.execute(text("SELECT 1"))
                    return True
                key = lease_key(scope)
                taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                if taken:
                    self._held.add(scope)
                    log.info("scope_lease_taken", scope=scope)
                return bool(taken)
            except SQLAlchemyError as exc:
                # The session is gone, and with it every lock it held: start afresh next time.
                log.warning("scope_lease_lost", error=first_line(exc))
                self._drop()
                return False

    def held(self) -> set[str]:
        """Scopes this process owns."""
        return set(self._held) if self._postgres else {"*"}

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect()
            # Autocommit: no transaction stays open around the session-level locks.
            self._conn = self._conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Release everything (the locks go with the session)."""
        with self._lock:
            # Invalidated, not returned to the pool: a pooled session would keep the locks.
            self._drop()
        if self._file is not None:
            self._file.close()
            self._file = None
