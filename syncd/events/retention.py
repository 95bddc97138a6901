"""Outbox retention: events older than ``events.retention_days`` go, once no sink needs them.

An event is pruned only when it is over age **and** every configured sink (enabled or disabled)
has moved past it **and** it is no configured sink's dead letter or queued replay: retention
never drops an event that was not delivered. Its ``deliveries`` rows go with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, delete, select

from syncd.events.ledger import DEAD, QUEUED, read_states
from syncd.events.outbox import last_seq
from syncd.store.tables import deliveries, events


def retention_cutoff(now: datetime, retention_days: float) -> datetime:
    """Events created before this are over age."""
    return now - timedelta(days=retention_days)


def prune_events(
    conn: Connection, sink_names: Sequence[str], retention_days: float, now: datetime
) -> int:
    """Delete over-age events every configured sink is done with; return how many."""
    condition = _prunable(conn, sink_names, retention_cutoff(now, retention_days))
    conn.execute(delete(deliveries).where(deliveries.c.event_seq.in_(select(events.c.seq).where(
        condition
    ))))  # fmt: skip
    return int(conn.execute(delete(events).where(condition)).rowcount or 0)


def _prunable(conn: Connection, sink_names: Sequence[str], cutoff: datetime) -> ColumnElement[bool]:
    states = read_states(conn)
    floor = min(
        (states[name].position if name in states else 0 for name in sink_names),
        default=last_seq(conn),
    )
    held = select(deliveries.c.event_seq).where(
        and_(deliveries.c.sink.in_(list(sink_names)), deliveries.c.outcome.in_([DEAD, QUEUED]))
    )
    return and_(
        events.c.seq <= floor,
        events.c.created_at < cutoff,
        events.c.seq.not_in(held),
    )
