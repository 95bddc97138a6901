"""The ``events`` outbox: events are appended in the same transaction as the mirror change."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from syncd.events.envelope import ChangeEvent
from syncd.store.tables import events


def append_events(conn: Connection, batch: Sequence[ChangeEvent]) -> int:
    """Insert ``batch`` into the outbox, in order; return how many were written."""
    if not batch:
        return 0
    conn.execute(
        events.insert(),
        [
            {
                "id": event.id,
                "type": event.type,
                "workspace_id": event.workspace_id,
                "subject_id": event.subject_id,
                "created_at": event.observed_at,
                "backfill": event.backfill,
                "payload": event.to_json(),
            }
            for event in batch
        ],
    )
    return len(batch)


def last_seq(conn: Connection) -> int:
    """The newest event's ``seq`` (0 for an empty outbox)."""
    return int(conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0)
