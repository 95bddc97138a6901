"""The attention pass: the open and acknowledged items, and what became of those that left.

Each request's observation time is taken before the request is sent: a slow answer is older
than whatever another pass wrote meanwhile, and the write guard refuses it (no event either).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from syncd.api import Priority
from syncd.sync.context import SyncContext
from syncd.sync.mirror import Mirror
from syncd.sync.observe import plan_attention_items
from syncd.sync.result import PassResult
from syncd.sync.state import scope_key
from syncd.sync.values import PlanOptions, Written

log = structlog.get_logger(__name__)

STREAM = "attention"
WATCHED = ("open", "acknowledged")
"""The statuses the attention pass lists; an item in neither is closed (or gone)."""


@dataclass(frozen=True, slots=True)
class ItemsSeen:
    """Attention items one request returned, and when it was sent."""

    items: list[dict[str, Any]]
    observed_at: datetime


async def attention_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """List the watched statuses; write new and changed items; re-read the departed ones."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    batches: list[ItemsSeen] = []
    listed: set[str] = set()
    for status in WATCHED:
        observed_at = ctx.clock()
        listing = await ctx.client.list_attention_items(
            workspace_id=workspace_id, status=status, priority=Priority.ATTENTION
        )
        result.skipped += len(listing.malformed)
        # Filtered again here: a server may ignore the filter.
        items = [item.raw for item in listing.items if item.status == status]
        listed.update(str(item["id"]) for item in items)
        listed.update(bad.id for bad in listing.malformed if bad.id)
        batches.append(ItemsSeen(items, observed_at))
    known = await ctx.read(lambda conn: Mirror(conn).watched_attention_items(workspace_id, WATCHED))
    departed = set(known) - listed
    # Re-read departed items by conversation (with its workspace: a key restricted to one
    # workspace must send it) to learn their new status.
    by_conversation: dict[str, str | None] = {}
    for item_id in departed:
        conversation_id, owner = known[item_id]
        if conversation_id:
            by_conversation[conversation_id] = workspace_id or owner
    found: set[str] = set()
    for conversation_id, owner in sorted(by_conversation.items()):
        observed_at = ctx.clock()
        again = await ctx.client.list_attention_items(
            workspace_id=owner, conversation_id=conversation_id, priority=Priority.ATTENTION
        )
        result.skipped += len(again.malformed)
        items = [
            item.raw
            for item in again.items
            if item.id in departed and item.conversation_id == conversation_id
        ]
        found.update(str(item["id"]) for item in items)
        batches.append(ItemsSeen(items, observed_at))
    result.rows_seen = sum(len(batch.items) for batch in batches)
    options = await ctx.live_options(scope)
    now = ctx.clock()

    def write(conn: Connection) -> Written:
        written = Written(rows={}, events=0)
        for batch in batches:
            written.add(
                write_attention_items(conn, batch.items, workspace_id, batch.observed_at, options)
            )
        Mirror(conn).record_success(scope, STREAM, now, skipped=result.skipped)
        return written

    written = await ctx.write(write)
    result.events = written.events
    missing = departed - found
    if missing:
        log.warning("attention_items_unaccounted", scope=scope, count=len(missing))
    return result


def write_attention_items(
    conn: Connection,
    items: list[dict[str, Any]],
    workspace_id: str | None,
    observed_at: datetime,
    options: PlanOptions,
) -> Written:
    """Write new and changed attention items seen at ``observed_at``, with their events.

    The owner workspace is the item's conversation's; an item the stored row is newer than is
    neither written nor told (the upsert guard's rule, applied before the events are made).
    """
    mirror = Mirror(conn)
    by_id = {str(item["id"]): item for item in items}
    suppressed = mirror.load_suppressed().conversation_ids
    if suppressed:
        # An erased contact's conversation: its items are left out (written nowhere, not told).
        by_id = {k: v for k, v in by_id.items() if str(v.get("conversationId")) not in suppressed}
    if not by_id:
        return Written(rows={}, events=0)
    known = mirror.load_attention_items(by_id)
    workspaces = mirror.workspaces_of_conversations(
        {str(item.get("conversationId")) for item in items if item.get("conversationId")}
    )
    written = Written(rows={}, events=0)
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for item in by_id.values():
        owner = workspaces.get(str(item.get("conversationId")), workspace_id)
        if workspace_id is not None and owner not in (None, workspace_id):
            continue  # another workspace's item: the server ignored the filter
        groups.setdefault(owner if owner is not None else workspace_id, []).append(item)
    for owner, group in groups.items():
        changes = plan_attention_items(known, group, owner, observed_at, options=options)
        written.add(mirror.write_changes(changes))
    return written
