"""The reconcile pass (the first one is the backfill): the whole list, then mark-and-sweep.

Resumable: each page's rows, events and the cursor of the next page are committed in one
transaction, so a killed walk continues where it stopped with nothing written twice. Pipelined:
the next page is fetched while the current page's details are, and a page is written while the
next one's details are fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy import Connection, and_, or_, select

from syncd.api import ConversationPage, Priority
from syncd.errors import ApiError, AuthError
from syncd.store import tables
from syncd.sync.attention import write_attention_items
from syncd.sync.context import SyncContext
from syncd.sync.conversations import Fetched, fetch_by_id, fetch_changed, write_fetched
from syncd.sync.result import PassResult
from syncd.sync.state import backfill_complete, read_state, record_success, scope_key, write_state
from syncd.sync.writer import Written

log = structlog.get_logger(__name__)

STREAM = "reconcile"
T = TypeVar("T")


async def prefetch(source: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield ``source``'s items while already fetching the next one."""
    pending: asyncio.Task[T] = asyncio.ensure_future(anext(source))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(source))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        elif not pending.cancelled():
            # A read-ahead that failed after the consumer stopped: its error is not ours to
            # raise (the walk already ended), but it must be retrieved, not logged as lost.
            pending.exception()


def _unlisted(conn: Connection, workspace_id: str | None, started: datetime) -> list[str]:
    """Live conversations neither listed nor observed since the walk started: maybe deleted."""
    c = tables.conversations
    query = select(c.c.id).where(
        and_(
            c.c.deleted_at.is_(None),
            or_(c.c.last_listed_at.is_(None), c.c.last_listed_at < started),
            c.c.synced_at < started,
        )
    )
    if workspace_id is not None:
        query = query.where(c.c.workspace_id == workspace_id)
    return list(conn.scalars(query))


async def reconcile_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """Walk the whole list (resuming an unfinished walk), then confirm and sweep deletions."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    state = await ctx.read(lambda conn: read_state(conn, scope, STREAM))
    backfill = not await ctx.read(lambda conn: backfill_complete(conn, scope))
    phase = (state.state or {}).get("phase")
    started = state.pass_started_at
    cursor = state.cursor
    if started is None or phase not in ("walk", "sweep"):
        started, cursor, phase = ctx.clock(), None, "walk"
        await ctx.write(
            lambda conn: write_state(
                conn, scope, STREAM, pass_started_at=started, cursor=None, state={"phase": "walk"}
            )
        )
    else:
        log.info("reconcile_resumed", scope=scope, phase=phase, backfill=backfill)
    if phase == "walk":
        try:
            await _walk(ctx, workspace_id, scope, started, cursor, backfill, result)
        except AuthError:
            raise
        except ApiError as exc:
            if cursor is None or exc.status != 400:
                raise
            # A stored cursor the server no longer accepts: walk again from the start.
            log.warning("reconcile_cursor_rejected", scope=scope, error=str(exc))
            started = ctx.clock()
            await _walk(ctx, workspace_id, scope, started, None, backfill, result)
    await _sweep(ctx, workspace_id, started, backfill, result)
    await _all_attention_items(ctx, workspace_id, backfill, result)
    now = ctx.clock()
    await ctx.write(
        lambda conn: record_success(
            conn,
            scope,
            STREAM,
            now,
            skipped=result.skipped,
            cursor=None,
            pass_started_at=None,
            watermark=started,
            state={"phase": "done"},
        )
    )
    return result


async def _walk(
    ctx: SyncContext,
    workspace_id: str | None,
    scope: str,
    started: datetime,
    cursor: str | None,
    backfill: bool,
    result: PassResult,
) -> None:
    pages = ctx.client.iter_conversation_pages(
        workspace_id=workspace_id, limit=100, start_cursor=cursor, priority=Priority.RECONCILE
    )
    writing: asyncio.Task[Written] | None = None

    def write_page(
        conn: Connection, fetched: Fetched, listed: list[str], nxt: str | None
    ) -> Written:
        def checkpoint(c: Connection) -> None:
            write_state(c, scope, STREAM, cursor=nxt, state={"phase": "walk" if nxt else "sweep"})

        return write_fetched(
            conn,
            fetched,
            backfill=backfill,
            listed_ids=listed,
            listed_at=started,
            checkpoint=checkpoint,
        )

    try:
        async with contextlib.aclosing(prefetch(pages)) as walk:
            async for page in walk:
                fetched, listed = await _fetch_page(ctx, page, workspace_id, result)
                if writing is not None:
                    result.events += (await writing).events
                writing = asyncio.ensure_future(
                    ctx.write(
                        lambda conn, f=fetched, ids=listed, nxt=page.next_cursor: write_page(  # type: ignore[misc]
                            conn, f, ids, nxt
                        )
                    )
                )
                ctx.on_progress(scope, result.rows_seen)
        if writing is not None:
            result.events += (await writing).events
            writing = None
    finally:
        if writing is not None:
            # Let a started commit finish: its page and checkpoint belong together.
            await asyncio.shield(writing)


async def _fetch_page(
    ctx: SyncContext, page: ConversationPage, workspace_id: str | None, result: PassResult
) -> tuple[Fetched, list[str]]:
    rows = [row for row in page.rows if workspace_id is None or row.workspace_id == workspace_id]
    listed = [row.id for row in rows] + [bad.id for bad in page.malformed if bad.id]
    result.rows_seen += len(rows)
    result.skipped += len(page.malformed)
    fetched = await fetch_changed(ctx, rows, priority=Priority.RECONCILE)
    result.details_fetched += fetched.details
    return fetched, listed


async def _all_attention_items(
    ctx: SyncContext, workspace_id: str | None, backfill: bool, result: PassResult
) -> None:
    """The whole attention list (every status): catches items no detail or open list showed."""
    listing = await ctx.client.list_attention_items(
        workspace_id=workspace_id, priority=Priority.RECONCILE
    )
    result.skipped += len(listing.malformed)
    items = [item.raw for item in listing.items]
    now = ctx.clock()
    written = await ctx.write(
        lambda conn: write_attention_items(conn, items, workspace_id, now, backfill=backfill)
    )
    result.events += written.events


async def _sweep(
    ctx: SyncContext,
    workspace_id: str | None,
    started: datetime,
    backfill: bool,
    result: PassResult,
) -> None:
    candidates = await ctx.read(lambda conn: _unlisted(conn, workspace_id, started))
    if not candidates:
        return
    log.info("reconcile_sweep", candidates=len(candidates))
    fetched = await fetch_by_id(ctx, candidates, priority=Priority.RECONCILE)
    written = await ctx.write(lambda conn: write_fetched(conn, fetched, backfill=backfill))
    result.events += written.events
    result.details_fetched += fetched.details
