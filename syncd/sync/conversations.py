"""Fetching conversations and writing what changed: shared by the hot and reconcile passes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from syncd.api import AttachmentList, ConversationDetail, ConversationRow, Priority
from syncd.clock import utc_now
from syncd.errors import ApiError, AuthError, NotFound
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.mirror import Mirror
from syncd.sync.observe import (
    fingerprint_row,
    plan_attachments,
    plan_attachments_failed,
    plan_conversation,
    plan_deletion,
)
from syncd.sync.pipeline import both, gather_all
from syncd.sync.privacy import CONVERSATION, Privacy, Suppressed
from syncd.sync.values import (
    ChangeSet,
    ConversationObservation,
    PlanOptions,
    RowMeta,
    StoredConversation,
    Written,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Gone:
    """The API answered 404 for this conversation."""

    conversation_id: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class AttachmentsSeen:
    """A re-read of the attachments of an otherwise unchanged conversation (``attachments``
    None: the read failed — the backoff moves on, so a failing endpoint is not asked on every
    pass)."""

    conversation_id: str
    attachments: list[dict[str, Any]] | None
    observed_at: datetime


Result = ConversationObservation | Gone | AttachmentsSeen


@dataclass(slots=True)
class Fetched:
    """What the network part of a batch found, ready to be written."""

    results: list[Result] = field(default_factory=list)
    details: int = 0
    suppressed: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """Listed conversations left out as suppressed: id → (workspace, status), for the counts."""

    def ids(self) -> list[str]:
        return [result.conversation_id for result in self.results]


def detail_payload(detail: ConversationDetail) -> dict[str, Any]:
    """The detail as received, with rows that failed validation left out of its collections."""
    payload = dict(detail.raw)
    for key, valid in (
        ("history", detail.history),
        ("attentionItems", detail.attention_items),
    ):
        if valid is None:
            payload.pop(key, None)
        else:
            payload[key] = [item.raw for item in valid]
    for key, obj in (("contact", detail.contact), ("account", detail.account)):
        if obj is None:
            payload.pop(key, None)
    if not isinstance(payload.get("contextEntries"), list):
        payload.pop("contextEntries", None)
    return payload


async def observe(
    ctx: SyncContext,
    conversation_id: str,
    stored: StoredConversation | None,
    *,
    list_row: dict[str, Any] | None,
    priority: Priority,
    with_attachments: bool = False,
) -> ConversationObservation | Gone:
    """Fetch one conversation's detail (+ messages when history is absent, + attachments).

    Attachments are read with the detail when ``with_attachments`` (refresh, repair), for a
    conversation not announced yet, or one whose attachments are settling; else only when the
    detail shows a new message. Its follow-up requests keep the conversation's place in the
    request queue, so a batch of conversations completes in the order it was started (see
    ``RequestBudget.keep_place``).
    """
    with ctx.client.budget.keep_place():
        client = ctx.client
        observed_at = ctx.clock()
        base = ConversationObservation(
            conversation_id=conversation_id,
            observed_at=observed_at,
            list_row=list_row,
            fingerprint=fingerprint_row(list_row) if list_row is not None else None,
        )
        # A new conversation, one never announced, or one whose attachments are still settling:
        # its attachments are read whatever the detail says, so both are requested together.
        attachments_anyway = (
            with_attachments or stored is None or not stored.announced or stored.attachments_pending
        )
        try:
            found: AttachmentList | None = None
            if attachments_anyway:
                detail, found = await both(
                    client.get_conversation(conversation_id, priority=priority),
                    _attachments_or_none(ctx, conversation_id, priority),
                )
            else:
                detail = await client.get_conversation(conversation_id, priority=priority)
            payload = detail_payload(detail)
            messages: list[dict[str, Any]]
            complete = False
            if "history" in payload:
                messages = payload["history"]
                complete = not any(bad.path.startswith("history") for bad in detail.malformed)
            else:
                messages = [
                    m.raw for m in await client.get_messages(conversation_id, priority=priority)
                ]
            if found is None:
                known = stored.message_ids if stored is not None else frozenset()
                if any(str(m["id"]) not in known for m in messages):
                    found = await _attachments_or_none(ctx, conversation_id, priority)
            attachments = [a.raw for a in found] if found is not None else None
        except NotFound:
            return Gone(conversation_id, observed_at)
        except AuthError:
            raise
        except ApiError as exc:
            log.warning("detail_fetch_failed", conversation_id=conversation_id, error=str(exc))
            return replace(base, detail_error=str(exc)[:500])
        return replace(
            base,
            detail=payload,
            messages=messages,
            history_complete=complete,
            attachments=attachments,
        )


async def _attachments_or_none(
    ctx: SyncContext, conversation_id: str, priority: Priority
) -> AttachmentList | None:
    """The attachment list; None (unknown: read again later) when that endpoint alone says
    404 — only the detail's 404 confirms that a conversation is gone."""
    try:
        return await ctx.client.get_attachments(conversation_id, priority=priority)
    except NotFound:
        log.warning("attachments_not_found", conversation_id=conversation_id)
        return None


