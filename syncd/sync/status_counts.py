"""The status-counts pass: a snapshot, an event when it moved, and a drift check.

A drift (the API's count of a status differs from the mirror's) is only *suspected* here:
a conversation in flight (created just before the counts were read) makes one read drift.
The heal stream (syncd/sync/heal.py) confirms it after a hot pass that began later, and mends
what lasted.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, and_, func, select

from syncd.api import Priority
from syncd.events.outbox import append_events
from syncd.store import tables
from syncd.store.upsert import upsert_rows
from syncd.sync import diff, plan
from syncd.sync.context import SyncContext
from syncd.sync.result import PassResult
from syncd.sync.state import HEAL, read_state, record_success, write_state
from syncd.sync.suppression import suppressed_counts
from syncd.sync.writer import Written

STREAM = "status_counts"


def latest_snapshot(conn: Connection, workspace_id: str) -> dict[str, int] | None:
    """The newest stored snapshot of a workspace, or None."""
    s = tables.status_count_snapshots
    taken = conn.scalar(select(func.max(s.c.taken_at)).where(s.c.workspace_id == workspace_id))
    if taken is None:
        return None
    query = select(s.c.status, s.c.count).where(
        and_(s.c.workspace_id == workspace_id, s.c.taken_at == taken)
    )
    return {str(status): int(count) for status, count in conn.execute(query)}


def mirror_counts(conn: Connection, workspace_id: str) -> dict[str, int]:
    """Live, announced conversations of a workspace per status, as the mirror holds them
    (with the suppressed ones the API still lists: they are left out on purpose)."""
    c = tables.conversations
    query = (
        select(c.c.status, func.count())
        .where(
            and_(
                c.c.workspace_id == workspace_id,
                c.c.deleted_at.is_(None),
                c.c.fingerprint.is_not(None),
            )
        )
        .group_by(c.c.status)
    )
    counts = {str(status): int(count) for status, count in conn.execute(query)}
    for status, count in suppressed_counts(conn, workspace_id).items():
        counts[status] = counts.get(status, 0) + count
    return counts


def forget_mended(conn: Connection, workspace_id: str, drift: dict[str, int]) -> None:
    """A drift no heal could mend is forgotten once a read no longer shows it (a reconcile, or
    the server, mended it): the next drift of the same shape is healed again."""
    heal = read_state(conn, workspace_id, HEAL).state or {}
    tried = heal.get("tried")
    if tried and not plan.lasting_drift(tried, drift):
        write_state(conn, workspace_id, HEAL, state={**heal, "tried": None})


async def status_counts_pass(ctx: SyncContext, workspace_id: str) -> PassResult:
    """Snapshot the API's counts; note any drift from the mirror's own counts."""
    result = PassResult(STREAM, workspace_id)
    read_at = ctx.clock()  # before the request: the counts are at least this recent
    counts = (await ctx.client.get_status_counts(workspace_id, priority=Priority.HOT)).as_dict()

    def write(conn: Connection) -> Written:
        previous = latest_snapshot(conn, workspace_id)
        facts = diff.Observed(workspace_id=workspace_id, observed_at=read_at, backfill=False)
        event = diff.status_counts_event(previous, counts, facts)
        rows = [
            {"workspace_id": workspace_id, "taken_at": read_at, "status": status, "count": count}
            for status, count in sorted(counts.items())
        ]
        written = upsert_rows(conn, tables.status_count_snapshots, rows, guard=None)
        result.drift = plan.count_drift(counts, mirror_counts(conn, workspace_id))
        state = {"drift": result.drift, "read_at": read_at.isoformat(), "checked": False}
        record_success(conn, workspace_id, STREAM, read_at, state=state)
        forget_mended(conn, workspace_id, result.drift)
        emitted = [event] if event else []
        return Written(
            rows={"status_count_snapshots": written},
            events=append_events(conn, emitted),
            event_types=Counter(e.type for e in emitted),
        )

    written = await ctx.write(write)
    result.events = written.events
    result.rows_seen = len(counts)
    return result
