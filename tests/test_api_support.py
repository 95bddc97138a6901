"""Shared by the client's HTTP tests: a scripted aiohttp server on loopback and mock transports.

The scripted server answers each request with the next queued reply for its method and path, so
429/5xx/401 sequences, cursor loops and broken bodies are exact.

Fixtures ``server`` (a started ``ScriptedApi``), ``clock`` (a ``FakeClock``) and ``client`` (an
``OhalloClient`` of the two with a fixed jitter and a budget that never waits); a test module
takes them with ``from test_api_support import client as client`` (the alias marks the name as
used, for ruff).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from syncd.api import OhalloClient
from syncd.api.testing import FakeClock

TOKEN = "sf_test_v1_TopSecretValueThatMustNeverLeak42"


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    gate: asyncio.Event | None = None


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ScriptedApi:
    """An aiohttp server on 127.0.0.1 answering from per-(method, path) queues."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], deque[Reply]] = {}
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def queue(self, method: str, path: str, *replies: Reply) -> None:
        self.replies.setdefault((method, path), deque()).extend(replies)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.raw_path == path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        self.requests.append(
            Seen(
                request.method,
                path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            pending = self.replies.get((request.method, path))
            if not pending:
                return web.json_response({"error": "no scripted reply"}, status=418)
            reply = pending.popleft()
            if reply.gate is not None:
                await reply.gate.wait()
            raw = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            return web.Response(body=raw, status=reply.status, headers=reply.headers)
        finally:
            self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def ok(body: Any = None, **kw: Any) -> Reply:
    return Reply(200, {"ok": True} if body is None else body, **kw)


def fail(status: int, error: str = "boom", **headers: str) -> Reply:
    return Reply(status, {"error": error}, headers=headers)


ROW = {"id": "c1", "workspaceId": "ws1", "status": "open", "lastMessageAt": "2026-03-15T14:30:00Z"}


def flaky_transport(
    *failures: Exception, body: Any = None
) -> tuple[httpx.MockTransport, list[str]]:
    calls: list[str] = []
    pending = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if pending:
            raise pending.pop(0)
        return httpx.Response(200, json={"ok": True} if body is None else body)

    return httpx.MockTransport(handler), calls


def scripted_client(server: ScriptedApi, clock: FakeClock, **options: Any) -> OhalloClient:
    """An ``OhalloClient`` of the scripted server on the fake clock; ``options`` as it takes."""
    return OhalloClient(server.base_url, TOKEN, clock=clock, **options)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedApi]:
    api = ScriptedApi()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(server: ScriptedApi, clock: FakeClock) -> AsyncIterator[OhalloClient]:
    async with scripted_client(
        server,
        clock,
        rng=lambda: 0.5,
        max_requests_per_s=1000.0,
        burst=1000.0,
        max_attempts=4,
    ) as api:
        yield api
