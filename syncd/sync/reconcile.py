"""The reconcile pass (the first one is the backfill): the whole list, then mark-and-sweep.

Resumable: each page's rows, events and the cursor of the next page are committed in one
transaction, so a killed walk continues where it stopped with nothing written twice. Pipelined:
the next page is listed while the current page's details are fetched, the next page's details are
requested before the current page's last ones are answered, and a page is written while the
following pages' details are fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy import Connection

from syncd.api import ConversationPage, Priority
from syncd.errors import ApiError, AuthError
from syncd.sync.attention import write_attention_items
from syncd.sync.context import SyncContext
from syncd.sync.conversations import Fetched, fetch_by_id, fetch_changed, write_fetched
from syncd.sync.mirror import Mirror
from syncd.sync.offload import offload_for
from syncd.sync.pipeline import prefetch
from syncd.sync.result import PassResult
from syncd.sync.state import scope_key
from syncd.sync.values import PlanOptions, Written

log = structlog.get_logger(__name__)

STREAM = "reconcile"
PAGES_IN_FLIGHT = 2
"""Pages whose details are fetched at the same time during a walk."""
OFFLOAD_FROM_PAGE = 3
"""A walk writes its pages from this one on (counting from 0) in a worker process."""


async def reconcile_pass(
    ctx: SyncContext, workspace_id: str | None, *, deep: bool = False
) -> PassResult:
    """Walk the whole list (resuming an unfinished walk), then confirm and sweep deletions.

    ``deep`` (``syncd sync --deep``, a repair tool): every listed conversation's detail and
    attachments are read again, whatever its list row says.
    """
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    state = await ctx.read(lambda conn: Mirror(conn).read_state(scope, STREAM))
    backfill = not await ctx.read(lambda conn: Mirror(conn).backfill_complete(scope))
    if backfill:
        now = ctx.clock()  # the backfill began (if no other pass said so before)
        await ctx.write(lambda conn: Mirror(conn).backfill_since(scope, now))
    options = ctx.plan_options(backfill=backfill, rewrite=deep)
    phase = (state.state or {}).get("phase")
    started = state.pass_started_at
    cursor = state.cursor
    if started is None or phase not in ("walk", "sweep"):
        started, cursor, phase = ctx.clock(), None, "walk"
        await ctx.write(
            lambda conn: Mirror(conn).write_state(
                scope, STREAM, pass_started_at=started, cursor=None, state={"phase": "walk"}
            )
        )
    else:
        log.info("reconcile_resumed", scope=scope, phase=phase, backfill=backfill)
    if phase == "walk":
        try:
            await _walk(ctx, workspace_id, scope, started, cursor, options, deep, result)
        except AuthError:
            raise
        except ApiError as exc:
            if cursor is None or exc.status != 400:
                raise
            # A stored cursor the server no longer accepts: walk again from the start.
            log.warning("reconcile_cursor_rejected", scope=scope, error=str(exc))
            started = ctx.clock()
            await _walk(ctx, workspace_id, scope, started, None, options, deep, result)
    await _sweep(ctx, workspace_id, started, options, deep, result)
    await _all_attention_items(ctx, workspace_id, options, result)
    now = ctx.clock()
    await ctx.write(
        lambda conn: Mirror(conn).record_success(
            scope,
            STREAM,
            now,
            skipped=result.skipped,
            cursor=None,
            pass_started_at=None,
            state={"phase": "done", "walk_started_at": started.isoformat()},
        )
    )
    return result


async def _walk(
    ctx: SyncContext,
    workspace_id: str | None,
    scope: str,
    started: datetime,
    cursor: str | None,
    options: PlanOptions,
    deep: bool,
    result: PassResult,
) -> None:
    pages = ctx.client.iter_conversation_pages(
        workspace_id=workspace_id, limit=100, start_cursor=cursor, priority=Priority.RECONCILE
    )
    writing: asyncio.Task[Written] | None = None
    written_pages = 0
    # A long walk writes its pages in a worker process (see syncd/sync/offload.py); a short
    # one never pays for starting it.
    offload = offload_for(ctx.settings, ctx.engine)

    async def write(work: Callable[[Connection], Written]) -> Written:
        if offload is None or written_pages < OFFLOAD_FROM_PAGE:
            return await ctx.write(work)
        written = await offload.write(work)
        ctx.on_written(written)
        return written

    # Pages whose details are being fetched, oldest first. The next page's details are requested
    # while the oldest page's last few are still in flight, so the request budget never runs dry
    # at a page's tail; pages are still written one by one, in list order.
    fetching: deque[tuple[asyncio.Task[tuple[Fetched, list[str]]], str | None]] = deque()

    async def write_oldest() -> None:
        nonlocal writing, written_pages
        task, nxt = fetching[0]
        fetched, listed = await task
        fetching.popleft()
        if writing is not None:
            result.events += (await writing).events
        work = functools.partial(
            write_walked_page,
            fetched=fetched,
            listed=listed,
            listed_at=started,
            options=options,
            scope=scope,
            next_cursor=nxt,
        )
        writing = asyncio.ensure_future(write(work))
        written_pages += 1
        ctx.on_progress(scope, result.rows_seen)

    try:
        async with contextlib.aclosing(prefetch(pages)) as walk:
            async for page in walk:
                task = asyncio.ensure_future(_fetch_page(ctx, page, workspace_id, deep, result))
                fetching.append((task, page.next_cursor))
                if len(fetching) > PAGES_IN_FLIGHT - 1:
                    await write_oldest()
        while fetching:
            await write_oldest()
        if writing is not None:
            result.events += (await writing).events
            writing = None
    finally:
        # The walk failed or was cancelled: drop the pages not written (their requests are
        # cancelled; an error one of them met is not this walk's to raise any more).
        for task, _ in fetching:
            task.cancel()
        for task, _ in fetching:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            if writing is not None:
                # Let a started commit finish: its page and checkpoint belong together.
                await asyncio.shield(writing)
        finally:
            if offload is not None:
                await asyncio.shield(offload.close())
                ctx.offloaded_writes += offload.units
                ctx.offloaded_write_cpu_s += offload.cpu_s


def write_walked_page(
    conn: Connection,
    *,
    fetched: Fetched,
    listed: list[str],
    listed_at: datetime,
    options: PlanOptions,
    scope: str,
    next_cursor: str | None,
) -> Written:
    """One walked page in the caller's transaction: its changes, and the cursor of the next."""
    return write_fetched(
        conn,
        fetched,
        options=options,
        listed_ids=listed,
        listed_at=listed_at,
        checkpoint=functools.partial(_checkpoint, scope=scope, next_cursor=next_cursor),
    )


