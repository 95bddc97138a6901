"""The table of streams: what runs, how often, and what follows what.

Used by ``syncd sync`` (syncd/sync/runner.py: every stream once, in this order) and by the
daemon (syncd/daemon/service.py: one scheduled job per stream and scope), so the two never
disagree about the order or the drift rule.

| stream        | pass             | every                    | then                          |
|---------------|------------------|--------------------------|-------------------------------|
| reconcile     | reconcile.py     | reconcile_interval_s     | (first one: the backfill)     |
| status_counts | status_counts.py | status_counts_interval_s | notes a drift (suspected)     |
| hot           | hot.py (+ head)  | poll_interval_s          | heal: a drift read before it  |
| heal          | heal.py          | (follows hot)            | reconcile: what a walk missed |
| refresh       | refresh.py       | poll_interval_s (0: off) |                               |
| attention     | attention.py     | attention_interval_s     |                               |
| purge         | purge.py         | daily (sync: every run)  |                               |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from syncd.config import SyncSettings
from syncd.sync.attention import attention_pass
from syncd.sync.context import SyncContext
from syncd.sync.heal import Suspected, heal_pass, suspected_drift
from syncd.sync.hot import hot_pass
from syncd.sync.mirror import Mirror
from syncd.sync.purge import INTERVAL_S as PURGE_INTERVAL_S
from syncd.sync.purge import purge_pass
from syncd.sync.reconcile import reconcile_pass
from syncd.sync.refresh import refresh_pass
from syncd.sync.result import PassResult
from syncd.sync.state import HEAL
from syncd.sync.status_counts import STREAM as STATUS_COUNTS
from syncd.sync.status_counts import status_counts_pass

PassFn = Callable[[SyncContext, str | None], Awaitable[PassResult]]


@dataclass(frozen=True, slots=True)
class Stream:
    """One scheduled stream: its pass, its interval (0 = off) and its unit.

    ``per_workspace``: the pass runs once per workspace (configured, or known to the mirror)
    rather than once per scope. ``jittered``: the daemon spreads its runs (up to a tenth of
    the interval) — not for the streams whose interval is a freshness bound.
    """

    name: str
    interval_s: Callable[[SyncSettings], float]
    run: PassFn | None = None
    per_workspace: bool = False
    jittered: bool = False


def _status_counts(ctx: SyncContext, workspace_id: str | None) -> Awaitable[PassResult]:
    assert workspace_id is not None
    return status_counts_pass(ctx, workspace_id)


STREAMS: tuple[Stream, ...] = (
    Stream("reconcile", lambda s: s.reconcile_interval_s, reconcile_pass, jittered=True),
    Stream(
        STATUS_COUNTS,
        lambda s: s.status_counts_interval_s,
        _status_counts,
        per_workspace=True,
        jittered=True,
    ),
    Stream("hot", lambda s: s.poll_interval_s, hot_pass),
    Stream(
        "refresh", lambda s: s.poll_interval_s if s.refresh_interval_s > 0 else 0.0, refresh_pass
    ),
    Stream("attention", lambda s: s.attention_interval_s, attention_pass),
    # [privacy] retention: cheap when there is nothing to purge, so always on
    Stream("purge", lambda s: PURGE_INTERVAL_S, purge_pass, jittered=True),
)
"""Every scheduled stream, in the order ``syncd sync`` runs them (heal follows hot)."""

BY_NAME = {stream.name: stream for stream in STREAMS}


def workspaces_of(conn: Connection, scope: str | None) -> list[str]:
    """The workspaces a scope covers: itself, or (the whole key) every known one."""
    return [scope] if scope is not None else Mirror(conn).known_workspaces()


def heals_due(conn: Connection, scope: str | None, hot_started: datetime) -> dict[str, Suspected]:
    """Per workspace of the scope: a drift read before ``hot_started`` and not checked yet.

    This is the rule "a drift that outlives a later hot pass is healed" (freshness contract): the
    hot pass that began after the counts were read has now run.
    """
    due: dict[str, Suspected] = {}
    for workspace in workspaces_of(conn, scope):
        suspected = suspected_drift(
            Mirror(conn).read_state(workspace, STATUS_COUNTS).state, hot_started
        )
        if suspected is not None:
            due[workspace] = suspected
    return due


RunPass = Callable[[str, str, Callable[[], Awaitable[PassResult]]], Awaitable[PassResult | None]]
"""How a runner runs one pass: ``run(stream, workspace, work)`` (None: it did not run)."""


async def heal_after_hot(
    ctx: SyncContext, scope: str | None, hot_started: datetime, run: RunPass
) -> bool:
    """The heals a hot pass that began at ``hot_started`` makes due, each run through ``run``;
    True when one of them asks for the scope's reconcile (what a walk could not mend)."""
    due = await ctx.read(lambda conn: heals_due(conn, scope, hot_started))
    reconcile = False
    for workspace, suspected in due.items():
        result = await run(
            HEAL,
            workspace,
            lambda w=workspace, s=suspected: heal_pass(ctx, w, scope, s),  # type: ignore[misc]
        )
        reconcile |= result is not None and result.heal
    return reconcile
