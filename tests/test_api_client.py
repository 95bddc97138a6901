"""The client against a scripted server on loopback: every method, pagination, the budget."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from test_api_support import ROW, TOKEN, Reply, ScriptedApi, fail, ok, scripted_client
from test_api_support import client as client
from test_api_support import clock as clock
from test_api_support import server as server

import syncd
from syncd.api import OhalloClient, Priority
from syncd.api.testing import FakeClock
from syncd.config import ApiSettings
from syncd.errors import (
    ApiError,
    ConfigError,
    PaginationError,
)

# -- every read ---------------------------------------------------------------------------------


async def test_list_conversations_sends_every_filter_and_parses_the_page(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/conversations", ok({"data": [ROW], "nextCursor": "n1"}))
    page = await client.list_conversations(
        workspace_id="ws1",
        status="open",
        contact_id="ct1",
        account_id="ac1",
        q="henrik larsen",
        human_managed=True,
        has_attention=False,
        limit=100,
        cursor="c0",
    )
    assert server.requests[0].query == {
        "workspaceId": "ws1",
        "status": "open",
        "contactId": "ct1",
        "accountId": "ac1",
        "q": "henrik larsen",
        "humanManaged": "true",
        "hasAttention": "false",
        "limit": "100",
        "cursor": "c0",
    }
    assert [row.id for row in page.rows] == ["c1"]
    assert (page.cursor, page.next_cursor) == ("c0", "n1")


async def test_unset_filters_are_not_sent(server: ScriptedApi, client: OhalloClient) -> None:
    server.queue("GET", "/api/conversations", ok({"data": []}))
    page = await client.list_conversations()
    assert server.requests[0].query == {}
    assert page.next_cursor is None


@pytest.mark.parametrize("limit", [0, 101])
async def test_a_page_size_outside_the_api_range_is_refused(
    client: OhalloClient, limit: int
) -> None:
    with pytest.raises(ValueError):
        await client.list_conversations(limit=limit)


async def test_detail_messages_attachments_attention_and_counts_are_fetched(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/conversations/c1", ok({"id": "c1", "status": "open", "history": []}))
    server.queue("GET", "/api/conversations/c1/messages", ok([{"id": "m1", "speaker": "ai"}]))
    server.queue("GET", "/api/conversations/c1/attachments", ok([{"id": "f1", "sizeBytes": 3}]))
    server.queue("GET", "/api/attention-items", ok([{"id": "a1", "type": "escalation"}]))
    server.queue(
        "GET", "/api/workspaces/ws1/conversations/status-counts", ok({"open": 2, "waiting": 1})
    )
    detail = await client.get_conversation("c1")
    messages = await client.get_messages("c1")
    attachments = await client.get_attachments("c1")
    items = await client.list_attention_items(
        workspace_id="ws1", status="open", conversation_id="c1"
    )
    counts = await client.get_status_counts("ws1")
    assert detail.id == "c1" and detail.history == () and detail.contact is None
    assert [m.speaker for m in messages] == ["ai"]
    assert [a.size_bytes for a in attachments] == [3]
    assert [i.type for i in items] == ["escalation"]
    assert server.requests[3].query == {
        "workspaceId": "ws1",
        "status": "open",
        "conversationId": "c1",
    }
    assert counts.as_dict() == {"open": 2, "waiting": 1}


async def test_ids_are_sent_as_one_escaped_path_segment(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/conversations/a%2Fb%3Fc", ok({"id": "a/b?c"}))
    detail = await client.get_conversation("a/b?c")
    assert detail.id == "a/b?c"
    with pytest.raises(ValueError):
        await client.get_conversation("..")


async def test_requests_carry_the_user_agent_and_the_bearer_token(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/attention-items", ok([]))
    await client.list_attention_items()
    headers = server.requests[0].headers
    assert headers["User-Agent"] == f"syncd/{syncd.__version__}"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


async def test_compressed_answers_are_asked_for_and_decoded(
    server: ScriptedApi, client: OhalloClient
) -> None:
    body = json.dumps([{"id": "a1", "status": "open"}]).encode()
    server.queue("GET", "/api/attention-items", Reply(raw=gzip.compress(body), headers=GZIP))
    items = await client.list_attention_items()
    assert [item.raw for item in items] == [{"id": "a1", "status": "open"}]
    assert "gzip" in server.requests[0].headers["Accept-Encoding"]


GZIP = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


# -- every action ---------------------------------------------------------------------------------


ACTIONS: list[tuple[str, Callable[[OhalloClient], Any], str, Any]] = [
    (
        "reply",
        lambda c: c.reply("c1", "hello"),
        "/api/conversations/c1/reply",
        {"content": "hello"},
    ),
    ("resolve", lambda c: c.resolve("c1"), "/api/conversations/c1/resolve", {}),
    (
        "resolve+outcome",
        lambda c: c.resolve("c1", outcome="done"),
        "/api/conversations/c1/resolve",
        {"outcome": "done"},
    ),
    ("take_over", lambda c: c.take_over("c1"), "/api/conversations/c1/take-over", None),
    ("release", lambda c: c.release("c1"), "/api/conversations/c1/release", None),
    ("assign", lambda c: c.assign("c1", "u1"), "/api/conversations/c1/assign", {"userId": "u1"}),
    ("unassign", lambda c: c.unassign("c1"), "/api/conversations/c1/unassign", None),
    ("approve", lambda c: c.approve("c1"), "/api/conversations/c1/approve", None),
    (
        "resolve_attention_item",
        lambda c: c.resolve_attention_item("a1", reason="fixed"),
        "/api/attention-items/a1/resolve",
        {"reason": "fixed"},
    ),
]


@pytest.mark.parametrize(("name", "call", "path", "body"), ACTIONS, ids=[a[0] for a in ACTIONS])
async def test_each_action_posts_its_documented_body(
    server: ScriptedApi,
    client: OhalloClient,
    name: str,
    call: Callable[[OhalloClient], Any],
    path: str,
    body: Any,
) -> None:
    server.queue("POST", path, ok())
    assert await call(client) is None
    (seen,) = server.requests
    assert seen.method == "POST"
    assert (json.loads(seen.body) if seen.body else None) == body


async def test_compose_returns_the_new_conversation_id(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("POST", "/api/conversations/compose", ok({"conversationId": "new1"}), ok())
    new_id = await client.compose(
        "ws1", "ch1", "Hello Anna", contact_email="anna@example.se", contact_name="Anna"
    )
    assert new_id == "new1"
    assert json.loads(server.requests[0].body) == {
        "workspaceId": "ws1",
        "channelId": "ch1",
        "contactEmail": "anna@example.se",
        "contactName": "Anna",
        "content": "Hello Anna",
    }
    assert await client.compose("ws1", "ch1", "Hi", contact_phone="+4512345678") is None


async def test_compose_needs_exactly_one_way_to_reach_the_contact(client: OhalloClient) -> None:
    with pytest.raises(ValueError):
        await client.compose("ws1", "ch1", "Hi")
    with pytest.raises(ValueError):
        await client.compose("ws1", "ch1", "Hi", contact_id="x", contact_email="y@z")


async def test_an_action_answered_with_an_empty_body_succeeds(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("POST", "/api/conversations/c1/take-over", Reply(204, raw=b""))
    await client.take_over("c1")


async def test_an_action_answered_ok_false_raises_with_the_servers_error(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("POST", "/api/conversations/c1/approve", ok({"ok": False, "error": "nothing"}))
    with pytest.raises(ApiError, match="nothing"):
        await client.approve("c1")


# -- pagination -----------------------------------------------------------------------------------


async def test_pages_are_followed_until_next_cursor_is_absent_or_null(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue(
        "GET",
        "/api/conversations",
        ok({"data": [{"id": "1"}], "nextCursor": "a"}),
        ok({"data": [{"id": "2"}], "nextCursor": "b"}),
        ok({"data": [{"id": "3"}], "nextCursor": None}),
        ok({"data": [{"id": "4"}]}),
    )
    pages = [page async for page in client.iter_conversation_pages(status="open")]
    assert [(p.cursor, [r.id for r in p.rows], p.next_cursor) for p in pages] == [
        (None, ["1"], "a"),
        ("a", ["2"], "b"),
        ("b", ["3"], None),
    ]
    assert [r.query.get("cursor") for r in server.requests] == [None, "a", "b"]
    assert all(r.query["limit"] == "100" and r.query["status"] == "open" for r in server.requests)


async def test_a_walk_resumes_from_a_checkpointed_cursor(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/conversations", ok({"data": [{"id": "9"}]}))
    pages = [p async for p in client.iter_conversation_pages(start_cursor="saved")]
    assert [p.cursor for p in pages] == ["saved"]
    assert server.requests[0].query["cursor"] == "saved"


async def test_a_repeated_cursor_raises_pagination_error(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue(
        "GET",
        "/api/conversations",
        ok({"data": [{"id": "1"}], "nextCursor": "a"}),
        ok({"data": [{"id": "2"}], "nextCursor": "b"}),
        ok({"data": [{"id": "1"}], "nextCursor": "a"}),
        ok({"data": []}),
    )
    seen = []
    with pytest.raises(PaginationError):
        async for page in client.iter_conversation_pages():
            seen.append(page.next_cursor)
    assert seen == ["a", "b"]
    assert len(server.requests) == 3


# -- the shared budget and the hooks ------------------------------------------------------------


async def test_every_call_shares_one_concurrency_limit(
    server: ScriptedApi, clock: FakeClock
) -> None:
    gate = asyncio.Event()
    for n in range(6):
        server.queue("GET", f"/api/conversations/c{n}", Reply(200, {"id": f"c{n}"}, gate=gate))
    async with scripted_client(server, clock, max_concurrency=2) as api:
        calls = [asyncio.create_task(api.get_conversation(f"c{n}")) for n in range(6)]
        for _ in range(10_000):
            if server.in_flight == 2 and api.budget.waiting == 4:
                break
            await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*calls)
    assert server.peak_in_flight == 2


async def test_the_request_hook_sees_every_attempt(server: ScriptedApi, clock: FakeClock) -> None:
    seen: list[tuple[str, int | None]] = []
    waits: list[float] = []
    server.queue("GET", "/api/attention-items", fail(500), ok([]), ok([]))
    async with scripted_client(
        server,
        clock,
        rng=lambda: 0.0,
        max_requests_per_s=1.0,
        burst=1.0,
        on_request=lambda route, status, duration: seen.append((route, status)),
        on_rate_limit_wait=waits.append,
    ) as api:
        await api.list_attention_items()
        await api.list_attention_items()
    assert seen == [
        ("list_attention_items", 500),
        ("list_attention_items", 200),
        ("list_attention_items", 200),
    ]
    assert waits == [pytest.approx(1.0), pytest.approx(1.0)]


async def test_each_method_defaults_to_its_priority(
    server: ScriptedApi, client: OhalloClient
) -> None:
    used: list[Priority] = []
    acquire = client.budget.acquire

    async def spy(priority: Priority = Priority.DETAIL) -> None:
        used.append(priority)
        await acquire(priority)

    client.budget.acquire = spy  # type: ignore[method-assign]
    server.queue("GET", "/api/attention-items", ok([]))
    server.queue("GET", "/api/conversations", ok({"data": []}), ok({"data": []}))
    server.queue("GET", "/api/conversations/c1", ok({"id": "c1"}))
    server.queue("POST", "/api/conversations/c1/approve", ok())
    await client.list_attention_items()
    await client.list_conversations()
    await client.get_conversation("c1")
    await client.approve("c1")
    await client.list_conversations(priority=Priority.RECONCILE)
    assert used == [
        Priority.ATTENTION,
        Priority.HOT,
        Priority.DETAIL,
        Priority.ATTENTION,
        Priority.RECONCILE,
    ]


# -- construction ----------------------------------------------------------------------------------


async def test_from_settings_uses_the_api_section(server: ScriptedApi) -> None:
    server.queue("GET", "/api/attention-items", ok([]))
    settings = ApiSettings(base_url=server.base_url, token=SecretStr(TOKEN), max_concurrency=3)
    async with OhalloClient.from_settings(settings) as api:
        await api.list_attention_items()
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_from_settings_without_a_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"api\.token"):
        OhalloClient.from_settings(ApiSettings())


@pytest.mark.parametrize("token", ["", "sf_live_v1_abc\n", "sf_live_v1_a b", "sf_live_v1_é"])
def test_a_token_httpx_would_reject_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(ConfigError) as info:
        OhalloClient("http://api.test", token)
    assert token.strip() == "" or token.strip() not in str(info.value)
