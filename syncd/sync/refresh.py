"""The refresh stream: what no list row shows, re-read for every recent conversation.

A list row does not move for an assignment, an outcome or summary change, context entries,
contact or account fields, or attachments. Every conversation that is non-terminal, or whose
last activity lies within ``sync.refresh_recent_days``, has its detail and attachments re-read
at least every ``sync.refresh_interval_s``: oldest refresh first, an even share per pass (no
burst), at the lowest priority. A detail read with its attachments for any other reason
counts as a refresh (``conversations.refreshed_at``).
"""

from __future__ import annotations

from syncd.api import Priority
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.conversations import fetch_by_id, write_fetched
from syncd.sync.mirror import Mirror
from syncd.sync.result import PassResult
from syncd.sync.state import scope_key

STREAM = "refresh"


async def refresh_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """Re-read this pass's share of the recent conversations, oldest refresh first."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    sync = ctx.settings.sync
    terminal = ctx.terminal_statuses
    now = ctx.clock()
    state = await ctx.read(lambda conn: Mirror(conn).read_state(scope, STREAM))
    age = await ctx.read(
        lambda conn: Mirror(conn).refresh_age(workspace_id, terminal, now, sync.refresh_recent_days)
    )
    last = state.last_success_at
    elapsed = (now - last).total_seconds() if last is not None else 0.0
    if ctx.scheduled:
        # A pass that ran late (starved behind a backfill at the lowest priority) does not
        # make the next one catch up in a burst: at most two passes' share at once; the
        # oldest-first order brings the stragglers back within the interval.
        elapsed = min(elapsed, 2 * sync.poll_interval_s)
    credit = float((state.state or {}).get("credit", 0.0))
    take, credit = plan.refresh_share(age.recent, elapsed, sync.refresh_interval_s, credit)
    ids: list[str] = []
    if take:
        ids = await ctx.read(
            lambda conn: Mirror(conn).oldest_refreshed(
                workspace_id, terminal, now, sync.refresh_recent_days, take
            )
        )
    if ids:
        options = await ctx.live_options(scope)
        fetched = await fetch_by_id(
            ctx, ids, priority=Priority.REFRESH, with_attachments=True, list_rows_too=False
        )
        written = await ctx.write(lambda conn: write_fetched(conn, fetched, options=options))
        result.events += written.events
        result.details_fetched += fetched.details
        result.rows_seen = len(ids)
    # The pass's start counts as its time: the next share covers exactly the time between.
    await ctx.write(
        lambda conn: Mirror(conn).record_success(
            scope, STREAM, now, state={"credit": credit, "recent": age.recent}
        )
    )
    return result
