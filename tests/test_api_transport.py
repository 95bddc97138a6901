"""AiohttpTransport on its own: what httpx's transport contract promises, over loopback sockets.

The exchange as sent and received (method, URL exactly as built, headers, body, status, raw
headers, undecoded bytes that httpx then decodes), no redirects followed, and every failure raised
as the httpx exception the retry policy classifies.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from syncd.api.retry import TransportFailure, classify_transport_error
from syncd.api.transport import AiohttpTransport

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport()
    yield t
    await t.aclose()


TIMEOUT = httpx.Timeout(5.0).as_dict()


def request(method: str, url: str, **kw: object) -> httpx.Request:
    return httpx.Request(method, url, extensions={"timeout": TIMEOUT}, **kw)  # type: ignore[arg-type]


async def test_the_request_goes_out_as_built_and_the_answer_comes_back_whole(
    transport: AiohttpTransport,
) -> None:
    seen: dict[str, object] = {}

    async def handler(req: web.Request) -> web.Response:
        seen.update(
            method=req.method,
            path_qs=req.raw_path,
            headers=dict(req.headers),
            body=await req.read(),
        )
        return web.Response(status=201, body=b'{"ok":true}', headers={"X-Thing": "1"})

    runner, base = await serve(handler)
    try:
        sent = request(
            "POST",
            f"{base}/api/conversations/a%2Fb/reply?x=1&y=%C3%A7",
            headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
            content=b'{"content":"hi"}',
        )
        response = await transport.handle_async_request(sent)
        await response.aread()
    finally:
        await runner.cleanup()
    assert seen["method"] == "POST"
    assert seen["path_qs"] == "/api/conversations/a%2Fb/reply?x=1&y=%C3%A7"
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["Authorization"] == "Bearer t"
    assert "User-Agent" not in headers, "only what the request carries goes out"
    assert seen["body"] == b'{"content":"hi"}'
    assert response.status_code == 201
    assert response.headers["x-thing"] == "1"
    assert response.json() == {"ok": True}
    assert response.http_version == "HTTP/1.1"
    assert response.request is sent


async def test_a_compressed_body_is_handed_over_undecoded_and_httpx_decodes_it(
    transport: AiohttpTransport,
) -> None:
    body = b'[{"id":"a1"}]'

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(body), headers={"Content-Encoding": "gzip"})

    runner, base = await serve(handler)
    try:
        response = await transport.handle_async_request(request("GET", f"{base}/x"))
        await response.aread()
    finally:
        await runner.cleanup()
    assert response.content == body


async def test_redirects_are_not_followed(transport: AiohttpTransport) -> None:
    async def handler(req: web.Request) -> web.Response:
        if req.path == "/old":
            return web.Response(status=302, headers={"Location": "/new"})
        return web.Response(text="followed")

    runner, base = await serve(handler)
    try:
        response = await transport.handle_async_request(request("GET", f"{base}/old"))
        await response.aread()
    finally:
        await runner.cleanup()
    assert response.status_code == 302
    assert response.headers["location"] == "/new"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_connection_is_a_connect_error(transport: AiohttpTransport) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        await transport.handle_async_request(request("GET", f"http://127.0.0.1:{free_port()}/"))
    assert classify_transport_error(caught.value) is TransportFailure.CONNECT


async def test_no_answer_in_time_is_a_read_timeout(transport: AiohttpTransport) -> None:
    release = asyncio.Event()

    async def handler(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    runner, base = await serve(handler)
    try:
        slow = httpx.Request(
            "GET", f"{base}/slow", extensions={"timeout": httpx.Timeout(0.2).as_dict()}
        )
        with pytest.raises(httpx.ReadTimeout) as caught:
            await transport.handle_async_request(slow)
    finally:
        release.set()
        await runner.cleanup()
    assert classify_transport_error(caught.value) is TransportFailure.TIMEOUT


async def test_a_connection_dropped_before_the_answer_is_a_protocol_error(
    transport: AiohttpTransport,
) -> None:
    async def handler(req: web.Request) -> web.Response:
        assert req.transport is not None
        req.transport.close()
        return web.Response(status=500)

    runner, base = await serve(handler)
    try:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await transport.handle_async_request(request("GET", f"{base}/drop"))
    finally:
        await runner.cleanup()
    assert classify_transport_error(caught.value) is TransportFailure.NETWORK


async def test_a_closed_transport_refuses_requests_and_closing_twice_is_fine() -> None:
    t = AiohttpTransport()
    await t.aclose()
    await t.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await t.handle_async_request(request("GET", "http://127.0.0.1:1/"))
