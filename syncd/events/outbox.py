"""The ``events`` outbox: events are appended in the same transaction as the mirror change."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from syncd.events.envelope import ChangeEvent
from syncd.store.tables import events
from syncd.store.upsert import insert_values

_COLUMNS = ("id", "type", "workspace_id", "subject_id", "created_at", "backfill", "payload")


def append_events(conn: Connection, batch: Sequence[ChangeEvent]) -> int:
    """Insert ``batch`` into the outbox, in order; return how many were written."""
    if not batch:
        return 0
    return insert_values(
        conn,
        events,
        _COLUMNS,
        [
            (
                event.id,
                event.type,
                event.workspace_id,
                event.subject_id,
                event.observed_at,
                event.backfill,
                event.to_json(),
            )
            for event in batch
        ],
    )


def last_seq(conn: Connection) -> int:
    """The newest event's ``seq`` (0 for an empty outbox)."""
    return int(conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0)


def outbox_summary(conn: Connection) -> dict[str, int]:
    """How many events the outbox holds, and the newest one's ``seq``."""
    count, newest = conn.execute(select(func.count(), func.max(events.c.seq))).one()
    return {"events": int(count), "last_seq": int(newest or 0)}


def event_type_counts(conn: Connection) -> dict[str, int]:
    """Stored events per type, by type."""
    query = select(events.c.type, func.count()).group_by(events.c.type).order_by(events.c.type)
    return {str(kind): int(count) for kind, count in conn.execute(query)}
