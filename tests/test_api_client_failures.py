"""The client's failure handling: retries, error mapping, broken bodies, and secrets."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from structlog.testing import capture_logs
from test_api_support import (
    ROW,
    TOKEN,
    Reply,
    ScriptedApi,
    fail,
    flaky_transport,
    ok,
    scripted_client,
)
from test_api_support import client as client
from test_api_support import clock as clock
from test_api_support import server as server

from syncd.api import OhalloClient
from syncd.api.testing import FakeClock
from syncd.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
)

# -- retries and errors ---------------------------------------------------------------------------


async def test_a_429_waits_the_retry_after_seconds_then_succeeds(
    server: ScriptedApi, client: OhalloClient, clock: FakeClock
) -> None:
    server.queue("GET", "/api/attention-items", fail(429, **{"Retry-After": "3"}), ok([]))
    await client.list_attention_items()
    assert clock.sleeps == [3.0]
    assert server.count("GET", "/api/attention-items") == 2


async def test_a_429_retry_after_http_date_is_honoured(
    server: ScriptedApi, client: OhalloClient, clock: FakeClock
) -> None:
    when = format_datetime(clock.now() + timedelta(seconds=12), usegmt=True)
    server.queue("GET", "/api/attention-items", fail(429, **{"Retry-After": when}), ok([]))
    await client.list_attention_items()
    assert clock.sleeps == [pytest.approx(12.0)]


async def test_a_429_without_retry_after_backs_off_with_jitter(
    server: ScriptedApi, client: OhalloClient, clock: FakeClock
) -> None:
    server.queue("GET", "/api/attention-items", fail(429), fail(429), ok([]))
    await client.list_attention_items()
    assert clock.sleeps == [0.25, 0.5]  # rng 0.5 x 0.5 s x 2**(attempt-1)


async def test_a_429_retry_after_beyond_the_cap_is_raised_with_the_wait(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/attention-items", fail(429, **{"Retry-After": "7200"}))
    with pytest.raises(RateLimited) as info:
        await client.list_attention_items()
    assert info.value.retry_after == 7200.0
    assert server.count("GET", "/api/attention-items") == 1


async def test_5xx_is_retried_then_succeeds(server: ScriptedApi, clock: FakeClock) -> None:
    retries: list[tuple[str, str]] = []
    server.queue("GET", "/api/conversations/c1", fail(500), fail(503), ok({"id": "c1"}))
    async with scripted_client(
        server,
        clock,
        rng=lambda: 0.5,
        burst=10.0,
        on_retry=lambda route, reason: retries.append((route, reason)),
    ) as api:
        detail = await api.get_conversation("c1")
    assert detail.id == "c1"
    assert clock.sleeps == [0.25, 0.5]
    assert retries == [("get_conversation", "server_error")] * 2


async def test_5xx_gives_up_after_max_attempts(server: ScriptedApi, client: OhalloClient) -> None:
    server.queue("GET", "/api/conversations/c1", *[fail(502, "bad gateway")] * 5)
    with pytest.raises(ServerError, match="502 bad gateway") as info:
        await client.get_conversation("c1")
    assert info.value.status == 502
    assert server.count("GET", "/api/conversations/c1") == 4


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_raise_at_once_without_retry(
    server: ScriptedApi, client: OhalloClient, clock: FakeClock, status: int
) -> None:
    server.queue("GET", "/api/attention-items", fail(status, "invalid API key"), ok([]))
    with pytest.raises(AuthError, match="invalid API key") as info:
        await client.list_attention_items()
    assert info.value.status == status
    assert server.count("GET", "/api/attention-items") == 1
    assert clock.sleeps == []


async def test_404_raises_not_found(server: ScriptedApi, client: OhalloClient) -> None:
    server.queue("GET", "/api/conversations/gone", fail(404, "conversation not found"))
    with pytest.raises(NotFound, match="conversation not found"):
        await client.get_conversation("gone")


async def test_other_4xx_raise_api_error_with_the_servers_message(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue(
        "GET", "/api/conversations", fail(400, "limit must be at most 100"), ok({"data": []})
    )
    with pytest.raises(ApiError, match="limit must be at most 100") as info:
        await client.list_conversations()
    assert type(info.value) is ApiError
    assert info.value.status == 400
    assert info.value.path == "/api/conversations"
    assert server.count("GET", "/api/conversations") == 1


async def test_an_error_body_that_is_not_json_falls_back_to_the_reason_phrase(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/conversations", Reply(400, raw=b"<html>nope</html>"))
    with pytest.raises(ApiError, match="400 Bad Request"):
        await client.list_conversations()


async def test_a_post_is_not_retried_after_a_5xx(server: ScriptedApi, client: OhalloClient) -> None:
    server.queue("POST", "/api/conversations/c1/reply", fail(503), ok())
    with pytest.raises(ServerError):
        await client.reply("c1", "hi")
    assert server.count("POST", "/api/conversations/c1/reply") == 1


async def test_a_post_is_retried_after_a_429(
    server: ScriptedApi, client: OhalloClient, clock: FakeClock
) -> None:
    server.queue("POST", "/api/conversations/c1/reply", fail(429, **{"Retry-After": "1"}), ok())
    await client.reply("c1", "hi")
    assert server.count("POST", "/api/conversations/c1/reply") == 2
    assert clock.sleeps == [1.0]


# -- bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b'{"data": [', b""])
async def test_a_2xx_body_that_is_not_json_raises_malformed_response(
    server: ScriptedApi, client: OhalloClient, raw: bytes
) -> None:
    server.queue("GET", "/api/conversations", Reply(200, raw=raw))
    with pytest.raises(MalformedResponse, match="GET /api/conversations"):
        await client.list_conversations()


async def test_a_2xx_body_of_the_wrong_shape_raises_malformed_response(
    server: ScriptedApi, client: OhalloClient
) -> None:
    server.queue("GET", "/api/conversations/c1/messages", ok({"data": []}))
    with pytest.raises(MalformedResponse):
        await client.get_messages("c1")


async def test_a_malformed_row_is_logged_and_the_page_still_returned(
    server: ScriptedApi, client: OhalloClient
) -> None:
    bad = {"id": "c2", "lastMessageAt": "not-a-date"}
    server.queue("GET", "/api/conversations", ok({"data": [ROW, bad, {"status": "x"}]}))
    with capture_logs() as logs:
        page = await client.list_conversations()
    assert [row.id for row in page.rows] == ["c1"]
    assert [m.id for m in page.malformed] == ["c2", None]
    warnings = [e for e in logs if e["event"] == "row_malformed"]
    assert [(e["id"], e["log_level"]) for e in warnings] == [("c2", "warning"), (None, "warning")]
    assert "lastMessageAt" in warnings[0]["error"]


async def test_a_malformed_row_without_an_id_is_logged_with_what_finds_it(
    server: ScriptedApi, client: OhalloClient
) -> None:
    preview = "Bonjour, ma commande n'est jamais arrivée et j'attends depuis trois semaines déjà"
    bad = {
        "workspaceId": "ws1",
        "status": "open",
        "lastMessageAt": "2026-03-15T14:30:00Z",
        "lastMessagePreview": preview,
    }
    server.queue("GET", "/api/conversations", ok({"data": [ROW, ROW | {"id": "c3"}, bad]}))
    with capture_logs() as logs:
        page = await client.list_conversations()
    assert [m.id for m in page.malformed] == [None]
    (warning,) = [e for e in logs if e["event"] == "row_malformed"]
    assert warning["path"].endswith("data[2]")
    assert warning["last_message_at"] == "2026-03-15T14:30:00Z"
    assert warning["last_message_preview"] == preview[:60]
    assert (warning["workspace_id"], warning["status"]) == ("ws1", "open")


# -- transport failures (httpx mock transport: the failure happens before any server) ------------


async def test_a_post_is_retried_when_the_connection_was_never_made(clock: FakeClock) -> None:
    transport, calls = flaky_transport(httpx.ConnectError("refused"))
    async with OhalloClient("http://api.test", TOKEN, transport=transport, clock=clock) as api:
        await api.release("c1")
    assert calls == ["POST", "POST"]


async def test_a_post_is_not_retried_after_a_read_timeout(clock: FakeClock) -> None:
    transport, calls = flaky_transport(httpx.ReadTimeout("slow"))
    async with OhalloClient("http://api.test", TOKEN, transport=transport, clock=clock) as api:
        with pytest.raises(ServerError, match="timeout"):
            await api.release("c1")
    assert calls == ["POST"]


async def test_a_get_is_retried_after_timeouts_and_dropped_connections(clock: FakeClock) -> None:
    transport, calls = flaky_transport(
        httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed"), body=[]
    )
    async with OhalloClient("http://api.test", TOKEN, transport=transport, clock=clock) as api:
        assert len(await api.get_attachments("c1")) == 0
    assert calls == ["GET"] * 3


async def test_an_unreachable_server_raises_server_error_after_the_budget(clock: FakeClock) -> None:
    transport, calls = flaky_transport(*[httpx.ConnectError("refused")] * 10)
    async with OhalloClient(
        "http://api.test", TOKEN, transport=transport, clock=clock, max_attempts=3
    ) as api:
        with pytest.raises(ServerError, match="connect_error after 3 attempt"):
            await api.get_status_counts("ws1")
    assert len(calls) == 3


# -- secrets -------------------------------------------------------------------------------------


async def test_the_token_never_appears_in_logs_or_errors_of_failing_requests(
    server: ScriptedApi, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A hostile server echoing the credentials back in its error text.
    echo = f"bad credentials: Bearer {TOKEN}"
    server.queue("GET", "/api/attention-items", fail(401, echo))
    server.queue("GET", "/api/conversations/c1", *[fail(500, echo)] * 3)
    server.queue("POST", "/api/conversations/c1/reply", fail(422, echo))
    transport, _ = flaky_transport(*[httpx.ConnectError(f"refused {TOKEN}")] * 3)
    errors: list[BaseException] = []
    with capture_logs() as logs:
        async with (
            scripted_client(server, clock, max_attempts=3) as api,
            OhalloClient(
                "http://api.test", TOKEN, clock=clock, transport=transport, max_attempts=3
            ) as unreachable,
        ):
            calls = [
                api.list_attention_items(),
                api.get_conversation("c1"),
                api.reply("c1", "hi"),
                unreachable.get_conversation("c1"),
            ]
            for call in calls:
                with pytest.raises(ApiError) as info:
                    await call
                errors.append(info.value)
            texts = [repr(api), repr(unreachable)]
    assert len(logs) >= 5
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [repr(e.args) for e in errors]
    texts += [repr(event) for event in logs]
    texts += [record.getMessage() for record in caplog.records]
    assert all(TOKEN not in text for text in texts)
    assert any("***" in str(e) for e in errors)
