"""The hot pass: every non-terminal status's list, the head of the unfiltered list, details
only for what changed, and unsettled attachments whose backoff ran out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from syncd.api import ConversationRow, Priority
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.conversations import (
    fetch_attachments,
    fetch_by_id,
    fetch_changed,
    write_fetched,
)
from syncd.sync.mirror import Mirror
from syncd.sync.pipeline import gather_all, prefetch
from syncd.sync.result import PassResult
from syncd.sync.state import scope_key
from syncd.sync.values import PlanOptions, attachments_due

STREAM = "hot"
HEAD = "head"
MAX_HEAD_PAGES = 20
"""A head read stops after this many pages whatever they hold (a reconcile covers the rest)."""


def due_attachment_ids(mirror: Mirror, workspace_id: str | None, now: datetime) -> set[str]:
    """Conversations whose unsettled attachments' backoff has run out."""
    return {
        conversation_id
        for conversation_id, check_at in mirror.unsettled_attachments(workspace_id)
        if attachments_due(True, check_at, now)
    }


@dataclass(slots=True)
class Walk:
    """One pass's list walks: what they saw, for the chase of rows no list showed."""

    ctx: SyncContext
    workspace_id: str | None
    options: PlanOptions
    result: PassResult
    seen: set[str]
    list_priority: Priority = Priority.HOT

    async def handle(self, rows: list[ConversationRow]) -> None:
        """Fetch and write what changed among listed rows (the walk's own filter applied)."""
        self.seen.update(row.id for row in rows)
        fetched = await fetch_changed(self.ctx, rows, priority=Priority.DETAIL)
        if fetched.results:
            written = await self.ctx.write(
                lambda conn: write_fetched(conn, fetched, options=self.options)
            )
            self.result.events += written.events
        self.result.details_fetched += fetched.details

    async def status(self, status: str) -> None:
        """Walk one status's list (``status=`` filter), each page read ahead."""
        ctx, workspace_id = self.ctx, self.workspace_id
        pages = ctx.client.iter_conversation_pages(
            workspace_id=workspace_id, status=status, limit=100, priority=self.list_priority
        )
        async with contextlib.aclosing(prefetch(pages)) as listed:
            async for page in listed:
                # Filtered again here: a server may ignore a filter.
                rows = [
                    row
                    for row in page.rows
                    if row.status == status
                    and (workspace_id is None or row.workspace_id == workspace_id)
                ]
                self.seen.update(bad.id for bad in page.malformed if bad.id)
                self.result.rows_seen += len(rows)
                self.result.skipped += len(page.malformed)
                await self.handle(rows)

    async def chase(self, ids: Iterable[str]) -> None:
        """Look up conversations no list showed (another status now, or deleted)."""
        wanted = set(ids) - self.seen
        if not wanted:
            return
        fetched = await fetch_by_id(self.ctx, wanted, priority=Priority.DETAIL)
        written = await self.ctx.write(
            lambda conn: write_fetched(conn, fetched, options=self.options)
        )
        self.seen.update(wanted)
        self.result.events += written.events
        self.result.details_fetched += fetched.details


@dataclass(frozen=True, slots=True)
class HeadOutcome:
    """The outcome of one head read: whether the list proved newest-first, and its new head."""

    active: bool
    watermark: datetime | None
    pages: int
    reason: str | None


async def read_head(walk: Walk, watermark: datetime | None, lookback_s: float) -> HeadOutcome:
    """Read the unfiltered list from the top while it is newest-first by ``lastMessageAt``,
    down to the first page entirely older than ``watermark - lookback_s``.

    Every page is checked like a sort assertion; a page that breaks the order ends the read
    (its rows are still handled) and makes the head read inactive until a later read finds
    the order again.
    """
    ctx, workspace_id = walk.ctx, walk.workspace_id
    pages = ctx.client.iter_conversation_pages(
        workspace_id=workspace_id, limit=100, priority=Priority.HOT
    )
    head: datetime | None = None
    previous: datetime | None = None
    count = 0
    async with contextlib.aclosing(pages) as listed:
        async for page in listed:
            count += 1
            stamps = [row.last_message_at for row in page.rows]
            ordered = plan.continues_newest_first(previous, stamps)
            rows = [
                row
                for row in page.rows
                if (workspace_id is None or row.workspace_id == workspace_id)
                and row.id not in walk.seen
            ]
            await walk.handle(rows)
            if not ordered:
                # The watermark stays: when the order comes back, the read resumes from it.
                reason = f"page {count} is not newest-first"
                return HeadOutcome(False, watermark, count, reason)
            known = [stamp for stamp in stamps if stamp is not None]
            if known:
                head = max(known) if head is None else max(head, *known)
                previous = known[-1]
            if plan.head_read_done(stamps, watermark, lookback_s) or count >= MAX_HEAD_PAGES:
                break
    return HeadOutcome(True, head if head is not None else watermark, count, None)


async def hot_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """List every non-terminal status and the list's head; fetch new and changed rows; chase
    rows that left the hot lists; re-read unsettled attachments that are due."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    statuses = plan.hot_statuses(
        await ctx.read(lambda conn: Mirror(conn).known_statuses(workspace_id)),
        ctx.terminal_statuses,
    )
    options = await ctx.live_options(scope)
    before = await ctx.read(lambda conn: Mirror(conn).ids_with_status(workspace_id, statuses))
    head_state = await ctx.read(lambda conn: Mirror(conn).read_state(scope, HEAD))
    walk = Walk(ctx, workspace_id, options, result, set())

    # The status lists are independent: walked side by side (the request budget still caps
    # what is in flight), each reading its next page while the current one is handled.
    await gather_all(walk.status(status) for status in statuses)
    head = await read_head(walk, head_state.watermark, ctx.settings.sync.lookback_s)
    # Hot last time, in no hot list now: learn where it went (another status, or deleted).
    # A failed detail is retried on the next pass whatever the status (the freshness contract), also
    # where no list shows the conversation (a resolved one, say).
    failed = await ctx.read(lambda conn: Mirror(conn).failed_detail_ids(workspace_id))
    await walk.chase(before | failed)
    # Unsettled attachments whose backoff ran out, in conversations no list re-read.
    now = ctx.clock()
    due = await ctx.read(lambda conn: due_attachment_ids(Mirror(conn), workspace_id, now))
    due -= walk.seen
    if due:
        fetched = await fetch_attachments(ctx, due, priority=Priority.DETAIL)
        written = await ctx.write(lambda conn: write_fetched(conn, fetched, options=options))
        result.events += written.events
    now = ctx.clock()

    def finish(conn: Connection) -> None:
        mirror = Mirror(conn)
        mirror.record_success(scope, STREAM, now, skipped=result.skipped)
        mirror.write_state(
            scope,
            HEAD,
            last_success_at=now,
            last_attempt_at=now,
            watermark=head.watermark,
            state={"active": head.active, "pages": head.pages, "reason": head.reason},
        )

    await ctx.write(finish)
    return result