async def fetch_changed(
    ctx: SyncContext, rows: Sequence[ConversationRow], *, priority: Priority, deep: bool = False
) -> Fetched:
    """For listed rows: fetch what is new or changed, and attachments due for another look;
    concurrently. ``deep``: every row's detail and attachments, whatever its list row says."""
    fetched = Fetched()
    if not rows:
        return fetched
    ids = [row.id for row in rows]

    def read(conn: Connection) -> tuple[dict[str, RowMeta], Suppressed]:
        mirror = Mirror(conn)
        return mirror.load_meta(ids), mirror.load_suppressed()

    meta, suppressed = await ctx.read(read)
    now = ctx.clock()
    detail_rows = []
    attachment_ids = []
    for row in rows:
        if suppressed and suppressed.covers_row(row.id, row.raw):
            # An erased contact's: counted as seen, never fetched, never written.
            fetched.suppressed[row.id] = (row.workspace_id, row.status)
            continue
        fingerprint = fingerprint_row(row.raw)
        if deep or plan.needs_detail(meta.get(row.id), fingerprint):
            detail_rows.append(row)
        elif plan.needs_attachments_only(meta.get(row.id), fingerprint, now):
            attachment_ids.append(row.id)
    if not detail_rows and not attachment_ids:
        return fetched
    stored = await ctx.read(lambda conn: Mirror(conn).load_stored([r.id for r in detail_rows]))

    tasks: list[Any] = [
        observe(
            ctx,
            row.id,
            stored.get(row.id),
            list_row=row.raw,
            priority=priority,
            with_attachments=deep,
        )
        for row in detail_rows
    ]
    tasks += [attachments_of(ctx, cid, priority) for cid in attachment_ids]
    for result in await gather_all(tasks):
        if result is not None:
            fetched.results.append(result)
    fetched.details = len(detail_rows)
    return fetched


async def attachments_of(
    ctx: SyncContext, conversation_id: str, priority: Priority
) -> Result | None:
    """Re-read one conversation's attachments (a failed read: ``attachments`` None)."""
    observed_at = ctx.clock()
    try:
        found = await ctx.client.get_attachments(conversation_id, priority=priority)
    except NotFound:
        # Not a confirmation that the conversation is gone (only its detail's 404 is): the
        # next hot pass or refresh reads the detail and learns which it is.
        log.warning("attachments_not_found", conversation_id=conversation_id)
        return AttachmentsSeen(conversation_id, None, observed_at)
    except AuthError:
        raise
    except ApiError as exc:
        log.warning("attachments_fetch_failed", conversation_id=conversation_id, error=str(exc))
        return AttachmentsSeen(conversation_id, None, observed_at)
    return AttachmentsSeen(conversation_id, [a.raw for a in found], observed_at)


async def fetch_attachments(ctx: SyncContext, ids: Iterable[str], *, priority: Priority) -> Fetched:
    """``attachments_of`` for several conversations, concurrently."""
    fetched = Fetched()
    results = await gather_all(attachments_of(ctx, cid, priority) for cid in sorted(ids))
    fetched.results.extend(result for result in results if result is not None)
    return fetched


async def observe_by_id(
    ctx: SyncContext,
    conversation_id: str,
    stored: StoredConversation | None,
    *,
    priority: Priority,
    with_attachments: bool = False,
    list_row_too: bool = True,
) -> ConversationObservation | Gone:
    """Look at a conversation no list showed: its contact's list row first, then the detail.

    The list row is read before the detail, so the detail is never older than the fingerprint
    stored with it. Without ``list_row_too`` (the refresh) only the detail is read, and the
    list-only fields keep their stored values — unless the detail shows a change that moves
    them too (see ``_list_fields_moved``): the conversation is then read again, list row
    first, so the change is told in one event, not in parts.
    """
    if not list_row_too:
        seen = await observe(
            ctx,
            conversation_id,
            stored,
            list_row=None,
            priority=priority,
            with_attachments=with_attachments,
        )
        privacy = Privacy.from_settings(ctx.settings.privacy)
        if stored is None or not _list_fields_moved(stored, seen, privacy):
            return seen
    list_row = None
    data = stored.data if stored is not None else {}
    contact_id = data.get("contactId")
    if isinstance(contact_id, str) and contact_id:
        try:
            async for page in ctx.client.iter_conversation_pages(
                contact_id=contact_id, workspace_id=data.get("workspaceId"), priority=priority
            ):
                match = next((row for row in page.rows if row.id == conversation_id), None)
                if match is not None:
                    list_row = match.raw
                    break
        except AuthError:
            raise
        except ApiError as exc:
            log.warning("contact_list_failed", conversation_id=conversation_id, error=str(exc))
    return await observe(
        ctx,
        conversation_id,
        stored,
        list_row=list_row,
        priority=priority,
        with_attachments=with_attachments,
    )


