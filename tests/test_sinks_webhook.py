"""The webhook sink against a real HTTP receiver that verifies every request (Standard Webhooks)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from sink_support import outbox_event
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from syncd.config import WebhookSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks import RetryableDelivery, SinkGone, build_sink
from syncd.events.sinks.webhook import WebhookSink, decode_secret, sign

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def make_event(seq: int = 1, **data: Any) -> OutboxEvent:
    fields = {"id": f"conv_{seq}", "status": "open", "contactName": "Zoë Ünal", **data}
    return outbox_event(seq, "conversation.created", f"conv_{seq}", fields)


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]
    verified: bool


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that verifies and records requests, and answers as told.

    Every request is checked with the reference implementation against ``secret``; the test
    fails at teardown if one did not verify.
    """

    secret: str
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    handler: Handler | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def verify(self, secret: str, index: int = -1) -> Any:
        request = self.requests[index]
        return Webhook(secret).verify(request.body, request.headers)


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
async def receiver(secret: str) -> AsyncIterator[Receiver]:
    state = Receiver(secret)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        try:
            Webhook(state.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        state.requests.append(Received(request.path, body, headers, verified))
        if state.handler is not None:
            return await state.handler(request)
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    state.release.set()
    await runner.cleanup()
    assert all(request.verified for request in state.requests), "a request did not verify"


def answer(status: int, text: str = "", headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=text, headers=headers)

    return handler


@pytest.fixture
async def make_sink(receiver: Receiver) -> AsyncIterator[Callable[..., WebhookSink]]:
    sinks: list[WebhookSink] = []

    def make(secrets: list[str], **kwargs: Any) -> WebhookSink:
        sink = WebhookSink("hook", kwargs.pop("url", receiver.url), secrets, **kwargs)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        await sink.close()


async def test_delivered_request_carries_exact_payload_and_verifies(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    sink = make_sink([secret], headers={"X-Team": "ops"})
    event = make_event()
    await sink.deliver([event])

    [request] = receiver.requests
    assert request.body == event.payload.encode("utf-8")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == event.id
    assert request.headers["X-Team"] == "ops"
    assert receiver.verify(secret)["id"] == event.id


async def test_tampered_body_fails_verification(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    await make_sink([secret]).deliver([make_event()])
    request = receiver.requests[0]
    tampered = request.body.replace(b'"open"', b'"resolved"')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(new_secret())


async def test_rotated_secrets_verify_with_either_secret(
    receiver: Receiver, make_sink: Callable[..., WebhookSink]
) -> None:
    old, new = new_secret(), new_secret()
    receiver.secret = new  # the receiver knows only the second secret
    await make_sink([old, new]).deliver([make_event()])
    assert receiver.requests[0].verified
    signatures = receiver.requests[0].headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(entry.startswith("v1,") for entry in signatures)
    receiver.verify(old)


async def test_each_attempt_is_signed_afresh_with_its_own_timestamp(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    moments = iter([start, start + timedelta(seconds=30)])
    sink = make_sink([secret], clock=lambda: next(moments))
    event = make_event()
    receiver.handler = answer(500, "try later")
    with pytest.raises(RetryableDelivery):
        await sink.deliver([event])
    receiver.handler = None
    await sink.deliver([event])

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.id
    assert first.headers["webhook-timestamp"] == str(int(start.timestamp()))
    assert second.headers["webhook-timestamp"] == str(int(start.timestamp()) + 30)
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    receiver.verify(secret, 0)
    receiver.verify(secret, 1)


async def test_redirect_is_not_followed_and_names_the_location(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    target = receiver.url.replace("/hook", "/moved") + "?token=abcdef123"
    receiver.handler = answer(301, headers={"Location": target})
    with pytest.raises(RetryableDelivery) as caught:
        await make_sink([secret]).deliver([make_event()])
    message = str(caught.value)
    assert "301 redirect" in message
    assert receiver.url.replace("/hook", "/moved") in message
    assert "abcdef123" not in message
    assert [request.path for request in receiver.requests] == ["/hook"]


async def test_410_means_the_sink_is_gone(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    receiver.handler = answer(410, "unsubscribed")
    with pytest.raises(SinkGone, match="410"):
        await make_sink([secret]).deliver([make_event()])


@pytest.mark.parametrize("retry_after", ["7", "HTTP-DATE"])
async def test_429_is_retried_after_the_receivers_retry_after(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str, retry_after: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # near real time: the receiver checks it
    if retry_after == "HTTP-DATE":
        retry_after = format_datetime(now + timedelta(seconds=7), usegmt=True)
    receiver.handler = answer(429, "slow down", {"Retry-After": retry_after})
    sink = make_sink([secret], clock=lambda: now)
    with pytest.raises(RetryableDelivery) as caught:
        await sink.deliver([make_event()])
    assert caught.value.retry_after == 7
    assert "429" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str, status: int
) -> None:
    receiver.handler = answer(status, "upstream broke")
    with pytest.raises(RetryableDelivery) as caught:
        await make_sink([secret]).deliver([make_event()])
    assert str(status) in str(caught.value)
    assert "upstream broke" in str(caught.value)
    assert caught.value.retry_after is None


async def test_other_4xx_is_retried_with_a_bounded_snippet_and_no_secret(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    async def echo_headers(request: web.Request) -> web.StreamResponse:
        echoed = " ".join(f"{name}={value}" for name, value in request.headers.items())
        return web.Response(status=400, text=f"bad request; you sent {echoed} " + "x" * 5000)

    receiver.handler = echo_headers
    sink = make_sink([secret], headers={"Authorization": "Bearer sf_live_v1_topsecretvalue"})
    with pytest.raises(RetryableDelivery) as caught:
        await sink.deliver([make_event()])
    message = str(caught.value)
    assert "400" in message
    assert "bad request" in message
    assert len(message) < 400
    assert "topsecretvalue" not in message
    assert secret.removeprefix("whsec_") not in message


async def test_timeout_is_retried(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    async def never_answer(request: web.Request) -> web.StreamResponse:
        await receiver.release.wait()
        return web.Response(status=200)

    receiver.handler = never_answer
    with pytest.raises(RetryableDelivery, match=r"no response within 0\.2 s"):
        await make_sink([secret], timeout_s=0.2).deliver([make_event()])


async def test_connection_reset_is_retried(
    receiver: Receiver, make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    async def reset(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()  # with SO_LINGER 0: an RST, not a clean close
        await receiver.release.wait()
        return web.Response(status=200)

    receiver.handler = reset
    with pytest.raises(RetryableDelivery, match="connection failed"):
        await make_sink([secret]).deliver([make_event()])


async def test_refused_connection_is_retried(
    make_sink: Callable[..., WebhookSink], secret: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = make_sink([secret], url=f"http://127.0.0.1:{port}/hook")
    with pytest.raises(RetryableDelivery, match="connection failed"):
        await sink.deliver([make_event()])


async def test_build_sink_makes_a_working_webhook_sink(receiver: Receiver, secret: str) -> None:
    settings = WebhookSinkSettings(
        name="hook", type="webhook", url=receiver.url, secrets=[secret], timeout_s=5
    )
    sink = build_sink(settings)
    assert isinstance(sink, WebhookSink)
    assert sink.max_batch == 1
    async with sink:
        await sink.deliver([make_event(1), make_event(2)])
    assert [receiver.verify(secret, i)["data"]["id"] for i in (0, 1)] == ["conv_1", "conv_2"]


@given(
    key=st.binary(min_size=1, max_size=64),
    msg_id=st.text(min_size=1, max_size=40).filter(lambda s: "." not in s),
    timestamp=st.integers(min_value=0, max_value=2**33),
    body=st.text(max_size=200),
)
def test_signature_matches_the_standardwebhooks_reference(
    key: bytes, msg_id: str, timestamp: int, body: str
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    moment = datetime.fromtimestamp(timestamp, UTC)
    expected = Webhook(secret).sign(msg_id, moment, body)
    assert sign([decode_secret(secret)], msg_id, timestamp, body.encode()) == expected


def test_unpadded_secret_decodes_like_the_reference() -> None:
    key = os.urandom(10)
    padded = base64.b64encode(key).decode()
    assert padded.endswith("=")
    assert decode_secret("whsec_" + padded.rstrip("=")) == key


@pytest.mark.parametrize("bad", ["whsec_", "whsec_!!!!", "whsec_abcde"])
def test_undecodable_secret_is_a_config_error_without_the_secret(bad: str) -> None:
    from syncd.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        decode_secret(bad)
    body = bad.removeprefix("whsec_")
    assert not body or body not in str(caught.value)
