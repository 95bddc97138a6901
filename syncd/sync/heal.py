"""The heal stream: a status-count drift that outlived a hot pass is mended.

The status-counts pass only notes a drift. After the next hot pass that began after those
counts were read, the counts are read again: a drift that is gone, or that moved the other way,
was changes in flight (``transient``). One that lasted (``real``: a conversation created and
closed between two polls while the head read is inactive, a move between two terminal statuses)
is healed by walking the lists of the drifting statuses, and chasing the mirror's conversations
of those statuses that no list showed. What a walk could not mend asks for a reconcile of the
scope, once per distinct drift: a drift no walk can mend (an API row that stays malformed is
counted but cannot be mirrored) is reported, not walked again on every pass.
"""

from __future__ import annotations

from typing import Any

import structlog

from syncd.api import Priority
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.hot import Walk, ids_with_status
from syncd.sync.pipeline import gather_all
from syncd.sync.result import PassResult
from syncd.sync.state import read_state, record_success, write_state
from syncd.sync.status_counts import STREAM as COUNTS
from syncd.sync.status_counts import mirror_counts

log = structlog.get_logger(__name__)

STREAM = "heal"


def _tally(state: dict[str, Any], kind: str) -> dict[str, Any]:
    counts = dict(state.get("counts") or {})
    counts[kind] = int(counts.get(kind, 0)) + 1
    return {**state, "counts": counts}


async def heal_pass(
    ctx: SyncContext, workspace_id: str, scope: str | None, suspected: dict[str, int]
) -> PassResult:
    """Confirm a suspected drift of ``workspace_id`` and mend what lasted.

    ``scope`` is the pass scope the workspace belongs to (None: the whole key), for the
    reconcile the result may ask for (``result.heal``).
    """
    result = PassResult(STREAM, workspace_id)
    state = dict((await ctx.read(lambda conn: read_state(conn, workspace_id, STREAM))).state or {})
    tried = state.get("tried")
    if tried and dict(tried) == suspected:
        # The very drift a heal already could not mend: reported, not walked again.
        result.drift = suspected
        await ctx.write(lambda conn: _checked(conn, workspace_id))
        return result
    counts = (await ctx.client.get_status_counts(workspace_id, priority=Priority.HOT)).as_dict()
    again = await ctx.read(lambda conn: plan.count_drift(counts, mirror_counts(conn, workspace_id)))
    lasting = plan.lasting_drift(suspected, again)
    if not lasting:
        result.heal_kind = "transient"
        state = _tally(state, "transient")
    else:
        result.heal_kind = "real"
        state = _tally(state, "real")
        log.warning("status_count_drift", workspace=workspace_id, drift=lasting)
        statuses = sorted(lasting)
        before = await ctx.read(lambda conn: ids_with_status(conn, workspace_id, statuses))
        options = await ctx.live_options(workspace_id if scope is not None else "*")
        walk = Walk(ctx, workspace_id, options, result, set())
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

    def finish(conn: Any) -> None:
        record_success(conn, workspace_id, STREAM, now, state={**state, "last": lasting})
        _checked(conn, workspace_id)

    await ctx.write(finish)
    return result


def _checked(conn: Any, workspace_id: str) -> None:
    """The suspected drift of the last status-counts pass was looked at."""
    current = read_state(conn, workspace_id, COUNTS).state or {}
    write_state(conn, workspace_id, COUNTS, state={**current, "checked": True})
