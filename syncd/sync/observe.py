"""One conversation observed → the rows to write and the events to emit. Pure.

The sync passes fetch (list row, detail, attachments) over the network, load what the mirror
holds for the same ids, then call ``plan_conversation`` and write its result in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncd.events.envelope import ChangeEvent
from syncd.store import tables
from syncd.sync import diff
from syncd.sync.rows import mirror_row

# Attachment statuses after which an attachment no longer changes by itself.
SETTLED_ATTACHMENT_STATUSES = frozenset({"ready", "failed", "rejected", "deleted", "error"})


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """What the mirror holds about one conversation."""

    data: dict[str, Any]
    fingerprint: str | None
    deleted: bool
    synced_at: datetime
    message_ids: frozenset[str] = frozenset()
    attachments: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    attention_items: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def attachments_pending(self) -> bool:
        """Whether one of its stored attachments is still settling."""
        return attachments_pending(self.attachments.values())

    @property
    def announced(self) -> bool:
        """Whether a complete observation (with its detail) was ever written and told."""
        return self.fingerprint is not None and not self.deleted


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationObservation:
    """What one look at a conversation found. Every object is API-shaped, already validated."""

    conversation_id: str
    observed_at: datetime
    list_row: dict[str, Any] | None = None
    fingerprint: str | None = None
    detail: dict[str, Any] | None = None
    detail_error: str | None = None
    messages: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class ChangeSet:
    """Rows per table, status-history rows and events, ready for one transaction."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    replace_context: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    detail_errors: dict[str, str] = field(default_factory=dict)
    deletions: dict[str, datetime] = field(default_factory=dict)
    pending_flags: dict[str, bool] = field(default_factory=dict)
    events: list[ChangeEvent] = field(default_factory=list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def merge(self, other: ChangeSet) -> None:
        for table, rows in other.rows.items():
            self.rows.setdefault(table, []).extend(rows)
        self.replace_context.update(other.replace_context)
        self.detail_errors.update(other.detail_errors)
        self.deletions.update(other.deletions)
        self.pending_flags.update(other.pending_flags)
        self.events.extend(other.events)


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


def plan_conversation(
    stored: StoredConversation | None,
    obs: ConversationObservation,
    *,
    backfill: bool,
    listed_at: datetime | None = None,
    attention_known: Mapping[str, dict[str, Any]] | None = None,
) -> ChangeSet:
    """Rows and events for one observation (the caller has checked it is not stale).

    ``attention_known``: stored attention items (by id) that the detail lists, wherever
    they came from.
    """
    changes = ChangeSet()
    if obs.detail is None:
        _plan_failed_detail(stored, obs, changes, listed_at)
        return changes

    data = conversation_data(stored, obs)
    conversation_id = obs.conversation_id
    workspace_id = data.get("workspaceId")
    facts = diff.Observed(workspace_id=workspace_id, observed_at=obs.observed_at, backfill=backfill)
    old = stored.data if stored is not None and stored.announced else None
    at = obs.observed_at

    messages = obs.messages or []
    message_events = diff.message_events(
        stored.message_ids if stored else (), messages, conversation_id, facts
    )
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

    pending = stored is not None and stored.attachments_pending
    if obs.attachments is not None:
        known = stored.attachments if stored else {}
        changes.events.extend(
            diff.attachment_events(known, obs.attachments, conversation_id, facts)
        )
        for attachment in obs.attachments:
            changes.add(
                "attachments",
                mirror_row(tables.attachments, attachment, at, conversation_id=conversation_id),
            )
        pending = attachments_pending(obs.attachments)

    items = obs.detail.get("attentionItems")
    if isinstance(items, list):
        # Known by id, not only through this conversation: the attention pass may have
        # stored an item before its conversation was first fetched.
        known_items = {**(stored.attention_items if stored else {}), **(attention_known or {})}
        changes.events.extend(diff.attention_item_events(known_items, items, facts))
        for item in items:
            if known_items.get(str(item["id"])) == item:
                continue
            changes.add(
                "attention_items",
                mirror_row(tables.attention_items, item, at, workspace_id=workspace_id),
            )

    for message in messages:
        changes.add(
            "messages",
            mirror_row(tables.messages, message, at, conversation_id=conversation_id),
        )
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
    row = mirror_row(
        tables.conversations,
        data,
        at,
        deleted_at=None,
        # "" marks a conversation known only by id (never listed) as announced all the same
        fingerprint=fingerprint or "",
        detail_error=None,
        attachments_pending=pending,
    )
    if listed_at is not None:
        row["last_listed_at"] = listed_at
    changes.add("conversations", row)
    return changes


def plan_attachments(
    stored: StoredConversation,
    attachments: list[dict[str, Any]],
    observed_at: datetime,
    *,
    backfill: bool,
) -> ChangeSet:
    """A re-read of a conversation's attachments alone (one was not ready yet)."""
    changes = ChangeSet()
    conversation_id = str(stored.data["id"])
    facts = diff.Observed(
        workspace_id=stored.data.get("workspaceId"), observed_at=observed_at, backfill=backfill
    )
    changes.events.extend(
        diff.attachment_events(stored.attachments, attachments, conversation_id, facts)
    )
    for attachment in attachments:
        changes.add(
            "attachments",
            mirror_row(
                tables.attachments, attachment, observed_at, conversation_id=conversation_id
            ),
        )
    changes.pending_flags[conversation_id] = attachments_pending(attachments)
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
    known: Mapping[str, dict[str, Any]],
    items: Iterable[dict[str, Any]],
    workspace_id: str | None,
    observed_at: datetime,
    *,
    backfill: bool,
) -> ChangeSet:
    """Attention items read from the attention list: rows and events."""
    changes = ChangeSet()
    items = list(items)
    facts = diff.Observed(workspace_id=workspace_id, observed_at=observed_at, backfill=backfill)
    changes.events.extend(diff.attention_item_events(known, items, facts))
    for item in items:
        if known.get(str(item["id"])) != item:
            changes.add(
                "attention_items",
                mirror_row(tables.attention_items, item, observed_at, workspace_id=workspace_id),
            )
    return changes


def attachments_pending(attachments: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any attachment is still settling (not in a final status)."""
    return any(str(item.get("status")) not in SETTLED_ATTACHMENT_STATUSES for item in attachments)


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
