"""One conversation observed → the rows to write and the events to emit. Pure.

The sync passes fetch (list row, detail, attachments) over the network, load what the mirror
holds for the same ids, then call ``plan_conversation`` and write its result in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from syncd.api.models import utc_datetime
from syncd.events.envelope import ChangeEvent
from syncd.store import tables
from syncd.sync import diff
from syncd.sync.privacy import Privacy
from syncd.sync.rows import mirror_row
from syncd.sync.values import (
    SETTLED_ATTACHMENT_STATUSES,
    AttachmentState,
    ChangeSet,
    ConversationObservation,
    PlanOptions,
    StoredConversation,
    StoredObject,
    attachments_pending,
)

__all__ = [  # the value types are re-exported for the planning's callers
    "ConversationObservation",
    "PlanOptions",
    "StoredConversation",
    "StoredObject",
    "attachment_state",
    "fingerprint_row",
    "plan_attachments",
    "plan_attachments_failed",
    "plan_attention_items",
    "plan_conversation",
    "plan_deletion",
    "unsettled_since",
]


def is_stale(stored: StoredObject | None, observed_at: datetime) -> bool:
    """The upsert guard's rule: an observation older than the stored row is not written."""
    return stored is not None and stored.synced_at > observed_at


def fresh_objects(
    known: Mapping[str, StoredObject], objects: Iterable[dict[str, Any]], observed_at: datetime
) -> list[dict[str, Any]]:
    """The objects the guarded write will accept (the others emit no event either)."""
    return [obj for obj in objects if not is_stale(known.get(str(obj["id"])), observed_at)]


def raw_of(known: Mapping[str, StoredObject]) -> dict[str, dict[str, Any]]:
    """Stored objects as last received, by id."""
    return {object_id: stored.raw for object_id, stored in known.items()}


def attachment_state(
    pending: bool,
    changed: bool,
    previous_backoff_s: float | None,
    observed_at: datetime,
    options: PlanOptions,
    *,
    unsettled_since: datetime | None = None,
) -> AttachmentState:
    """When to re-read unsettled attachments: exponential backoff, restarted by any change.

    A (re)start begins at the time the youngest unsettled attachment has already been waiting
    (``unsettled_since``: its ``createdAt``), bounded by ``recheck_min_s`` and
    ``recheck_max_s``: a fresh upload is looked at again after one poll interval, one stuck in
    ``processing`` for days only every ``recheck_max_s``.
    """
    if not pending:
        return AttachmentState(False, None, None)
    if previous_backoff_s is None or changed:
        waited = 0.0
        if unsettled_since is not None:
            waited = (observed_at - unsettled_since).total_seconds()
        backoff = min(max(waited, options.recheck_min_s), options.recheck_max_s)
    else:
        backoff = min(max(previous_backoff_s * 2, options.recheck_min_s), options.recheck_max_s)
    return AttachmentState(True, observed_at + timedelta(seconds=backoff), backoff)