def _list_fields_moved(
    stored: StoredConversation, seen: ConversationObservation | Gone, privacy: Privacy
) -> bool:
    """Whether a detail read without its list row shows a change that moves list-only fields
    too: a new, edited or deleted message (``lastMessageAt``, ``lastMessagePreview``), another
    status, contact or account (``contactName``, ``contactEmail``, ``accountName``, ...).
    Compared as stored: with ``[privacy]`` applied, as the stored data has it."""
    if not isinstance(seen, ConversationObservation) or seen.detail is None:
        return False
    if any(
        key in seen.detail
        and privacy.conversation({key: seen.detail[key]}).get(key) != stored.data.get(key)
        for key in ("contact", "account", "status")
    ):
        return True
    live = {mid: old.raw for mid, old in stored.messages.items() if not old.deleted}
    messages = {str(m["id"]): privacy.message(m) for m in seen.messages or ()}
    if any(live.get(mid) != message for mid, message in messages.items()):
        return True
    return seen.history_complete and not live.keys() <= messages.keys()


async def fetch_by_id(
    ctx: SyncContext,
    ids: Iterable[str],
    *,
    priority: Priority,
    with_attachments: bool = False,
    list_rows_too: bool = True,
) -> Fetched:
    """``observe_by_id`` for several conversations, concurrently."""
    wanted = sorted(set(ids))
    fetched = Fetched()
    if not wanted:
        return fetched
    stored = await ctx.read(lambda conn: Mirror(conn).load_stored(wanted))
    results = await gather_all(
        observe_by_id(
            ctx,
            cid,
            stored.get(cid),
            priority=priority,
            with_attachments=with_attachments,
            list_row_too=list_rows_too,
        )
        for cid in wanted
    )
    fetched.results.extend(results)
    fetched.details = len(wanted)
    return fetched


def write_fetched(
    conn: Connection,
    fetched: Fetched,
    *,
    options: PlanOptions,
    listed_ids: Iterable[str] = (),
    listed_at: datetime | None = None,
    checkpoint: Callable[[Connection], None] | None = None,
) -> Written:
    """In the caller's (writing) transaction: diff against the mirror, write rows and events.

    What the suppression list covers is left out (written nowhere, told to no one); a
    conversation found to be an erased contact's for the first time joins the list itself.
    """
    mirror = Mirror(conn)
    suppressed = mirror.load_suppressed()
    if suppressed or fetched.suppressed:
        fetched = _without_suppressed(mirror, fetched, suppressed, options, listed_at)
    stored = mirror.load_stored(fetched.ids())
    item_ids = [
        str(item["id"])
        for result in fetched.results
        if isinstance(result, ConversationObservation) and result.detail is not None
        for item in result.detail.get("attentionItems") or ()
    ]
    attention_known = mirror.load_attention_items(item_ids)
    changes = ChangeSet()
    for result in fetched.results:
        before = stored.get(result.conversation_id)
        if before is not None and before.synced_at > result.observed_at:
            continue  # a newer observation was written meanwhile
        if isinstance(result, Gone):
            if before is not None:
                changes.merge(plan_deletion(before, result.observed_at))
        elif isinstance(result, AttachmentsSeen):
            if before is None:
                continue
            if result.attachments is None:
                changes.merge(plan_attachments_failed(before, result.observed_at, options))
            else:
                changes.merge(
                    plan_attachments(
                        before, result.attachments, result.observed_at, options=options
                    )
                )
        else:
            changes.merge(
                plan_conversation(
                    before,
                    result,
                    options=options,
                    listed_at=listed_at,
                    attention_known=attention_known,
                )
            )
    written = mirror.write_changes(changes)
    if listed_at is not None:
        mirror.mark_listed(listed_ids, listed_at)
    if checkpoint is not None:
        checkpoint(conn)
    return written


def _without_suppressed(
    mirror: Mirror,
    fetched: Fetched,
    suppressed: Suppressed,
    options: PlanOptions,
    listed_at: datetime | None,
) -> Fetched:
    """``fetched`` less what the suppression list covers; newly found ones are listed."""
    kept = Fetched(details=fetched.details)
    seen = dict(fetched.suppressed)
    found = {cid: seen[cid] for cid in seen if cid not in suppressed.conversation_ids}
    for result in fetched.results:
        cid = result.conversation_id
        if isinstance(result, ConversationObservation):
            objects = (result.list_row, result.detail)
            if suppressed.covers(cid, objects, options.privacy):
                data = {**(result.list_row or {}), **(result.detail or {})}
                status = (data.get("workspaceId"), data.get("status"))
                seen[cid] = status
                if cid not in suppressed.conversation_ids:
                    found[cid] = status
                continue
        elif cid in suppressed.conversation_ids:
            continue
        kept.results.append(result)
    if found:
        # Anything stored before the contact was known to be erased (an attention item the
        # attention pass saw first, say) goes now.
        mirror.erase_conversations(found)
        mirror.suppress(CONVERSATION, found, utc_now(), statuses=found)
        log.info("suppressed_conversations_found", count=len(found))
    mirror.note_statuses(seen, listed_at)
    return kept
