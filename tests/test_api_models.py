"""Parsing the documented JSON samples into models, leniently and row by row."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.api import ConversationDetail, ConversationRow, Message
from syncd.api.parsing import (
    parse_attachments,
    parse_attention_items,
    parse_conversation_detail,
    parse_conversation_page,
    parse_messages,
    parse_status_counts,
)
from syncd.errors import MalformedResponse

# The samples of reference/ohallo-conversations-api.txt, verbatim.
LIST_SAMPLE: dict[str, Any] = {
    "data": [
        {
            "id": "c9f8e7d6-b5a4-3210-fedc-ba9876543210",
            "workspaceId": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "channelId": "d4e5f6a7-b8c9-0123-4567-890abcdef012",
            "contactId": "f7e8d9c0-b1a2-3456-7890-abcdef123456",
            "status": "open",
            "lastMessagePreview": (
                "Hi, I placed order NP-2026-0142 last week. Can you tell me when..."
            ),
            "lastMessageAt": "2026-03-15T14:30:00.000Z",
            "contactName": "Henrik Larsen",
            "contactEmail": "henrik@nordic-parts.dk",
            "accountName": "Nordic Parts ApS",
        }
    ],
    "nextCursor": "eyJsYXN0SWQiOiJjOWY4ZTdkNi1iNWE0LTMyMTAtZmVkYy1iYTk4NzY1NDMyMTAifQ==",
}
MESSAGES_SAMPLE: list[dict[str, Any]] = [
    {
        "id": "11111111-2222-3333-4444-555555555555",
        "direction": "inbound",
        "speaker": None,
        "body": (
            "Hi, I placed order NP-2026-0142 last week. Can you tell me when it will be delivered?"
        ),
        "sentAt": "2026-03-15T09:12:01.000Z",
        "channel": "email",
        "fromAddress": "henrik@nordic-parts.dk",
        "subject": "Question about order #NP-2026-0142",
    },
    {
        "id": "66666666-7777-8888-9999-aaaaaaaaaaaa",
        "direction": "outbound",
        "speaker": None,
        "body": "Hello Henrik,\n\nThank you for reaching out...",
        "sentAt": "2026-03-15T09:12:45.000Z",
        "channel": "email",
    },
]
ATTACHMENTS_SAMPLE: list[dict[str, Any]] = [
    {
        "id": "aaaabbbb-cccc-dddd-eeee-ffffffffffff",
        "messageId": "11111111-2222-3333-4444-555555555555",
        "fileName": "purchase-order.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 245780,
        "status": "ready",
        "createdAt": "2026-03-15T09:12:01.000Z",
    }
]
ATTENTION_SAMPLE: list[dict[str, Any]] = [
    {
        "id": "11112222-3333-4444-5555-666677778888",
        "tenantId": "10000000-0000-4000-8000-000000000001",
        "conversationId": "c9f8e7d6-b5a4-3210-fedc-ba9876543210",
        "type": "mcp_failure",
        "status": "open",
        "context": {"toolName": "get_order", "error": "Connection timeout after 30s"},
        "createdAt": "2026-03-15T14:30:00.000Z",
        "resolvedAt": None,
        "turnId": "98765432-1234-5678-90ab-cdef12345678",
        "assignedToUserId": None,
    }
]
DETAIL_SAMPLE: dict[str, Any] = {
    "id": "c9f8e7d6-b5a4-3210-fedc-ba9876543210",
    "tenantId": "10000000-0000-4000-8000-000000000001",
    "workspaceId": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "channelId": "d4e5f6a7-b8c9-0123-4567-890abcdef012",
    "channelType": "email",
    "contactId": "f7e8d9c0-b1a2-3456-7890-abcdef123456",
    "accountId": "33445566-7788-99aa-bbcc-ddeeff001122",
    "status": "in_progress",
    "stateSummary": "Customer inquired about delivery date for order NP-2026-0142...",
    "outcome": None,
    "humanManagingUserId": None,
    "lastActivityAt": "2026-03-15T14:35:00.000Z",
    "createdAt": "2026-03-15T09:12:00.000Z",
    "updatedAt": "2026-03-15T14:35:00.000Z",
    "contact": {
        "id": "f7e8d9c0-...",
        "firstName": "Henrik",
        "lastName": "Larsen",
        "email": "henrik@nordic-parts.dk",
    },
    "account": {"id": "33445566-...", "name": "Nordic Parts ApS"},
    "history": MESSAGES_SAMPLE,
    "contextEntries": [{"kind": "kb", "entryId": "kb-1"}],
    "attentionItems": ATTENTION_SAMPLE,
}
STATUS_COUNTS_SAMPLE = {
    "open": 12,
    "in_progress": 8,
    "awaiting_contact": 23,
    "resolved": 156,
    "closed": 4,
    "abandoned": 2,
}


def test_a_documented_list_page_parses_with_its_optional_fields() -> None:
    page = parse_conversation_page(LIST_SAMPLE, None)
    (row,) = page.rows
    assert row.id == "c9f8e7d6-b5a4-3210-fedc-ba9876543210"
    assert row.status == "open"
    assert row.contact_name == "Henrik Larsen"
    assert row.last_message_at == datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
    assert row.human_managed is None
    assert row.form_type is None
    assert page.next_cursor == LIST_SAMPLE["nextCursor"]
    assert page.malformed == ()
    assert row.raw == LIST_SAMPLE["data"][0]


@pytest.mark.parametrize("ending", [{}, {"nextCursor": None}, {"nextCursor": ""}])
def test_an_absent_or_null_next_cursor_means_last_page(ending: dict[str, Any]) -> None:
    assert parse_conversation_page({"data": [], **ending}).next_cursor is None


def test_unknown_fields_and_unknown_statuses_are_kept() -> None:
    raw = {"id": "c1", "status": "snoozed", "priorityScore": 7, "tags": ["vip"]}
    row = ConversationRow.from_raw(raw)
    assert row.status == "snoozed"
    assert row.model_extra == {"priorityScore": 7, "tags": ["vip"]}
    assert row.raw == raw
    assert row.model_dump(by_alias=True, exclude_none=True) == raw


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-03-15T14:30:00.000Z",
        "2026-03-15T14:30:00Z",
        "2026-03-15T15:30:00+01:00",
        "2026-03-15T14:30:00.000+00:00",
        "2026-03-15T14:30:00",
    ],
)
def test_timestamps_become_aware_utc_with_or_without_milliseconds(stamp: str) -> None:
    row = ConversationRow.model_validate({"id": "c1", "lastMessageAt": stamp})
    assert row.last_message_at == datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
    assert row.last_message_at is not None
    assert row.last_message_at.utcoffset() is not None
    assert row.last_message_at.tzinfo is UTC


def test_a_malformed_row_is_set_aside_and_the_others_survive() -> None:
    body = copy.deepcopy(LIST_SAMPLE)
    body["data"] += [
        {"id": "bad-date", "lastMessageAt": "not-a-date"},
        {"status": "open"},
        "just a string",
        {"id": "bad-bool", "humanManaged": {"x": 1}},
        {"id": "epoch", "lastMessageAt": 1700000000},
        {"id": "fine", "status": "brand_new_status"},
    ]
    page = parse_conversation_page(body)
    assert [row.id for row in page.rows] == [LIST_SAMPLE["data"][0]["id"], "fine"]
    assert [(bad.id, bad.path) for bad in page.malformed] == [
        ("bad-date", "data[1]"),
        (None, "data[2]"),
        (None, "data[3]"),
        ("bad-bool", "data[4]"),
        ("epoch", "data[5]"),
    ]
    assert "lastMessageAt" in page.malformed[0].error
    assert page.malformed[0].raw == {"id": "bad-date", "lastMessageAt": "not-a-date"}
    assert page.seen_ids == {LIST_SAMPLE["data"][0]["id"], "fine", "bad-date", "bad-bool", "epoch"}


def test_validation_errors_do_not_echo_the_row_content() -> None:
    page = parse_conversation_page({"data": [{"id": "x", "lastMessageAt": "henrik@secret.dk"}]})
    assert "henrik" not in page.malformed[0].error


@pytest.mark.parametrize(
    "body", [[], "text", None, {"rows": []}, {"data": {}}, {"data": [], "nextCursor": {"a": 1}}]
)
def test_a_list_body_of_the_wrong_shape_is_a_malformed_response(body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_conversation_page(body, path="/api/conversations")


def test_a_documented_detail_parses_into_nested_models() -> None:
    detail = parse_conversation_detail(DETAIL_SAMPLE)
    assert detail.status == "in_progress"
    assert detail.outcome is None
    assert detail.contact is not None and detail.contact.first_name == "Henrik"
    assert detail.account is not None and detail.account.name == "Nordic Parts ApS"
    assert detail.history is not None and [m.direction for m in detail.history] == [
        "inbound",
        "outbound",
    ]
    assert detail.history[1].from_address is None
    assert detail.context_entries == ({"kind": "kb", "entryId": "kb-1"},)
    assert detail.attention_items is not None
    assert detail.attention_items[0].context == ATTENTION_SAMPLE[0]["context"]
    assert detail.created_at == datetime(2026, 3, 15, 9, 12, tzinfo=UTC)
    assert detail.raw is DETAIL_SAMPLE
    assert detail.history[0].raw == MESSAGES_SAMPLE[0]
    assert detail.malformed == ()


def test_absent_nested_parts_are_none_and_empty_ones_are_empty() -> None:
    bare = {k: v for k, v in DETAIL_SAMPLE.items() if k not in {"contact", "account", "history"}}
    bare |= {"contextEntries": [], "attentionItems": []}
    detail = ConversationDetail.model_validate(bare)
    assert detail.contact is None and detail.account is None and detail.history is None
    assert detail.context_entries == ()
    assert detail.attention_items == ()


def test_a_bad_message_inside_a_detail_does_not_fail_the_detail() -> None:
    body = copy.deepcopy(DETAIL_SAMPLE)
    body["history"].append({"id": "m-bad", "sentAt": "yesterday"})
    body["history"].append(42)
    body["attentionItems"].append({"id": "a-bad", "context": "not an object"})
    body["contact"] = {"firstName": "no id"}
    detail = parse_conversation_detail(body)
    assert detail.history is not None and len(detail.history) == 2
    assert detail.attention_items is not None and len(detail.attention_items) == 1
    assert detail.contact is None
    assert sorted((bad.path, bad.id) for bad in detail.malformed) == [
        ("attentionItems[1]", "a-bad"),
        ("contact", None),
        ("history[2]", "m-bad"),
        ("history[3]", None),
    ]
    assert detail.raw == body


def test_a_detail_with_a_broken_top_level_field_is_a_malformed_response() -> None:
    body = dict(DETAIL_SAMPLE, updatedAt="not-a-date")
    with pytest.raises(MalformedResponse, match="updatedAt"):
        parse_conversation_detail(body, path="/api/conversations/x")
    with pytest.raises(MalformedResponse):
        parse_conversation_detail(dict(DETAIL_SAMPLE, id=None))
    with pytest.raises(MalformedResponse):
        parse_conversation_detail(["not", "an", "object"])


def test_documented_messages_attachments_and_attention_items_parse() -> None:
    messages = parse_messages(MESSAGES_SAMPLE)
    assert [m.id for m in messages] == [m["id"] for m in MESSAGES_SAMPLE]
    assert messages.items[0].speaker is None
    attachments = parse_attachments(ATTACHMENTS_SAMPLE)
    assert attachments.items[0].size_bytes == 245780
    assert attachments.items[0].mime_type == "application/pdf"
    items = parse_attention_items(ATTENTION_SAMPLE)
    assert items.items[0].type == "mcp_failure"
    assert items.items[0].resolved_at is None
    assert items.items[0].reason is None
    assert len(items) == 1 and items.malformed == ()


def test_voice_messages_and_unknown_attention_types_are_normal() -> None:
    voice = Message.model_validate({"id": "v1", "direction": "inbound", "speaker": "ai"})
    assert voice.speaker == "ai"
    items = parse_attention_items(
        [
            {
                "id": "a1",
                "type": "human_requested",
                "status": "snoozed",
                "reason": "asked for a human",
            }
        ]
    )
    assert items.items[0].type == "human_requested"
    assert items.items[0].reason == "asked for a human"


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (parse_messages, {"data": []}),
        (parse_attachments, None),
        (parse_attention_items, {"items": []}),
        (parse_status_counts, [1, 2]),
    ],
)
def test_bare_array_endpoints_refuse_other_shapes(parse: Any, body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse(body)


def test_status_counts_keep_unknown_statuses_and_drop_non_integers() -> None:
    counts = parse_status_counts({**STATUS_COUNTS_SAMPLE, "waiting": 3, "broken": "many"})
    assert counts["resolved"] == 156
    assert counts["waiting"] == 3
    assert "broken" not in counts.as_dict()
    assert [bad.id for bad in counts.malformed] == ["broken"]
    assert counts.raw["broken"] == "many"
    assert set(counts) == set(STATUS_COUNTS_SAMPLE) | {"waiting"}


def test_models_are_frozen() -> None:
    row = ConversationRow.model_validate({"id": "c1"})
    with pytest.raises(ValueError):
        row.status = "x"  # type: ignore[misc]