def unsettled_since(attachments: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The ``createdAt`` of the youngest attachment not settled yet (None if unknown)."""
    moments = []
    for item in attachments:
        if str(item.get("status")) in SETTLED_ATTACHMENT_STATUSES:
            continue
        try:
            moment = utc_datetime(item.get("createdAt"))
        except (TypeError, ValueError):
            return None  # unknown age: start from the shortest step
        if moment is None:
            return None
        moments.append(moment)
    return max(moments) if moments else None


def fingerprint_row(row: Mapping[str, Any]) -> str:
    """A digest of a list row: any change in any field (known or new) changes it."""
    text = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def conversation_data(
    stored: StoredConversation | None, obs: ConversationObservation
) -> dict[str, Any]:
    """The conversation as the API shapes it: list row + detail, nested collections left out.

    A nested object the detail left out (its upstream fetch failed) keeps its last known value;
    without a list row, list-only fields keep their last known values.
    """
    assert obs.detail is not None
    previous = stored.data if stored is not None else {}
    detail_top = {k: v for k, v in obs.detail.items() if k not in diff.NESTED_COLLECTIONS}
    if obs.list_row is not None:
        data = {**obs.list_row, **detail_top}
    else:
        data = {**{k: v for k, v in previous.items() if k not in obs.detail}, **detail_top}
    for key in ("contact", "account"):
        if key not in obs.detail and key in previous:
            data[key] = previous[key]
    return data


def private_observation(obs: ConversationObservation, privacy: Privacy) -> ConversationObservation:
    """The observation with ``[privacy]`` applied to every object it carries."""
    if not privacy.active:
        return obs
    return replace(
        obs,
        list_row=privacy.conversation(obs.list_row) if obs.list_row is not None else None,
        detail=privacy.detail(obs.detail) if obs.detail is not None else None,
        messages=privacy.messages(obs.messages) if obs.messages is not None else None,
    )


def plan_conversation(
    stored: StoredConversation | None,
    obs: ConversationObservation,
    *,
    options: PlanOptions,
    listed_at: datetime | None = None,
    attention_known: Mapping[str, StoredObject] | None = None,
) -> ChangeSet:
    """Rows and events for one observation (the caller has checked it is not stale).

    ``attention_known``: stored attention items (by id) that the detail lists, wherever
    they came from. Objects whose stored row is newer than this observation are left alone
    (neither written nor told), exactly as the upsert guard would refuse them.
    """
    obs = private_observation(obs, options.privacy)
    changes = ChangeSet()
    if obs.detail is None:
        _plan_failed_detail(stored, obs, changes, listed_at)
        return changes

    data = conversation_data(stored, obs)
    conversation_id = obs.conversation_id
    workspace_id = data.get("workspaceId")
    at = obs.observed_at
    facts = options.facts(workspace_id, at)
    old = stored.data if stored is not None and stored.announced else None

    message_events = _plan_messages(stored, obs, facts, changes, options)
    conversation_event = diff.conversation_event(
        old, data, facts, has_message_event=bool(message_events)
    )
    if conversation_event is not None:
        changes.events.append(conversation_event)
    changes.events.extend(message_events)

    old_status = old.get("status") if old is not None else None
    if old is None or old_status != data.get("status"):
        changes.add(
            "conversation_status_history",
            {
                "conversation_id": conversation_id,
                "observed_at": at,
                "workspace_id": workspace_id,
                "from_status": old_status,
                "to_status": data.get("status") or "",
            },
        )

    if obs.attachments is not None:
        state = _plan_attachment_list(stored, conversation_id, obs.attachments, facts, options)
        changes.merge(state)
        attachments = changes.attachment_states.pop(conversation_id)
    elif stored is not None:
        attachments = AttachmentState(
            stored.attachments_pending, stored.attachments_check_at, stored.attachments_backoff_s
        )
    else:
        attachments = AttachmentState(False, None, None)

    items = obs.detail.get("attentionItems")
    if isinstance(items, list):
        # Known by id, not only through this conversation: the attention pass may have
        # stored an item before its conversation was first fetched.
        known_items = {**(stored.attention_items if stored else {}), **(attention_known or {})}
        changes.merge(_plan_items(known_items, items, workspace_id, facts, options.rewrite))

    for key, table in (("contact", tables.contacts), ("account", tables.accounts)):
        related = obs.detail.get(key)
        if isinstance(related, dict) and related.get("id") is not None:
            changes.add(table.name, mirror_row(table, related, at))
    entries = obs.detail.get("contextEntries")
    if isinstance(entries, list):
        changes.replace_context[conversation_id] = [
            {
                "conversation_id": conversation_id,
                "position": position,
                "raw": entry,
                "synced_at": at,
            }
            for position, entry in enumerate(entries)
        ]

    fingerprint = obs.fingerprint
    if fingerprint is None and stored is not None:
        fingerprint = stored.fingerprint
    # A detail read counts as a refresh when its attachments were read with it.
    refreshed = at if obs.attachments is not None else (stored.refreshed_at if stored else None)
    row = mirror_row(
        tables.conversations,
        data,
        at,
        deleted_at=None,
        # "" marks a conversation known only by id (never listed) as announced all the same
        fingerprint=fingerprint or "",
        detail_error=None,
        refreshed_at=refreshed,
        attachments_pending=attachments.pending,
        attachments_check_at=attachments.check_at,
        attachments_backoff_s=attachments.backoff_s,
    )
    if listed_at is not None:
        row["last_listed_at"] = listed_at
    changes.add("conversations", row)
    return changes


def _plan_messages(
    stored: StoredConversation | None,
    obs: ConversationObservation,
    facts: diff.Observed,
    changes: ChangeSet,
    options: PlanOptions,
) -> list[ChangeEvent]:
    """New, edited and deleted messages: their rows into ``changes``, their events returned."""
    conversation_id = obs.conversation_id
    at = obs.observed_at
    known = stored.messages if stored is not None else {}
    messages = fresh_objects(known, obs.messages or [], at)
    deleted: list[dict[str, Any]] = []
    if obs.history_complete:
        listed = {str(message["id"]) for message in obs.messages or ()}
        deleted = [
            old.raw
            for message_id, old in known.items()
            if message_id not in listed and not old.deleted and not is_stale(old, at)
        ]
    # A message stored as deleted that a history lists again is told as new again.
    live = {mid: old for mid, old in known.items() if not old.deleted}
    events = diff.message_events(raw_of(live), messages, conversation_id, facts, deleted=deleted)
    for message in messages:
        old = known.get(str(message["id"]))
        if options.rewrite or old is None or old.deleted or old.raw != message:
            row = mirror_row(tables.messages, message, at, conversation_id=conversation_id)
            row["deleted_at"] = None
            changes.add("messages", row)
    for message in deleted:
        row = mirror_row(tables.messages, message, at, conversation_id=conversation_id)
        row["deleted_at"] = at
        changes.add("messages", row)
    return events


def _plan_attachment_list(
    stored: StoredConversation | None,
    conversation_id: str,
    attachments: list[dict[str, Any]],
    facts: diff.Observed,
    options: PlanOptions,
) -> ChangeSet:
    """A conversation's whole attachment list: rows, events and its re-read schedule."""
    changes = ChangeSet()
    at = facts.observed_at
    known = stored.attachments if stored is not None else {}
    fresh = fresh_objects(known, attachments, at)
    events = diff.attachment_events(raw_of(known), fresh, conversation_id, facts)
    changes.events.extend(events)
    for attachment in fresh:
        old = known.get(str(attachment["id"]))
        if options.rewrite or old is None or old.raw != attachment:
            changes.add(
                "attachments",
                mirror_row(tables.attachments, attachment, at, conversation_id=conversation_id),
            )
    previous = stored.attachments_backoff_s if stored is not None else None
    changes.attachment_states[conversation_id] = attachment_state(
        attachments_pending(attachments),
        bool(events),
        previous,
        at,
        options,
        unsettled_since=unsettled_since(attachments),
    )
    return changes


def _plan_items(
    known: Mapping[str, StoredObject],
    items: Iterable[dict[str, Any]],
    workspace_id: str | None,
    facts: diff.Observed,
    rewrite: bool = False,
) -> ChangeSet:
    """Attention items as observed: rows and events for the new and changed ones."""
    changes = ChangeSet()
    at = facts.observed_at
    fresh = fresh_objects(known, items, at)
    changes.events.extend(diff.attention_item_events(raw_of(known), fresh, facts))
    for item in fresh:
        old = known.get(str(item["id"]))
        if rewrite or old is None or old.raw != item:
            changes.add(
                "attention_items",
                mirror_row(tables.attention_items, item, at, workspace_id=workspace_id),
            )
    return changes


def plan_attachments(
    stored: StoredConversation,
    attachments: list[dict[str, Any]],
    observed_at: datetime,
    *,
    options: PlanOptions,
) -> ChangeSet:
    """A re-read of a conversation's attachments alone (one was not settled yet, or refresh)."""
    facts = options.facts(stored.data.get("workspaceId"), observed_at)
    return _plan_attachment_list(stored, str(stored.data["id"]), attachments, facts, options)


def plan_attachments_failed(
    stored: StoredConversation, observed_at: datetime, options: PlanOptions
) -> ChangeSet:
    """A re-read of unsettled attachments failed: nothing is known, but the backoff moves on
    (the next try waits the next step, not one poll)."""
    changes = ChangeSet()
    if stored.attachments_pending:
        changes.attachment_states[str(stored.data["id"])] = attachment_state(
            True, False, stored.attachments_backoff_s, observed_at, options
        )
    return changes


def plan_deletion(stored: StoredConversation, observed_at: datetime) -> ChangeSet:
    """A conversation confirmed gone (404): ``deleted_at`` and ``conversation.deleted``."""
    changes = ChangeSet()
    if stored.deleted:
        return changes
    conversation_id = str(stored.data["id"])
    changes.deletions[conversation_id] = observed_at
    if stored.announced:
        facts = diff.Observed(
            workspace_id=stored.data.get("workspaceId"), observed_at=observed_at, backfill=False
        )
        changes.events.append(diff.conversation_deleted_event(stored.data, facts))
    return changes


def plan_attention_items(
    known: Mapping[str, StoredObject],
    items: Iterable[dict[str, Any]],
    workspace_id: str | None,
    observed_at: datetime,
    *,
    options: PlanOptions,
) -> ChangeSet:
    """Attention items read from the attention list at ``observed_at``: rows and events."""
    facts = options.facts(workspace_id, observed_at)
    private = options.privacy.attention_items(items)
    return _plan_items(known, private, workspace_id, facts, options.rewrite)


def _plan_failed_detail(
    stored: StoredConversation | None,
    obs: ConversationObservation,
    changes: ChangeSet,
    listed_at: datetime | None,
) -> None:
    """A detail fetch failed: remember it for a retry, announce nothing, keep the data."""
    error = obs.detail_error or "detail fetch failed"
    if stored is not None:
        changes.detail_errors[obs.conversation_id] = error
        return
    if obs.list_row is None:
        return
    # Never seen: keep the list row so the retry has it, unannounced (no fingerprint).
    changes.add(
        "conversations",
        mirror_row(
            tables.conversations,
            obs.list_row,
            obs.observed_at,
            deleted_at=None,
            fingerprint=None,
            detail_error=error,
            attachments_pending=False,
            last_listed_at=listed_at,
        ),
    )
