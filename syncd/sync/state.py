"""``sync_state``: per scope (a workspace id, or ``*`` for the whole key) and stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from syncd.store import tables
from syncd.store.upsert import upsert_rows

WHOLE_KEY = "*"
STREAMS = ("hot", "attention", "reconcile", "status_counts", "refresh", "heal", "head")
HEAL = "heal"
BACKFILL = "backfill"
"""The ``sync_state`` row whose watermark says when the backfill of a scope began."""


def scope_key(workspace_id: str | None) -> str:
    """The ``sync_state.workspace_id`` of a scope: the workspace, or ``*`` for the whole key."""
    return workspace_id if workspace_id is not None else WHOLE_KEY


@dataclass(frozen=True, slots=True)
class StreamState:
    """One row of ``sync_state``."""

    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    watermark: datetime | None = None
    cursor: str | None = None
    pass_started_at: datetime | None = None
    skipped_rows: int = 0
    state: dict[str, Any] | None = None


def read_state(conn: Connection, scope: str, stream: str) -> StreamState:
    """The stored state, or an empty one."""
    s = tables.sync_state
    row = (
        conn.execute(select(s).where(s.c.workspace_id == scope, s.c.stream == stream))
        .mappings()
        .first()
    )
    if row is None:
        return StreamState()
    return StreamState(**{key: row[key] for key in StreamState.__dataclass_fields__ if key in row})


def write_state(conn: Connection, scope: str, stream: str, **values: Any) -> None:
    """Upsert the given columns of one ``sync_state`` row (others keep their value)."""
    upsert_rows(
        conn,
        tables.sync_state,
        [{"workspace_id": scope, "stream": stream, **values}],
        guard=None,
    )


def record_success(
    conn: Connection, scope: str, stream: str, now: datetime, *, skipped: int = 0, **values: Any
) -> None:
    """A pass finished: success time, error cleared, skipped rows of this pass."""
    write_state(
        conn,
        scope,
        stream,
        last_success_at=now,
        last_attempt_at=now,
        last_error=None,
        consecutive_failures=0,
        skipped_rows=skipped,
        **values,
    )


def record_failure(conn: Connection, scope: str, stream: str, now: datetime, error: str) -> None:
    """A pass failed: keep the error where ``syncd status`` shows it."""
    current = read_state(conn, scope, stream)
    write_state(
        conn,
        scope,
        stream,
        last_attempt_at=now,
        last_error=error[:2000],
        consecutive_failures=current.consecutive_failures + 1,
    )


def backfill_complete(conn: Connection, scope: str) -> bool:
    """Whether the first complete reconcile pass of this scope (or the whole key) finished."""
    s = tables.sync_state
    query = select(s.c.last_success_at).where(
        s.c.stream == "reconcile", s.c.workspace_id.in_([scope, WHOLE_KEY])
    )
    return any(value is not None for value in conn.scalars(query))


def backfill_since(conn: Connection, scope: str, now: datetime) -> datetime:
    """When the backfill of a scope began: the first time a pass asked while it was not
    complete (kept in the ``backfill`` row's watermark; call in a writing transaction)."""
    state = read_state(conn, scope, BACKFILL)
    if state.watermark is not None:
        return state.watermark
    whole = read_state(conn, WHOLE_KEY, BACKFILL).watermark
    if whole is not None:
        return whole
    write_state(conn, scope, BACKFILL, watermark=now)
    return now
