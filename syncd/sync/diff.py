"""What changed, and which events say so: pure functions over API-shaped (camelCase) objects.

Rules (docs/events.md): one event per object per observation, carrying every changed field in
``changes`` as ``[old, new]``, with the most specific type. A new message is told by its
``message.*`` event; a conversation whose only moved fields are the ones a new message moves gets
no ``conversation.updated`` when a message event for it is in the same observation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.api.models import utc_datetime
from syncd.events.envelope import ChangeEvent

# Conversation fields a new message moves by itself.
MESSAGE_BUMP_FIELDS = frozenset(
    {"lastMessageAt", "lastMessagePreview", "lastActivityAt", "updatedAt"}
)
# Detail fields that are collections mirrored in their own tables (and told by their own events).
NESTED_COLLECTIONS = ("history", "contextEntries", "attentionItems")
# Detail fields present only when the server's upstream fetch succeeded: absent means unknown.
OPTIONAL_NESTED = ("contact", "account", *NESTED_COLLECTIONS)

RESOLVED = "resolved"


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every top-level field whose value differs, as ``{field: [old, new]}`` (absent = None)."""
    changes: dict[str, list[Any]] = {}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before != after:
            changes[key] = [before, after]
    return changes


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """Common facts about one observation.

    ``backfill``: the first complete pass's own walk made it (everything it finds is backfill).
    ``backfill_before``: set while that first walk is still running, for the other passes: an
    object they find first counts as backfill only if it was created before the walk began
    (it is part of the account's past, not a live change).
    """

    workspace_id: str | None
    observed_at: datetime
    backfill: bool
    backfill_before: datetime | None = None

    def is_backfill(self, created: Any) -> bool:
        """Whether a newly seen object created at ``created`` (API text) is backfill."""
        if self.backfill:
            return True
        if self.backfill_before is None or not isinstance(created, str):
            return False
        try:
            moment = utc_datetime(created)
        except ValueError:
            return False
        return moment is not None and moment < self.backfill_before


def _event(
    kind: str,
    subject_id: str,
    data: dict[str, Any],
    facts: Observed,
    changes: dict[str, list[Any]] | None = None,
    *,
    backfill: bool = False,
) -> ChangeEvent:
    return ChangeEvent(
        type=kind,
        workspace_id=facts.workspace_id,
        subject_id=subject_id,
        data=data,
        observed_at=facts.observed_at,
        changes=changes,
        backfill=backfill,
    )


def conversation_event(
    old: Mapping[str, Any] | None,
    new: dict[str, Any],
    facts: Observed,
    *,
    has_message_event: bool,
) -> ChangeEvent | None:
    """The one event for a conversation's new state, or None when nothing worth telling moved.

    ``old`` is None for a conversation never seen before. ``backfill`` marks only creations.
    """
    subject = str(new["id"])
    if old is None:
        backfill = facts.is_backfill(new.get("createdAt"))
        return _event("conversation.created", subject, new, facts, backfill=backfill)
    changes = field_changes(old, new)
    if not changes:
        return None
    if "status" in changes:
        kind = (
            "conversation.resolved"
            if new.get("status") == RESOLVED
            else ("conversation.status_changed")
        )
        return _event(kind, subject, new, facts, changes)
    if has_message_event and changes.keys() <= MESSAGE_BUMP_FIELDS:
        return None
    return _event("conversation.updated", subject, new, facts, changes)


def conversation_deleted_event(last_known: dict[str, Any], facts: Observed) -> ChangeEvent:
    """``conversation.deleted``: the last known object, no ``changes``."""
    return _event("conversation.deleted", str(last_known["id"]), last_known, facts)


def message_type(message: Mapping[str, Any]) -> str:
    """``message.sent`` for outbound or AI-spoken (voice) messages, else ``message.received``."""
    if message.get("direction") == "outbound" or message.get("speaker") == "ai":
        return "message.sent"
    return "message.received"


