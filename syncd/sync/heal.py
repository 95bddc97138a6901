"""The heal stream: a status-count drift that outlived a hot pass is mended.

The status-counts pass only notes a drift. After the next hot pass that began after those
counts were read, the counts are read again: a drift that is gone, or that moved the other way,
was changes in flight (``transient``). One that lasted (``real``: a conversation created and
closed between two polls while the head read is inactive, a move between two terminal statuses)
is healed by walking the lists of the drifting statuses, and chasing the mirror's conversations
of those statuses that no list showed. What a walk could not mend asks for a reconcile of the
scope, once per distinct drift (``tried``): a drift nothing can mend (an API row that stays
malformed is counted but cannot be mirrored) is reported, not walked again on every pass; it is
forgotten as soon as a status-counts read no longer shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from syncd.api import Priority
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.hot import Walk
from syncd.sync.mirror import Mirror
from syncd.sync.pipeline import gather_all
from syncd.sync.result import PassResult
from syncd.sync.state import HEAL
from syncd.sync.status_counts import STREAM as COUNTS
from syncd.sync.status_counts import mirror_counts

log = structlog.get_logger(__name__)

STREAM = HEAL


@dataclass(frozen=True, slots=True)
class Suspected:
    """A drift a status-counts pass read, not checked yet: per status, API minus mirror."""

    drift: dict[str, int]
    read_at: str


def suspected_drift(state: dict[str, Any] | None, hot_started: datetime) -> Suspected | None:
    """The drift of a status-counts state read before ``hot_started`` and not checked yet."""
    state = state or {}
    drift = state.get("drift")
    read_at = state.get("read_at")
    if not isinstance(drift, dict) or not drift or state.get("checked"):
        return None
    if not isinstance(read_at, str) or datetime.fromisoformat(read_at) >= hot_started:
        return None
    return Suspected({str(s): int(d) for s, d in drift.items()}, read_at)


def _tally(state: dict[str, Any], kind: str) -> dict[str, Any]:
    counts = dict(state.get("counts") or {})
    counts[kind] = int(counts.get(kind, 0)) + 1
    return {**state, "counts": counts}


async def heal_pass(
    ctx: SyncContext, workspace_id: str, scope: str | None, suspected: Suspected
) -> PassResult:
    """Confirm a suspected drift of ``workspace_id`` and mend what lasted.

    ``scope`` is the pass scope the workspace belongs to (None: the whole key), for the
    reconcile the result may ask for (``result.heal``).
    """
    result = PassResult(STREAM, workspace_id)
    state = dict(
        (await ctx.read(lambda conn: Mirror(conn).read_state(workspace_id, STREAM))).state or {}
    )
    tried = state.get("tried")
    if tried and dict(tried) == suspected.drift:
        # The very drift a heal and a reconcile already could not mend: reported, not walked.
        result.drift = suspected.drift
        await ctx.write(lambda conn: _checked(conn, workspace_id, suspected.read_at))
        return result
    counts = (await ctx.client.get_status_counts(workspace_id, priority=Priority.HOT)).as_dict()
    again = await ctx.read(lambda conn: plan.count_drift(counts, mirror_counts(conn, workspace_id)))
    lasting = plan.lasting_drift(suspected.drift, again)
    if not lasting:
        result.heal_kind = "transient"
        state = {**_tally(state, "transient"), "tried": None}
    else:
        result.heal_kind = "real"
        state = _tally(state, "real")
        log.warning("status_count_drift", workspace=workspace_id, drift=lasting)
        statuses = sorted(lasting)
        before = await ctx.read(lambda conn: Mirror(conn).ids_with_status(workspace_id, statuses))
        options = await ctx.live_options(workspace_id if scope is not None else "*")
        # Repair work: its list pages queue behind the hot and attention passes'.
        walk = Walk(ctx, workspace_id, options, result, set(), Priority.RECONCILE)
        await gather_all(walk.status(status) for status in statuses)
        await walk.chase(before)
        after = await ctx.read(
            lambda conn: plan.count_drift(counts, mirror_counts(conn, workspace_id))
        )
        remaining = {status: delta for status, delta in after.items() if status in lasting}
        result.drift = remaining
        if remaining:
            result.heal = plan.should_heal(remaining, tried)
            state = {**state, "tried": remaining}
        else:
            state = {**state, "tried": None}
    now = ctx.clock()

    def finish(conn: Connection) -> None:
        Mirror(conn).record_success(workspace_id, STREAM, now, state={**state, "last": lasting})
        _checked(conn, workspace_id, suspected.read_at)

    await ctx.write(finish)
    return result


def _checked(conn: Connection, workspace_id: str, read_at: str) -> None:
    """The suspected drift read at ``read_at`` was looked at (a newer one stays to check)."""
    mirror = Mirror(conn)
    current = mirror.read_state(workspace_id, COUNTS).state or {}
    if current.get("read_at") == read_at:
        mirror.write_state(workspace_id, COUNTS, state={**current, "checked": True})
