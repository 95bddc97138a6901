"""The simulator over real HTTP: every read endpoint's shape, auth, limits, pagination, filters."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sim_support import connected, serving

from syncd.sim import SimConfig, SimServer, Simulator

TOKEN = "sf_test_v1_" + "k" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")

ROW_REQUIRED = {
    "id",
    "workspaceId",
    "channelId",
    "contactId",
    "status",
    "lastMessagePreview",
    "lastMessageAt",
}
ROW_OPTIONAL = {
    "contactName",
    "contactEmail",
    "accountName",
    "humanManaged",
    "formType",
    "autoResolved",
    "lastTurnRoutingPath",
}
DETAIL_REQUIRED = {
    "id",
    "tenantId",
    "workspaceId",
    "channelId",
    "channelType",
    "contactId",
    "accountId",
    "status",
    "stateSummary",
    "outcome",
    "humanManagingUserId",
    "lastActivityAt",
    "createdAt",
    "updatedAt",
}
DETAIL_PARTS = {"contact", "account", "history", "contextEntries", "attentionItems"}
MESSAGE_REQUIRED = {"id", "direction", "speaker", "body", "sentAt", "channel"}
ATTACHMENT_FIELDS = {"id", "messageId", "fileName", "mimeType", "sizeBytes", "status", "createdAt"}
ITEM_REQUIRED = {
    "id",
    "tenantId",
    "conversationId",
    "type",
    "status",
    "context",
    "createdAt",
    "resolvedAt",
    "turnId",
    "assignedToUserId",
}
STATUSES = {"open", "in_progress", "awaiting_contact", "resolved", "closed", "abandoned"}


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(SimConfig(seed=11, conversations=260, workspaces=2, detail_missing_rate=0.0))


@pytest.fixture(scope="module")
def server(sim: Simulator) -> Iterator[SimServer]:
    yield from serving(sim)


@pytest.fixture
def client(server: SimServer) -> Iterator[httpx.Client]:
    yield from connected(server, AUTH)


def all_rows(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/conversations", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["data"])
        cursor = body.get("nextCursor")
        if not cursor:
            return rows
    raise AssertionError("pagination did not end")


def parse(stamp: str) -> datetime:
    assert TIME.match(stamp), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# -- auth and parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Bearer sf_live_v1_"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "sf_live_v1_abcdef"},
    ],
)
def test_requests_without_a_valid_key_get_401_with_an_error(
    server: SimServer, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{server.base_url}/api/conversations", headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("prefix", ["sf_live_v1_", "sf_test_v1_"])
def test_live_and_test_keys_are_both_accepted(server: SimServer, prefix: str) -> None:
    headers = {"Authorization": f"Bearer {prefix}abc123"}
    assert httpx.get(f"{server.base_url}/api/attention-items", headers=headers).status_code == 200


@pytest.mark.parametrize("limit", ["0", "101", "-3", "ten", "2.5", ""])
def test_a_limit_outside_1_to_100_or_not_an_integer_is_a_400(
    client: httpx.Client, limit: str
) -> None:
    response = client.get("/api/conversations", params={"limit": limit})
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_the_default_page_has_50_rows_and_a_cursor(client: httpx.Client) -> None:
    body = client.get("/api/conversations").json()
    assert len(body["data"]) == 50
    assert body["nextCursor"]


def test_an_unreadable_cursor_is_a_400(client: httpx.Client) -> None:
    response = client.get("/api/conversations", params={"cursor": "%%%not-base64"})
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_bad_boolean_filter_is_a_400(client: httpx.Client) -> None:
    assert client.get("/api/conversations", params={"humanManaged": "maybe"}).status_code == 400


def test_unknown_ids_and_paths_get_404_with_an_error(client: httpx.Client) -> None:
    for path in (
        "/api/conversations/no-such-id",
        "/api/conversations/no-such-id/messages",
        "/api/conversations/no-such-id/attachments",
        "/api/nowhere",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"error"}


# -- shapes ----------------------------------------------------------------------------------------


def test_list_rows_have_the_documented_fields_and_omit_optional_ones_without_signal(
    client: httpx.Client,
) -> None:
    rows = all_rows(client, limit=100)
    assert len(rows) == 260
    seen_optional: dict[str, int] = dict.fromkeys(ROW_OPTIONAL, 0)
    for row in rows:
        assert ROW_REQUIRED <= set(row) <= ROW_REQUIRED | ROW_OPTIONAL
        parse(row["lastMessageAt"])
        assert row["status"] in STATUSES
        for name in ROW_OPTIONAL & set(row):
            assert row[name] is not None and row[name] != ""
            seen_optional[name] += 1
        if "humanManaged" in row:
            assert row["humanManaged"] is True
        if "autoResolved" in row:
            assert row["autoResolved"] is True
    # every optional field shows up on some rows and is left out on others
    assert all(0 < count < len(rows) for count in seen_optional.values()), seen_optional


def test_the_list_cursor_is_base64_json_with_last_id_like_the_published_samples(
    client: httpx.Client,
) -> None:
    body = client.get("/api/conversations", params={"limit": 3}).json()
    decoded = json.loads(base64.b64decode(body["nextCursor"]))
    assert decoded == {"lastId": body["data"][-1]["id"]}


def test_detail_messages_and_attachments_have_the_documented_shapes(
    sim: Simulator, client: httpx.Client
) -> None:
    channels: set[str] = set()
    statuses: set[str] = set()
    for cid in sim.conversation_ids()[:120]:
        detail = client.get(f"/api/conversations/{cid}").json()
        assert DETAIL_REQUIRED <= set(detail) <= DETAIL_REQUIRED | DETAIL_PARTS
        for name in ("lastActivityAt", "createdAt", "updatedAt"):
            parse(detail[name])
        assert set(detail["contact"]) == {"id", "firstName", "lastName", "email"}
        if detail["accountId"] is None:
            assert "account" not in detail
        else:
            assert detail["account"] == {
                "id": detail["accountId"],
                "name": detail["account"]["name"],
            }
        messages = client.get(f"/api/conversations/{cid}/messages").json()
        assert messages == detail["history"]
        assert [m["sentAt"] for m in messages] == sorted((m["sentAt"] for m in messages), key=parse)
        channel = detail["channelType"]
        channels.add(channel)
        for message in messages:
            assert MESSAGE_REQUIRED <= set(message) <= MESSAGE_REQUIRED | {"fromAddress", "subject"}
            assert message["channel"] == channel
            if channel == "voice":
                assert message["direction"] == "inbound"
                assert message["speaker"] in ("caller", "ai")
            else:
                assert message["speaker"] is None
            if channel == "email" and message["direction"] == "inbound":
                assert message["fromAddress"] and message["subject"]
            if channel != "email":
                assert "fromAddress" not in message and "subject" not in message
        for attachment in client.get(f"/api/conversations/{cid}/attachments").json():
            assert set(attachment) == ATTACHMENT_FIELDS
            assert attachment["messageId"] in {m["id"] for m in messages}
            statuses.add(attachment["status"])
        assert all(item["conversationId"] == cid for item in detail["attentionItems"])
    assert channels == {"email", "chat", "sms", "whatsapp", "voice"}
    assert statuses == {"pending", "processing", "ready", "failed"}


def test_attention_items_cover_every_type_with_type_specific_contexts(
    client: httpx.Client,
) -> None:
    items = client.get("/api/attention-items").json()
    assert isinstance(items, list)
    types = {item["type"] for item in items}
    assert types >= {
        "validation_failed",
        "approval_gate",
        "escalation",
        "mcp_failure",
        "auth_failure",
        "customer_reply_pending",
        "expiry_warning",
        "human_requested",
    }
    for item in items:
        assert ITEM_REQUIRED <= set(item) <= ITEM_REQUIRED | {"reason"}
        assert isinstance(item["context"], dict) and item["context"]
        parse(item["createdAt"])
        if item["status"] in ("resolved", "dismissed"):
            parse(item["resolvedAt"])
        else:
            assert item["resolvedAt"] is None
        if item["type"] == "mcp_failure":
            assert set(item["context"]) == {"toolName", "error"}
    assert any("reason" in item for item in items)
    assert any("reason" not in item for item in items)


def test_status_counts_has_all_six_statuses_and_unknown_workspaces_get_zeros(
    sim: Simulator, client: httpx.Client
) -> None:
    total = 0
    for workspace in sim.workspace_ids():
        counts = client.get(f"/api/workspaces/{workspace}/conversations/status-counts").json()
        assert set(counts) == STATUSES
        total += sum(counts.values())
    assert total == 260
    zeros = client.get("/api/workspaces/ws_unknown/conversations/status-counts").json()
    assert zeros == dict.fromkeys(STATUSES, 0)


def test_texts_carry_accents_cjk_and_emoji_as_utf8(client: httpx.Client) -> None:
    response = client.get("/api/conversations", params={"limit": 100})
    assert response.headers["content-type"].startswith("application/json")
    text = response.content.decode("utf-8")
    assert re.search(r"[À-ž]", text)
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", text)
    assert re.search(r"[\U0001F300-\U0001FAFF]", text)


def test_timestamps_come_with_and_without_milliseconds(client: httpx.Client) -> None:
    stamps = [row["lastMessageAt"] for row in all_rows(client, limit=100)]
    assert any("." in stamp for stamp in stamps)
    assert any("." not in stamp for stamp in stamps)


# -- pagination ------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [100, 7])
def test_paging_by_id_yields_every_conversation_exactly_once_in_id_order(
    sim: Simulator, client: httpx.Client, limit: int
) -> None:
    ids = [row["id"] for row in all_rows(client, limit=limit)]
    assert ids == sorted(ids)
    assert ids == sim.conversation_ids()


@pytest.mark.parametrize("limit", [100, 7])
def test_paging_newest_first_yields_every_conversation_exactly_once_newest_first(
    limit: int,
) -> None:
    sim = Simulator(SimConfig(seed=12, conversations=255, order="newest"))
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        rows = all_rows(client, limit=limit)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == 255
    assert set(ids) == set(sim.conversation_ids())
    moments = [parse(row["lastMessageAt"]) for row in rows]
    assert moments == sorted(moments, reverse=True)


# -- filters ---------------------------------------------------------------------------------------


def test_every_list_filter_selects_exactly_the_matching_conversations(
    sim: Simulator, client: httpx.Client
) -> None:
    rows = all_rows(client, limit=100)
    details = {row["id"]: sim.detail(row["id"]) for row in rows}
    open_items = {
        i["conversationId"]
        for i in client.get("/api/attention-items").json()
        if i["status"] == "open"
    }
    subjects = {
        cid: " ".join(m.get("subject", "") for m in detail["history"]).casefold()
        for cid, detail in details.items()
    }
    first = rows[0]
    account_id = next(d["accountId"] for d in details.values() if d["accountId"])
    contact_id = max({r["contactId"] for r in rows}, key=[r["contactId"] for r in rows].count)
    cases: list[tuple[dict[str, str], set[str]]] = [
        (
            {"workspaceId": first["workspaceId"]},
            {r["id"] for r in rows if r["workspaceId"] == first["workspaceId"]},
        ),
        ({"status": "open"}, {r["id"] for r in rows if r["status"] == "open"}),
        ({"status": "no-such-status"}, set()),
        ({"contactId": contact_id}, {r["id"] for r in rows if r["contactId"] == contact_id}),
        (
            {"accountId": account_id},
            {cid for cid, d in details.items() if d["accountId"] == account_id},
        ),
        ({"humanManaged": "true"}, {r["id"] for r in rows if r.get("humanManaged")}),
        ({"humanManaged": "false"}, {r["id"] for r in rows if not r.get("humanManaged")}),
        ({"hasAttention": "true"}, open_items),
        ({"hasAttention": "false"}, {r["id"] for r in rows} - open_items),
        (
            {"workspaceId": first["workspaceId"], "status": "resolved"},
            {
                r["id"]
                for r in rows
                if r["workspaceId"] == first["workspaceId"] and r["status"] == "resolved"
            },
        ),
    ]
    for params, expected in cases:
        if params.get("status") != "no-such-status":
            assert expected, params
        got = [row["id"] for row in all_rows(client, limit=10, **params)]
        assert len(got) == len(set(got)), params
        assert set(got) == expected, params
    # q: contact name, contact email, or an email subject, case-insensitively
    named = next(r for r in rows if "contactName" in r)
    needle = named["contactName"].split()[0].upper()
    by_name = {row["id"] for row in all_rows(client, q=needle, limit=100)}
    expected_q = {
        r["id"]
        for r in rows
        if needle.casefold()
        in (
            r.get("contactName", "") + " " + r.get("contactEmail", "") + " " + subjects[r["id"]]
        ).casefold()
    }
    assert named["id"] in by_name
    assert by_name == expected_q
    by_subject = {row["id"] for row in all_rows(client, q="RÜCKSENDUNG", limit=100)}
    assert by_subject == {cid for cid, text in subjects.items() if "rücksendung" in text}
    assert by_subject


def test_attention_item_filters(sim: Simulator, client: httpx.Client) -> None:
    items = client.get("/api/attention-items").json()
    workspace = sim.workspace_ids()[1]
    in_workspace = set(sim.conversation_ids(workspace_id=workspace))
    got = client.get("/api/attention-items", params={"workspaceId": workspace}).json()
    assert {i["id"] for i in got} == {i["id"] for i in items if i["conversationId"] in in_workspace}
    for status in ("open", "acknowledged", "resolved", "dismissed"):
        got = client.get("/api/attention-items", params={"status": status}).json()
        assert {i["id"] for i in got} == {i["id"] for i in items if i["status"] == status}
    conversation = items[0]["conversationId"]
    got = client.get("/api/attention-items", params={"conversationId": conversation}).json()
    assert {i["id"] for i in got} == {i["id"] for i in items if i["conversationId"] == conversation}
    assert client.get("/api/attention-items", params={"conversationId": "nope"}).json() == []


def test_requests_are_counted_per_route(sim: Simulator, server: SimServer) -> None:
    server.reset_counts()
    cid = sim.conversation_ids()[0]
    with httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        client.get("/api/conversations")
        client.get("/api/conversations")
        client.get(f"/api/conversations/{cid}")
        client.get(f"/api/conversations/{cid}/messages")
        client.get(f"/api/conversations/{cid}/attachments")
        client.get("/api/attention-items")
        client.get(f"/api/workspaces/{sim.workspace_ids()[0]}/conversations/status-counts")
        httpx.get(f"{server.base_url}/api/attention-items")  # 401s are counted too
    assert server.request_counts == {
        "list_conversations": 2,
        "get_conversation": 1,
        "get_messages": 1,
        "get_attachments": 1,
        "list_attention_items": 2,
        "status_counts": 1,
    }
    assert [record.route for record in server.request_log][:2] == ["list_conversations"] * 2
    server.reset_counts()
    assert server.request_counts == {}