def message_events(
    known: Mapping[str, Mapping[str, Any]],
    messages: Iterable[dict[str, Any]],
    conversation_id: str,
    facts: Observed,
    *,
    deleted: Iterable[Mapping[str, Any]] = (),
) -> list[ChangeEvent]:
    """Per message, in the order given (chronological): ``message.received``/``.sent`` when it
    is new, ``message.updated`` when a stored one changed (an edit); then ``message.deleted``
    for each of ``deleted`` (stored messages a complete history no longer lists).

    ``known`` maps id → the message as last stored (live ones). Data is the message as the API
    shapes it plus ``conversationId``.
    """
    extra = {"conversationId": conversation_id}
    events = []
    seen: set[str] = set()
    for message in messages:
        message_id = str(message["id"])
        if message_id in seen:
            continue
        seen.add(message_id)
        data = {**message, **extra}
        before = known.get(message_id)
        if before is None:
            backfill = facts.is_backfill(message.get("sentAt"))
            events.append(_event(message_type(message), message_id, data, facts, backfill=backfill))
            continue
        changes = field_changes({**before, **extra}, data)
        if changes:
            events.append(_event("message.updated", message_id, data, facts, changes))
    for gone in deleted:
        message_id = str(gone["id"])
        events.append(_event("message.deleted", message_id, {**gone, **extra}, facts))
    return events


def object_events(
    prefix: str,
    known: Mapping[str, Mapping[str, Any]],
    objects: Iterable[dict[str, Any]],
    facts: Observed,
    *,
    extra: Mapping[str, Any] | None = None,
    resolved_status: str | None = None,
) -> list[ChangeEvent]:
    """``<prefix>.created`` / ``.resolved`` / ``.updated`` for attachments and attention items.

    ``known`` maps id → the object as last stored. ``.resolved`` is used (when
    ``resolved_status`` is given) for a change whose new status is that status.
    """
    events = []
    for obj in objects:
        object_id = str(obj["id"])
        data = {**obj, **(extra or {})}
        before = known.get(object_id)
        if before is None:
            backfill = facts.is_backfill(obj.get("createdAt"))
            events.append(_event(f"{prefix}.created", object_id, data, facts, backfill=backfill))
            continue
        changes = field_changes({**before, **(extra or {})}, data)
        if not changes:
            continue
        kind = f"{prefix}.updated"
        if (
            resolved_status is not None
            and "status" in changes
            and obj.get("status") == (resolved_status)
        ):
            kind = f"{prefix}.resolved"
        events.append(_event(kind, object_id, data, facts, changes))
    return events


def attachment_events(
    known: Mapping[str, Mapping[str, Any]],
    attachments: Iterable[dict[str, Any]],
    conversation_id: str,
    facts: Observed,
) -> list[ChangeEvent]:
    """``attachment.created`` / ``attachment.updated``; data carries ``conversationId``."""
    return object_events(
        "attachment", known, attachments, facts, extra={"conversationId": conversation_id}
    )


def attention_item_events(
    known: Mapping[str, Mapping[str, Any]],
    items: Iterable[dict[str, Any]],
    facts: Observed,
) -> list[ChangeEvent]:
    """``attention_item.created`` / ``.resolved`` (status became resolved) / ``.updated``."""
    return object_events("attention_item", known, items, facts, resolved_status=RESOLVED)


def status_counts_event(
    previous: Mapping[str, int] | None, counts: dict[str, int], facts: Observed
) -> ChangeEvent | None:
    """``status_counts.changed`` when the counts differ from the last snapshot.

    The first snapshot of a workspace has nothing to differ from and emits nothing. A status
    missing from one side counts as 0.
    """
    if previous is None:
        return None
    changes = {
        status: [previous.get(status, 0), counts.get(status, 0)]
        for status in sorted(previous.keys() | counts.keys())
        if previous.get(status, 0) != counts.get(status, 0)
    }
    if not changes:
        return None
    subject = facts.workspace_id or "*"
    return _event("status_counts.changed", subject, dict(counts), facts, changes)
