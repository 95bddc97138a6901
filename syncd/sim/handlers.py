"""The HTTP face of the simulator: routes, auth, fault injection and the API's JSON shapes."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from syncd.sim.faults import Fault
from syncd.sim.listing import BadRequest, parse_list_query
from syncd.sim.model import JSONObject
from syncd.sim.simulator import Simulator, truncate_json
from syncd.sim.state import Conflict, UnknownObject

log = structlog.get_logger(__name__)

TOKEN_PREFIXES = ("sf_live_v1_", "sf_test_v1_")
EXAMPLE_TOKEN = "sf_test_v1_syncdSimulatorExampleKey0000000"  # noqa: S105 (any key works)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as it arrived: route name, method, path with query, monotonic time."""

    route: str
    method: str
    path: str
    at: float


class RequestRecorder:
    """Counts requests per route name and keeps the most recent ones; thread-safe."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._log: deque[RequestRecord] = deque(maxlen=keep)

    def record(self, route: str, method: str, path: str) -> None:
        """Count one arriving request."""
        with self._lock:
            self._counts[route] += 1
            self._log.append(RequestRecord(route, method, path, time.monotonic()))

    def counts(self) -> Counter[str]:
        """A copy of the counts by route name."""
        with self._lock:
            return Counter(self._counts)

    def log(self) -> list[RequestRecord]:
        """A copy of the recent requests, oldest first."""
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        """Forget every count and record."""
        with self._lock:
            self._counts.clear()
            self._log.clear()


def json_response(payload: Any, status: int = 200) -> web.Response:
    """A JSON response, UTF-8 (not ASCII-escaped, as real servers send it)."""
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(status: int, message: str, retry_after: float | None = None) -> web.Response:
    """The API's error shape ``{"error": message}``, with ``Retry-After`` when given."""
    response = json_response({"error": message}, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(0, math.ceil(retry_after)))
    return response


def is_authorized(request: web.Request) -> bool:
    """A bearer key with a known oHallo prefix and something after it."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return scheme.lower() == "bearer" and any(
        token.startswith(prefix) and len(token) > len(prefix) for prefix in TOKEN_PREFIXES
    )


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection without a response (what a crashed upstream does)."""
    transport = request.transport
    if transport is not None:
        transport.close()
    # aiohttp ignores the write to the closed transport (a "premature disconnection").
    return web.Response(status=500)


async def json_body(request: web.Request) -> JSONObject:
    """The request's JSON object; an empty body is ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def optional_text(body: JSONObject, name: str) -> str | None:
    """A body field that must be text when present."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


async def _sleep_until(loop: asyncio.AbstractEventLoop, due: float) -> None:
    remaining = due - loop.time()
    if remaining > 0:
        await asyncio.sleep(remaining)


