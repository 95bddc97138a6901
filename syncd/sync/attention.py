"""The attention pass: the open attention items, and what became of those that left the set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, and_, select

from syncd.api import Priority
from syncd.store import tables
from syncd.sync.context import SyncContext
from syncd.sync.observe import plan_attention_items
from syncd.sync.result import PassResult
from syncd.sync.state import backfill_complete, record_success, scope_key
from syncd.sync.writer import Written, apply_changes, load_attention_items

log = structlog.get_logger(__name__)

STREAM = "attention"
OPEN = "open"


def _open_in_mirror(conn: Connection, workspace_id: str | None) -> dict[str, str | None]:
    """Open items the mirror holds (id → conversation id), of live conversations only."""
    i, c = tables.attention_items, tables.conversations
    query = (
        select(i.c.id, i.c.conversation_id)
        .select_from(i.outerjoin(c, c.c.id == i.c.conversation_id))
        .where(and_(i.c.status == OPEN, c.c.deleted_at.is_(None)))
    )
    if workspace_id is not None:
        query = query.where(i.c.workspace_id == workspace_id)
    return {row.id: row.conversation_id for row in conn.execute(query)}


def _workspaces_of(conn: Connection, conversation_ids: set[str]) -> dict[str, str | None]:
    c = tables.conversations
    found: dict[str, str | None] = {}
    ids = sorted(conversation_ids)
    for start in range(0, len(ids), 500):
        query = select(c.c.id, c.c.workspace_id).where(c.c.id.in_(ids[start : start + 500]))
        found.update({row.id: row.workspace_id for row in conn.execute(query)})
    return found


async def attention_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """Read the open set; new and changed items are written; departed ones are re-read."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    listing = await ctx.client.list_attention_items(
        workspace_id=workspace_id, status=OPEN, priority=Priority.ATTENTION
    )
    result.skipped += len(listing.malformed)
    items = [item.raw for item in listing.items if item.status == OPEN]
    known_open = await ctx.read(lambda conn: _open_in_mirror(conn, workspace_id))
    departed = set(known_open) - {str(item["id"]) for item in items}
    # Re-read departed items by conversation, to learn their new status.
    for conversation_id in sorted(
        {cid for aid, cid in known_open.items() if aid in departed and cid}
    ):
        again = await ctx.client.list_attention_items(
            conversation_id=conversation_id, priority=Priority.ATTENTION
        )
        result.skipped += len(again.malformed)
        items.extend(
            item.raw
            for item in again.items
            if item.id in departed and item.conversation_id == conversation_id
        )
    result.rows_seen = len(items)
    backfill = not await ctx.read(lambda conn: backfill_complete(conn, scope))
    now = ctx.clock()

    def write(conn: Connection) -> Written:
        written = write_attention_items(conn, items, workspace_id, now, backfill=backfill)
        record_success(conn, scope, STREAM, now, skipped=result.skipped)
        return written

    written = await ctx.write(write)
    result.events = written.events
    missing = departed - {str(item["id"]) for item in items}
    if missing:
        log.warning("attention_items_unaccounted", scope=scope, count=len(missing))
    return result


def write_attention_items(
    conn: Connection,
    items: list[dict[str, Any]],
    workspace_id: str | None,
    now: datetime,
    *,
    backfill: bool,
) -> Written:
    """Write new and changed attention items with their events (owner workspace resolved)."""
    by_id = {str(item["id"]): item for item in items}
    known = load_attention_items(conn, by_id)
    workspaces = _workspaces_of(
        conn, {str(item.get("conversationId")) for item in items if item.get("conversationId")}
    )
    written = Written(rows={}, events=0)
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for item in by_id.values():
        owner = workspaces.get(str(item.get("conversationId")), workspace_id)
        if workspace_id is not None and owner not in (None, workspace_id):
            continue  # another workspace's item: the server ignored the filter
        groups.setdefault(owner if owner is not None else workspace_id, []).append(item)
    for owner, group in groups.items():
        changes = plan_attention_items(known, group, owner, now, backfill=backfill)
        written.add(apply_changes(conn, changes))
    return written
