"""Change detection and event choice: pure functions, table tests and properties."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from syncd.sync import diff
from syncd.sync.observe import (
    ConversationObservation,
    PlanOptions,
    StoredConversation,
    StoredObject,
    plan_conversation,
    plan_deletion,
)

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
FACTS = diff.Observed(workspace_id="ws_1", observed_at=NOW, backfill=False)
LIVE = PlanOptions()

BASE = {
    "id": "c1",
    "workspaceId": "ws_1",
    "status": "open",
    "lastMessageAt": "2026-03-15T14:00:00.000Z",
    "lastMessagePreview": "hello",
    "lastActivityAt": "2026-03-15T14:00:00.000Z",
    "updatedAt": "2026-03-15T14:00:00.000Z",
    "stateSummary": "s",
}


def changed(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def test_unseen_conversation_is_created_without_changes() -> None:
    event = diff.conversation_event(None, dict(BASE), FACTS, has_message_event=True)
    assert event is not None
    assert event.type == "conversation.created"
    assert "changes" not in event.envelope()


def test_resolved_conversation_emits_one_resolved_event_with_every_change() -> None:
    new = changed(status="resolved", updatedAt="2026-03-15T14:05:00.000Z", outcome="done")
    event = diff.conversation_event(BASE, new, FACTS, has_message_event=False)
    assert event is not None
    assert event.type == "conversation.resolved"
    assert event.changes == {
        "outcome": [None, "done"],
        "status": ["open", "resolved"],
        "updatedAt": ["2026-03-15T14:00:00.000Z", "2026-03-15T14:05:00.000Z"],
    }


def test_other_status_change_is_status_changed_even_with_a_message() -> None:
    new = changed(status="in_progress", lastMessagePreview="new")
    event = diff.conversation_event(BASE, new, FACTS, has_message_event=True)
    assert event is not None and event.type == "conversation.status_changed"


def test_new_message_alone_adds_no_conversation_event() -> None:
    new = changed(
        lastMessageAt="2026-03-15T14:10:00.000Z",
        lastMessagePreview="new",
        lastActivityAt="2026-03-15T14:10:00.000Z",
        updatedAt="2026-03-15T14:10:00.000Z",
    )
    assert diff.conversation_event(BASE, new, FACTS, has_message_event=True) is None
    without_message = diff.conversation_event(BASE, new, FACTS, has_message_event=False)
    assert without_message is not None and without_message.type == "conversation.updated"


def test_unchanged_conversation_emits_nothing() -> None:
    assert diff.conversation_event(BASE, dict(BASE), FACTS, has_message_event=False) is None


def test_field_that_disappears_is_a_change_to_none() -> None:
    new = {k: v for k, v in BASE.items() if k != "stateSummary"}
    event = diff.conversation_event(BASE, new, FACTS, has_message_event=False)
    assert event is not None and event.changes == {"stateSummary": ["s", None]}


def test_message_types() -> None:
    assert diff.message_type({"direction": "inbound", "speaker": None}) == "message.received"
    assert diff.message_type({"direction": "outbound"}) == "message.sent"
    assert diff.message_type({"direction": "inbound", "speaker": "caller"}) == "message.received"
    assert diff.message_type({"direction": "inbound", "speaker": "ai"}) == "message.sent"


def test_only_unknown_messages_get_events_and_carry_the_conversation_id() -> None:
    messages = [{"id": "m1", "direction": "inbound"}, {"id": "m2", "direction": "outbound"}]
    events = diff.message_events({"m1": messages[0]}, messages, "c1", FACTS)
    assert [(e.type, e.subject_id) for e in events] == [("message.sent", "m2")]
    assert events[0].data["conversationId"] == "c1"


def test_attention_item_resolution_and_update() -> None:
    old = {"id": "a1", "status": "open", "type": "escalation"}
    resolved = diff.attention_item_events({"a1": old}, [{**old, "status": "resolved"}], FACTS)
    assert [e.type for e in resolved] == ["attention_item.resolved"]
    acknowledged = diff.attention_item_events(
        {"a1": old}, [{**old, "status": "acknowledged"}], FACTS
    )
    assert [e.type for e in acknowledged] == ["attention_item.updated"]
    assert diff.attention_item_events({"a1": old}, [dict(old)], FACTS) == []
    created = diff.attention_item_events({}, [old], FACTS)
    assert [e.type for e in created] == ["attention_item.created"]


def test_status_counts_event_only_for_moved_counts() -> None:
    assert diff.status_counts_event(None, {"open": 1}, FACTS) is None
    assert diff.status_counts_event({"open": 1}, {"open": 1}, FACTS) is None
    event = diff.status_counts_event({"open": 1, "closed": 2}, {"open": 2, "new": 1}, FACTS)
    assert event is not None
    assert event.data == {"open": 2, "new": 1}
    assert event.changes == {"closed": [2, 0], "new": [0, 1], "open": [1, 2]}


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3))
keys = st.sampled_from(
    [
        "status",
        "lastMessageAt",
        "lastMessagePreview",
        "lastActivityAt",
        "updatedAt",
        "outcome",
        "stateSummary",
        "humanManaged",
        "newField",
    ]
)
conversations = st.dictionaries(keys, values).map(lambda d: {"id": "c1", **d})


@given(old=conversations, new=conversations, has_message=st.booleans())
def test_at_most_one_event_carrying_exactly_the_changed_fields(
    old: dict[str, Any], new: dict[str, Any], has_message: bool
) -> None:
    event = diff.conversation_event(old, new, FACTS, has_message_event=has_message)
    moved = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    if not moved:
        assert event is None
        return
    if has_message and moved <= diff.MESSAGE_BUMP_FIELDS:
        assert event is None
        return
    assert event is not None
    assert set(event.changes or {}) == moved
    for key, (before, after) in (event.changes or {}).items():
        assert before == old.get(key) and after == new.get(key)
    if "status" in moved:
        expected = (
            "conversation.resolved"
            if new.get("status") == "resolved"
            else "conversation.status_changed"
        )
    else:
        expected = "conversation.updated"
    assert event.type == expected
    # The envelope is JSON, and has changes exactly when the object existed before.
    envelope = json.loads(event.to_json())
    assert envelope["changes"] == event.changes
    assert envelope["id"].startswith("evt_")


def stored(**kwargs: Any) -> StoredConversation:
    defaults: dict[str, Any] = {
        "data": {**BASE, "contact": {"id": "p1", "firstName": "Ana"}},
        "fingerprint": "f",
        "deleted": False,
        "synced_at": NOW,
        "messages": {"m1": StoredObject({"id": "m1", "direction": "inbound"}, NOW)},
    }
    return StoredConversation(**{**defaults, **kwargs})


def observation(**detail: Any) -> ConversationObservation:
    return ConversationObservation(
        conversation_id="c1",
        observed_at=NOW,
        list_row={
            k: BASE[k]
            for k in ("id", "workspaceId", "status", "lastMessageAt", "lastMessagePreview")
        },
        fingerprint="f2",
        detail={
            k: BASE[k]
            for k in ("id", "workspaceId", "status", "lastActivityAt", "updatedAt", "stateSummary")
        }
        | detail,
        messages=[{"id": "m1", "direction": "inbound"}],
        attachments=[],
    )


def test_absent_contact_means_unknown_not_removed() -> None:
    changes = plan_conversation(stored(), observation(), options=LIVE)
    assert changes.events == []
    assert "contacts" not in changes.rows
    (row,) = changes.rows["conversations"]
    assert row["raw"]["contact"] == {"id": "p1", "firstName": "Ana"}


def test_absent_context_entries_are_kept_and_present_ones_replaced() -> None:
    assert plan_conversation(stored(), observation(), options=LIVE).replace_context == {}
    entries = [{"kind": "kb"}, {"kind": "policy"}]
    changes = plan_conversation(stored(), observation(contextEntries=entries), options=LIVE)
    assert [row["position"] for row in changes.replace_context["c1"]] == [0, 1]


def test_first_sighting_records_status_history_from_null() -> None:
    changes = plan_conversation(None, observation(), options=PlanOptions(backfill=True))
    (history,) = changes.rows["conversation_status_history"]
    assert history["from_status"] is None and history["to_status"] == "open"
    assert [e.type for e in changes.events] == ["conversation.created", "message.received"]
    assert all(e.backfill for e in changes.events)


def test_deletion_carries_the_last_known_object() -> None:
    changes = plan_deletion(stored(), NOW)
    (event,) = changes.events
    assert event.type == "conversation.deleted"
    assert event.data["contact"]["firstName"] == "Ana"
    assert "changes" not in event.envelope()
    assert plan_deletion(stored(deleted=True), NOW).events == []


def test_a_drift_is_healed_once_not_on_every_pass() -> None:
    from syncd.sync.plan import should_heal

    assert should_heal({"open": 1}, None)
    assert not should_heal({"open": 1}, {"open": 1})
    assert should_heal({"open": 2}, {"open": 1})
    assert not should_heal({}, {"open": 1})
