"""The simulator's POST actions and deletions change state the way the real service would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from syncd.sim import SimConfig, SimServer, Simulator

AUTH = {"Authorization": "Bearer sf_live_v1_" + "a" * 32}


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig(seed=5, conversations=40, detail_missing_rate=0.0))


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as http:
        yield http


def row_of(client: httpx.Client, cid: str) -> dict[str, Any]:
    for row in client.get("/api/conversations", params={"limit": 100}).json()["data"]:
        if row["id"] == cid:
            return dict(row)
    raise AssertionError(f"{cid} not listed")


def moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}


def test_reply_appends_an_outbound_message_and_moves_times_and_preview(
    sim: Simulator, client: httpx.Client
) -> None:
    cid = sim.conversation_ids(status="open")[0]
    before_row, before = row_of(client, cid), client.get(f"/api/conversations/{cid}").json()
    content = "Merci ! Votre colis arrive demain 📦 — 山田"
    ok(client.post(f"/api/conversations/{cid}/reply", json={"content": content}))
    after = client.get(f"/api/conversations/{cid}").json()
    messages = client.get(f"/api/conversations/{cid}/messages").json()
    assert len(messages) == len(before["history"]) + 1
    last = messages[-1]
    assert last["body"] == content
    if after["channelType"] == "voice":
        assert (last["direction"], last["speaker"]) == ("inbound", "ai")
    else:
        assert last["direction"] == "outbound"
    row = row_of(client, cid)
    assert row["lastMessagePreview"] == content
    assert moment(row["lastMessageAt"]) > moment(before_row["lastMessageAt"])
    assert moment(after["updatedAt"]) > moment(before["updatedAt"])
    assert moment(after["lastActivityAt"]) > moment(before["lastActivityAt"])


def test_reply_needs_content(sim: Simulator, client: httpx.Client) -> None:
    cid = sim.conversation_ids()[0]
    for body in ({}, {"content": ""}, {"content": 3}):
        response = client.post(f"/api/conversations/{cid}/reply", json=body)
        assert response.status_code == 400
        assert "error" in response.json()
    assert client.post(f"/api/conversations/{cid}/reply", content=b"{broken").status_code == 400


def test_strict_reply_refuses_a_conversation_not_taken_over() -> None:
    sim = Simulator(SimConfig(seed=5, conversations=5, strict_reply=True))
    cid = sim.conversation_ids(human_managed=False)[0]
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        assert (
            client.post(f"/api/conversations/{cid}/reply", json={"content": "hi"}).status_code
            == 409
        )
        ok(client.post(f"/api/conversations/{cid}/take-over"))
        ok(client.post(f"/api/conversations/{cid}/reply", json={"content": "hi"}))


def test_resolve_sets_status_and_outcome(sim: Simulator, client: httpx.Client) -> None:
    cid = sim.conversation_ids(status="in_progress")[0]
    ok(client.post(f"/api/conversations/{cid}/resolve", json={"outcome": "Refund issued ✅"}))
    detail = client.get(f"/api/conversations/{cid}").json()
    assert (detail["status"], detail["outcome"]) == ("resolved", "Refund issued ✅")
    assert row_of(client, cid)["status"] == "resolved"
    other = sim.conversation_ids(status="open")[0]
    ok(client.post(f"/api/conversations/{other}/resolve"))  # no body: outcome stays null
    assert client.get(f"/api/conversations/{other}").json()["outcome"] is None


def test_take_over_and_release_set_and_clear_the_human_owner(
    sim: Simulator, client: httpx.Client
) -> None:
    cid = sim.conversation_ids(human_managed=False)[0]
    ok(client.post(f"/api/conversations/{cid}/take-over"))
    assert client.get(f"/api/conversations/{cid}").json()["humanManagingUserId"]
    assert row_of(client, cid)["humanManaged"] is True
    listed = client.get("/api/conversations", params={"humanManaged": "true", "limit": 100})
    assert cid in {row["id"] for row in listed.json()["data"]}
    ok(client.post(f"/api/conversations/{cid}/release"))
    assert client.get(f"/api/conversations/{cid}").json()["humanManagingUserId"] is None
    assert "humanManaged" not in row_of(client, cid)


def test_compose_creates_a_conversation_and_its_contact(
    sim: Simulator, client: httpx.Client
) -> None:
    workspace = sim.workspace_ids()[0]
    channel = sim.channel_ids(workspace)["email"]
    response = client.post(
        "/api/conversations/compose",
        json={
            "workspaceId": workspace,
            "channelId": channel,
            "contactEmail": "anna@scandinavian-imports.se",
            "contactName": "Anna Johansson",
            "subject": "Q2 catalogue",
            "content": "Hello Anna,\n\nThe new product line is now available.",
        },
    )
    assert response.status_code == 200, response.text
    cid = response.json()["conversationId"]
    assert set(response.json()) == {"conversationId"}
    detail = client.get(f"/api/conversations/{cid}").json()
    assert detail["workspaceId"] == workspace and detail["channelId"] == channel
    assert detail["contact"]["email"] == "anna@scandinavian-imports.se"
    assert (detail["contact"]["firstName"], detail["contact"]["lastName"]) == ("Anna", "Johansson")
    (message,) = detail["history"]
    assert message["direction"] == "outbound" and message["subject"] == "Q2 catalogue"
    row = row_of(client, cid)
    assert row["contactName"] == "Anna Johansson"
    assert row["lastMessagePreview"].startswith("Hello Anna, The new product line")
    found = client.get("/api/conversations", params={"q": "scandinavian-imports"}).json()["data"]
    assert cid in {r["id"] for r in found}
    # the same address again reuses the contact
    again = client.post(
        "/api/conversations/compose",
        json={
            "workspaceId": workspace,
            "channelId": channel,
            "content": "Hi again",
            "contactEmail": "ANNA@scandinavian-imports.se",
        },
    ).json()["conversationId"]
    assert client.get(f"/api/conversations/{again}").json()["contactId"] == detail["contactId"]


@pytest.mark.parametrize(
    "body",
    [
        {"content": "x"},  # no workspace, no channel
        {"workspaceId": "WS", "channelId": "CH"},  # no content
        {"workspaceId": "WS", "channelId": "CH", "content": "x"},  # no contact
        {"workspaceId": "WS", "channelId": "nope", "content": "x", "contactEmail": "a@b.c"},
        {"workspaceId": "WS", "channelId": "CH", "content": "x", "contactId": "nope"},
    ],
)
def test_compose_rejects_incomplete_bodies(
    sim: Simulator, client: httpx.Client, body: dict[str, str]
) -> None:
    workspace = sim.workspace_ids()[0]
    channel = sim.channel_ids(workspace)["sms"]
    filled = {k: {"WS": workspace, "CH": channel}.get(v, v) for k, v in body.items()}
    response = client.post("/api/conversations/compose", json=filled)
    assert response.status_code == 400
    assert "error" in response.json()


def test_compose_in_an_unknown_workspace_is_a_404(client: httpx.Client) -> None:
    response = client.post(
        "/api/conversations/compose",
        json={"workspaceId": "ws_nope", "channelId": "x", "content": "x", "contactEmail": "a@b.c"},
    )
    assert response.status_code == 404


def test_assign_needs_a_user_id_and_is_recorded_with_unassign_and_approve(
    sim: Simulator, client: httpx.Client
) -> None:
    cid = sim.conversation_ids()[3]
    assert client.post(f"/api/conversations/{cid}/assign", json={}).status_code == 400
    assert client.post(f"/api/conversations/{cid}/assign").status_code == 400
    before = client.get(f"/api/conversations/{cid}").json()["updatedAt"]
    ok(client.post(f"/api/conversations/{cid}/assign", json={"userId": "usr_42"}))
    ok(client.post(f"/api/conversations/{cid}/unassign"))
    ok(client.post(f"/api/conversations/{cid}/approve"))
    assert [(a.action, a.target_id) for a in sim.actions] == [
        ("assign", cid),
        ("unassign", cid),
        ("approve", cid),
    ]
    assert sim.actions[0].body == {"userId": "usr_42"}
    assert moment(client.get(f"/api/conversations/{cid}").json()["updatedAt"]) > moment(before)


def test_approve_resolves_the_open_approval_gate(sim: Simulator, client: httpx.Client) -> None:
    cid = sim.conversation_ids()[0]
    gate = sim.raise_attention_item(cid, "approval_gate")
    ok(client.post(f"/api/conversations/{cid}/approve"))
    item = sim.attention_item(gate)
    assert item["status"] == "resolved" and item["resolvedAt"]


def test_resolving_an_attention_item_sets_status_reason_and_resolved_at(
    sim: Simulator, client: httpx.Client
) -> None:
    item_id = client.get("/api/attention-items", params={"status": "open"}).json()[0]["id"]
    response = client.post(
        f"/api/attention-items/{item_id}/resolve", json={"reason": "Handled by phone."}
    )
    ok(response)
    (item,) = [i for i in client.get("/api/attention-items").json() if i["id"] == item_id]
    assert item["status"] == "resolved"
    assert item["reason"] == "Handled by phone."
    assert moment(item["resolvedAt"]) >= moment(item["createdAt"])
    assert item_id not in {
        i["id"] for i in client.get("/api/attention-items", params={"status": "open"}).json()
    }
    missing = client.post("/api/attention-items/nope/resolve")
    assert missing.status_code == 404 and "error" in missing.json()


@pytest.mark.parametrize(
    "action", ["reply", "resolve", "take-over", "release", "assign", "unassign", "approve"]
)
def test_actions_on_an_unknown_conversation_are_404(client: httpx.Client, action: str) -> None:
    response = client.post(
        f"/api/conversations/nope/{action}", json={"content": "x", "userId": "u"}
    )
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


def test_a_deleted_conversation_disappears_everywhere(sim: Simulator, client: httpx.Client) -> None:
    cid = sim.attention_item(sim.attention_item_ids()[0])["conversationId"]
    items = sim.attention_item_ids(conversation_id=cid)
    assert items
    sim.delete_conversation(cid)
    listed = {
        row["id"] for row in client.get("/api/conversations", params={"limit": 100}).json()["data"]
    }
    assert cid not in listed
    for path in ("", "/messages", "/attachments"):
        assert client.get(f"/api/conversations/{cid}{path}").status_code == 404
    attention = {i["id"] for i in client.get("/api/attention-items").json()}
    assert attention.isdisjoint(items)
    assert client.post(f"/api/attention-items/{items[0]}/resolve").status_code == 404
    assert client.post(f"/api/conversations/{cid}/resolve").status_code == 404
    assert sim.is_deleted(cid)
