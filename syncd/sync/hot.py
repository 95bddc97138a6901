"""The hot pass: every non-terminal status's list, details only for what changed."""

from __future__ import annotations

import contextlib

from sqlalchemy import Connection, and_, select

from syncd.api import Priority
from syncd.store import tables
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.conversations import (
    fetch_attachments,
    fetch_by_id,
    fetch_changed,
    write_fetched,
)
from syncd.sync.pipeline import gather_all, prefetch
from syncd.sync.result import PassResult
from syncd.sync.state import backfill_complete, record_success, scope_key

STREAM = "hot"


def _known_statuses(conn: Connection, workspace_id: str | None) -> list[str | None]:
    c = tables.conversations
    query = select(c.c.status).distinct().where(c.c.deleted_at.is_(None))
    snapshots = select(tables.status_count_snapshots.c.status).distinct()
    if workspace_id is not None:
        query = query.where(c.c.workspace_id == workspace_id)
        snapshots = snapshots.where(tables.status_count_snapshots.c.workspace_id == workspace_id)
    return [*conn.scalars(query), *conn.scalars(snapshots)]


def _pending_attachment_ids(conn: Connection, workspace_id: str | None) -> set[str]:
    c = tables.conversations
    query = select(c.c.id).where(and_(c.c.deleted_at.is_(None), c.c.attachments_pending.is_(True)))
    if workspace_id is not None:
        query = query.where(c.c.workspace_id == workspace_id)
    return set(conn.scalars(query))


def _failed_detail_ids(conn: Connection, workspace_id: str | None) -> set[str]:
    c = tables.conversations
    query = select(c.c.id).where(and_(c.c.deleted_at.is_(None), c.c.detail_error.is_not(None)))
    if workspace_id is not None:
        query = query.where(c.c.workspace_id == workspace_id)
    return set(conn.scalars(query))


def _hot_ids(conn: Connection, workspace_id: str | None, statuses: list[str]) -> set[str]:
    c = tables.conversations
    query = select(c.c.id).where(
        and_(c.c.deleted_at.is_(None), c.c.fingerprint.is_not(None), c.c.status.in_(statuses))
    )
    if workspace_id is not None:
        query = query.where(c.c.workspace_id == workspace_id)
    return set(conn.scalars(query))


async def hot_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """List every non-terminal status; fetch new and changed rows; chase rows that left."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    statuses = plan.hot_statuses(
        await ctx.read(lambda conn: _known_statuses(conn, workspace_id)),
        ctx.terminal_statuses,
    )
    backfill = not await ctx.read(lambda conn: backfill_complete(conn, scope))
    before = await ctx.read(lambda conn: _hot_ids(conn, workspace_id, statuses))
    seen: set[str] = set()

    async def walk(status: str) -> None:
        pages = ctx.client.iter_conversation_pages(
            workspace_id=workspace_id, status=status, limit=100, priority=Priority.HOT
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
                seen.update(row.id for row in rows)
                seen.update(bad.id for bad in page.malformed if bad.id)
                result.rows_seen += len(rows)
                result.skipped += len(page.malformed)
                fetched = await fetch_changed(ctx, rows, priority=Priority.DETAIL)
                if fetched.results:
                    written = await ctx.write(
                        lambda conn, f=fetched: write_fetched(conn, f, backfill=backfill)  # type: ignore[misc]
                    )
                    result.events += written.events
                result.details_fetched += fetched.details

    # The status lists are independent: walked side by side (the request budget still caps
    # what is in flight), each reading its next page while the current one is handled.
    await gather_all(walk(status) for status in statuses)
    # Hot last time, in no hot list now: learn where it went (another status, or deleted).
    left = before - seen
    # A failed detail is retried on the next pass whatever the status (DESIGN.md §6), also
    # where no hot list shows the conversation (a resolved one, say).
    left |= await ctx.read(lambda conn: _failed_detail_ids(conn, workspace_id)) - seen
    if left:
        fetched = await fetch_by_id(ctx, left, priority=Priority.DETAIL)
        written = await ctx.write(lambda conn: write_fetched(conn, fetched, backfill=backfill))
        result.events += written.events
        result.details_fetched += fetched.details
    # Attachments still settling in conversations no hot list showed (resolved ones, say).
    pending = await ctx.read(lambda conn: _pending_attachment_ids(conn, workspace_id))
    pending -= seen | left
    if pending:
        fetched = await fetch_attachments(ctx, pending, priority=Priority.DETAIL)
        written = await ctx.write(lambda conn: write_fetched(conn, fetched, backfill=backfill))
        result.events += written.events
    now = ctx.clock()
    await ctx.write(lambda conn: record_success(conn, scope, STREAM, now, skipped=result.skipped))
    return result
