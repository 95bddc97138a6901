"""The refresh stream: what no list row shows, re-read for every recent conversation.

A list row does not move for an assignment, an outcome or summary change, context entries,
contact or account fields, or attachments. Every conversation that is non-terminal, or whose
last activity lies within ``sync.refresh_recent_days``, has its detail and attachments re-read
at least every ``sync.refresh_interval_s``: oldest refresh first, an even share per pass (no
burst), at the lowest priority. A detail read with its attachments for any other reason
counts as a refresh (``conversations.refreshed_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from syncd.api import Priority
from syncd.store import tables
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.conversations import fetch_by_id, write_fetched
from syncd.sync.result import PassResult
from syncd.sync.state import read_state, record_success, scope_key

STREAM = "refresh"


def recent(
    workspace_id: str | None, terminal: frozenset[str], now: datetime, recent_days: float
) -> ColumnElement[bool]:
    """The conversations the refresh stream keeps fresh (live, announced, recent)."""
    c = tables.conversations
    since = now - timedelta(days=recent_days)
    last_activity = func.coalesce(c.c.last_activity_at, c.c.last_message_at, c.c.updated_at)
    condition = and_(
        c.c.deleted_at.is_(None),
        c.c.fingerprint.is_not(None),
        or_(c.c.status.is_(None), c.c.status.not_in(sorted(terminal)), last_activity >= since),
    )
    if workspace_id is not None:
        condition = and_(condition, c.c.workspace_id == workspace_id)
    return condition


@dataclass(frozen=True, slots=True)
class RefreshAge:
    """How fresh the recent conversations are: how many, and the oldest refresh."""

    recent: int
    oldest: datetime | None
    never: int


def refresh_age(
    conn: Connection,
    workspace_id: str | None,
    terminal: frozenset[str],
    now: datetime,
    recent_days: float,
) -> RefreshAge:
    """The recent conversations' count, oldest refresh and those never refreshed."""
    c = tables.conversations
    never = func.sum(case((c.c.refreshed_at.is_(None), 1), else_=0))
    query = select(func.count(), func.min(c.c.refreshed_at), never).where(
        recent(workspace_id, terminal, now, recent_days)
    )
    count, oldest, unrefreshed = conn.execute(query).one()
    return RefreshAge(int(count or 0), oldest, int(unrefreshed or 0))


def _oldest(
    conn: Connection,
    workspace_id: str | None,
    terminal: frozenset[str],
    now: datetime,
    recent_days: float,
    limit: int,
) -> list[str]:
    c = tables.conversations
    query = (
        select(c.c.id)
        .where(recent(workspace_id, terminal, now, recent_days))
        .order_by(case((c.c.refreshed_at.is_(None), 0), else_=1), c.c.refreshed_at, c.c.id)
        .limit(limit)
    )
    return list(conn.scalars(query))


async def refresh_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """Re-read this pass's share of the recent conversations, oldest refresh first."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    sync = ctx.settings.sync
    terminal = ctx.terminal_statuses
    now = ctx.clock()
    state = await ctx.read(lambda conn: read_state(conn, scope, STREAM))
    age = await ctx.read(
        lambda conn: refresh_age(conn, workspace_id, terminal, now, sync.refresh_recent_days)
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
            lambda conn: _oldest(conn, workspace_id, terminal, now, sync.refresh_recent_days, take)
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
        lambda conn: record_success(
            conn, scope, STREAM, now, state={"credit": credit, "recent": age.recent}
        )
    )
    return result