def _checkpoint(conn: Connection, *, scope: str, next_cursor: str | None) -> None:
    phase = "walk" if next_cursor else "sweep"
    Mirror(conn).write_state(scope, STREAM, cursor=next_cursor, state={"phase": phase})


async def _fetch_page(
    ctx: SyncContext,
    page: ConversationPage,
    workspace_id: str | None,
    deep: bool,
    result: PassResult,
) -> tuple[Fetched, list[str]]:
    rows = [row for row in page.rows if workspace_id is None or row.workspace_id == workspace_id]
    listed = [row.id for row in rows] + [bad.id for bad in page.malformed if bad.id]
    result.rows_seen += len(rows)
    result.skipped += len(page.malformed)
    fetched = await fetch_changed(ctx, rows, priority=Priority.RECONCILE, deep=deep)
    result.details_fetched += fetched.details
    return fetched, listed


async def _all_attention_items(
    ctx: SyncContext, workspace_id: str | None, options: PlanOptions, result: PassResult
) -> None:
    """The whole attention list (every status): catches items no detail or open list showed."""
    observed_at = ctx.clock()
    listing = await ctx.client.list_attention_items(
        workspace_id=workspace_id, priority=Priority.RECONCILE
    )
    result.skipped += len(listing.malformed)
    items = [item.raw for item in listing.items]
    written = await ctx.write(
        lambda conn: write_attention_items(conn, items, workspace_id, observed_at, options)
    )
    result.events += written.events


async def _sweep(
    ctx: SyncContext,
    workspace_id: str | None,
    started: datetime,
    options: PlanOptions,
    deep: bool,
    result: PassResult,
) -> None:
    await ctx.write(lambda conn: Mirror(conn).forget_unlisted(workspace_id, started))
    candidates = await ctx.read(lambda conn: Mirror(conn).unlisted(workspace_id, started))
    if not candidates:
        return
    log.info("reconcile_sweep", candidates=len(candidates))
    fetched = await fetch_by_id(ctx, candidates, priority=Priority.RECONCILE, with_attachments=deep)
    written = await ctx.write(lambda conn: write_fetched(conn, fetched, options=options))
    result.events += written.events
    result.details_fetched += fetched.details
