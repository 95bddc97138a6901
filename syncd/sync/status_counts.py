"""The status-counts pass: a snapshot, an event when it moved, and a drift check.

A drift (the API's count of a status differs from the mirror's) is only *suspected* here:
a conversation in flight (created just before the counts were read) makes one read drift.
The heal stream (syncd/sync/heal.py) confirms it after a hot pass that began later, and mends
what lasted.
"""

from __future__ import annotations

from sqlalchemy import Connection

from syncd.api import Priority
from syncd.sync import diff, plan
from syncd.sync.context import SyncContext
from syncd.sync.mirror import Mirror
from syncd.sync.result import PassResult
from syncd.sync.state import HEAL
from syncd.sync.values import Written

STREAM = "status_counts"


def mirror_counts(conn: Connection, workspace_id: str) -> dict[str, int]:
    """Live, announced conversations of a workspace per status, as the mirror holds them
    (with the suppressed ones the API still lists: they are left out on purpose)."""
    mirror = Mirror(conn)
    counts = mirror.live_status_counts(workspace_id)
    for status, count in mirror.suppressed_counts(workspace_id).items():
        counts[status] = counts.get(status, 0) + count
    return counts


def forget_mended(conn: Connection, workspace_id: str, drift: dict[str, int]) -> None:
    """A drift no heal could mend is forgotten once a read no longer shows it (a reconcile, or
    the server, mended it): the next drift of the same shape is healed again."""
    heal = Mirror(conn).read_state(workspace_id, HEAL).state or {}
    tried = heal.get("tried")
    if tried and not plan.lasting_drift(tried, drift):
        Mirror(conn).write_state(workspace_id, HEAL, state={**heal, "tried": None})


async def status_counts_pass(ctx: SyncContext, workspace_id: str) -> PassResult:
    """Snapshot the API's counts; note any drift from the mirror's own counts."""
    result = PassResult(STREAM, workspace_id)
    read_at = ctx.clock()  # before the request: the counts are at least this recent
    counts = (await ctx.client.get_status_counts(workspace_id, priority=Priority.HOT)).as_dict()

    def write(conn: Connection) -> Written:
        mirror = Mirror(conn)
        previous = mirror.latest_snapshot(workspace_id)
        facts = diff.Observed(workspace_id=workspace_id, observed_at=read_at, backfill=False)
        event = diff.status_counts_event(previous, counts, facts)
        written = mirror.write_status_counts(
            workspace_id, read_at, counts, [event] if event else []
        )
        result.drift = plan.count_drift(counts, mirror_counts(conn, workspace_id))
        state = {"drift": result.drift, "read_at": read_at.isoformat(), "checked": False}
        mirror.record_success(workspace_id, STREAM, read_at, state=state)
        forget_mended(conn, workspace_id, result.drift)
        return written

    written = await ctx.write(write)
    result.events = written.events
    result.rows_seen = len(counts)
    return result