class SimHandlers:
    """The route handlers over one ``Simulator``."""

    def __init__(self, sim: Simulator, recorder: RequestRecorder) -> None:
        self.sim = sim
        self.recorder = recorder

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count, delay, inject faults, check auth, hold, map errors to the API's error shape.

        With a latency set, every answer leaves that long after its request arrived: the
        simulator's own work happens within the latency, as a real server's does, so a busy
        simulator does not slow its answers down beyond it.
        """
        route = request.match_info.route.name
        if route is None:
            problem = request.match_info.http_exception
            status = problem.status if problem is not None else 404
            return error_response(status, "not found" if status == 404 else "method not allowed")
        self.recorder.record(route, request.method, request.path_qs)
        loop = asyncio.get_running_loop()
        due = loop.time() + self.sim.faults.latency_ms / 1000
        fault = self.sim.faults.decide(route)
        if fault is not None and fault.kind == "drop":
            await _sleep_until(loop, due)
            return drop_connection(request)
        response = await self._answer(request, handler, route, fault)
        await _sleep_until(loop, due)
        return response

    async def _answer(
        self, request: web.Request, handler: Handler, route: str, fault: Fault | None
    ) -> web.StreamResponse:
        if fault is not None and fault.kind != "malformed":
            return self._inject(request, route, fault)
        if not is_authorized(request):
            return error_response(401, "missing or invalid API key")
        hold = self.sim.holds.claim(route, request.path_qs)
        if hold is None:
            return await self._handle(request, handler, route, fault)
        try:
            response = await self._handle(request, handler, route, fault)
        except BaseException:
            hold.rendered.set()
            raise
        await hold.hold()  # rendered now; sent once the test releases it
        return response

    async def _handle(
        self, request: web.Request, handler: Handler, route: str, fault: Fault | None
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except BadRequest as exc:
            return error_response(400, str(exc))
        except UnknownObject as exc:
            return error_response(404, str(exc))
        except Conflict as exc:
            return error_response(409, str(exc))
        if fault is not None and isinstance(response, web.Response) and response.body:
            log.debug("sim_fault", route=route, fault="malformed")
            body = response.body
            assert isinstance(body, bytes)
            return web.Response(
                body=truncate_json(body), content_type="application/json", charset="utf-8"
            )
        return response

    def _inject(self, request: web.Request, route: str, fault: Fault) -> web.Response:
        log.debug("sim_fault", route=route, fault=fault.kind, status=fault.status)
        if fault.kind == "drop":
            return drop_connection(request)
        if fault.status == 429:
            return error_response(429, "rate limit exceeded", fault.retry_after)
        message = "internal server error" if fault.status >= 500 else "request refused"
        return error_response(fault.status, message, fault.retry_after)

    # -- reads ---------------------------------------------------------------------------------

    async def list_conversations(self, request: web.Request) -> web.Response:
        """``GET /api/conversations``."""
        return json_response(self.sim.list_conversations(parse_list_query(request.query)))

    async def get_conversation(self, request: web.Request) -> web.Response:
        """``GET /api/conversations/{id}`` (broken JSON when the conversation is malformed)."""
        body = self.sim.detail_body(request.match_info["conversation_id"])
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def get_messages(self, request: web.Request) -> web.Response:
        """``GET /api/conversations/{id}/messages``."""
        return json_response(self.sim.messages(request.match_info["conversation_id"]))

    async def get_attachments(self, request: web.Request) -> web.Response:
        """``GET /api/conversations/{id}/attachments``."""
        return json_response(self.sim.attachments(request.match_info["conversation_id"]))

    async def list_attention_items(self, request: web.Request) -> web.Response:
        """``GET /api/attention-items`` (bare array, unpaginated)."""
        query = request.query
        return json_response(
            self.sim.list_attention_items(
                workspace_id=query.get("workspaceId") or None,
                status=query.get("status") or None,
                conversation_id=query.get("conversationId") or None,
            )
        )

    async def status_counts(self, request: web.Request) -> web.Response:
        """``GET /api/workspaces/{id}/conversations/status-counts``."""
        return json_response(self.sim.status_counts(request.match_info["workspace_id"]))

    # -- actions -------------------------------------------------------------------------------

    async def post_reply(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/reply`` ``{"content"}``."""
        body = await json_body(request)
        content = optional_text(body, "content")
        self.sim.reply(request.match_info["conversation_id"], content or "")
        return json_response({"ok": True})

    async def post_resolve(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/resolve`` ``{"outcome"?}``."""
        body = await json_body(request)
        self.sim.resolve(request.match_info["conversation_id"], optional_text(body, "outcome"))
        return json_response({"ok": True})

    async def post_take_over(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/take-over``."""
        await json_body(request)
        self.sim.take_over(request.match_info["conversation_id"])
        return json_response({"ok": True})

    async def post_release(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/release``."""
        await json_body(request)
        self.sim.release(request.match_info["conversation_id"])
        return json_response({"ok": True})

    async def post_assign(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/assign`` ``{"userId"}``."""
        body = await json_body(request)
        user_id = optional_text(body, "userId")
        self.sim.assign(request.match_info["conversation_id"], user_id or "")
        return json_response({"ok": True})

    async def post_unassign(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/unassign``."""
        await json_body(request)
        self.sim.unassign(request.match_info["conversation_id"])
        return json_response({"ok": True})

    async def post_approve(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/{id}/approve``."""
        await json_body(request)
        self.sim.approve(request.match_info["conversation_id"])
        return json_response({"ok": True})

    async def post_compose(self, request: web.Request) -> web.Response:
        """``POST /api/conversations/compose``; answers ``{"conversationId"}``."""
        body = await json_body(request)
        fields = {
            name: optional_text(body, name)
            for name in (
                "workspaceId",
                "channelId",
                "content",
                "contactEmail",
                "contactId",
                "contactPhone",
                "contactName",
                "subject",
            )
        }
        if not fields["workspaceId"] or not fields["channelId"]:
            raise BadRequest("workspaceId and channelId are required")
        conversation_id = self.sim.compose(
            fields["workspaceId"],
            fields["channelId"],
            fields["content"] or "",
            contact_email=fields["contactEmail"],
            contact_id=fields["contactId"],
            contact_phone=fields["contactPhone"],
            contact_name=fields["contactName"],
            subject=fields["subject"],
        )
        return json_response({"conversationId": conversation_id})

    async def post_resolve_attention_item(self, request: web.Request) -> web.Response:
        """``POST /api/attention-items/{id}/resolve`` ``{"reason"?}``."""
        body = await json_body(request)
        self.sim.resolve_attention_item(
            request.match_info["item_id"], optional_text(body, "reason")
        )
        return json_response({"ok": True})


def build_app(sim: Simulator, recorder: RequestRecorder) -> web.Application:
    """The aiohttp application serving every endpoint of API.md."""
    handlers = SimHandlers(sim, recorder)
    app = web.Application(middlewares=[handlers.middleware])
    conversation = "/api/conversations/{conversation_id}"
    routes = (
        ("GET", "/api/conversations", "list_conversations"),
        ("POST", "/api/conversations/compose", "post_compose"),
        ("GET", conversation, "get_conversation"),
        ("GET", f"{conversation}/messages", "get_messages"),
        ("GET", f"{conversation}/attachments", "get_attachments"),
        ("GET", "/api/attention-items", "list_attention_items"),
        ("GET", "/api/workspaces/{workspace_id}/conversations/status-counts", "status_counts"),
        ("POST", f"{conversation}/reply", "post_reply"),
        ("POST", f"{conversation}/resolve", "post_resolve"),
        ("POST", f"{conversation}/take-over", "post_take_over"),
        ("POST", f"{conversation}/release", "post_release"),
        ("POST", f"{conversation}/assign", "post_assign"),
        ("POST", f"{conversation}/unassign", "post_unassign"),
        ("POST", f"{conversation}/approve", "post_approve"),
        ("POST", "/api/attention-items/{item_id}/resolve", "post_resolve_attention_item"),
    )
    for method, path, name in routes:
        app.router.add_route(method, path, getattr(handlers, name), name=name)
    return app
