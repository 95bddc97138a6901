"""The request machinery under the oHallo client: budget, attempts, retry policy, error mapping.

Secrets: the token lives only in the ``Authorization`` header of the underlying httpx client.
Exception texts and log lines carry the method, the path (never the query), the status and the
server's ``error`` text, nothing else.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import structlog

import syncd
from syncd.api.limiter import ClientClock, Priority, RequestBudget, SystemClock
from syncd.api.retry import (
    DEFAULT_BASE_DELAY_S,
    DEFAULT_MAX_DELAY_S,
    RetryDecision,
    classify_transport_error,
    retry_decision,
)
from syncd.api.transport import AiohttpTransport, environment_proxies
from syncd.errors import (
    ApiError,
    AuthError,
    ConfigError,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
)
from syncd.masking import compile_secrets, redact_text

log = structlog.get_logger(__name__)

RequestHook = Callable[[str, int | None, float], None]
"""``on_request(route, status or None for a transport error, duration_s)``, once per attempt."""
RetryHook = Callable[[str, str], None]
"""``on_retry(route, reason)`` before each retry."""
WaitHook = Callable[[float], None]
"""``on_rate_limit_wait(seconds)`` whenever a request waits for a rate-limit token."""

USER_AGENT = f"syncd/{syncd.__version__}"
_MAX_ERROR_TEXT = 300


def _ignore(*_args: object) -> None:
    """The default hook: do nothing."""


def loads_json(content: bytes) -> Any:
    """Decode a JSON body: orjson (several times faster), the standard library for what orjson
    refuses but ``json`` reads (lone surrogates, integers beyond 64 bits, NaN/Infinity)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def path_segment(value: str) -> str:
    """An id as one path segment (ids are opaque: a slash must not open a new segment)."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"not a usable id: {value!r}")
    return quote(value, safe="")


class _ClientTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` as a transport: used when environment proxies apply."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request)

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    """How the client talks HTTP: limits, retries, and the seams tests and metrics plug into."""

    timeout_s: float = 30.0
    max_concurrency: int = 8
    max_requests_per_s: float = 20.0
    max_attempts: int = 6
    burst: float | None = None
    backoff_base_s: float = DEFAULT_BASE_DELAY_S
    max_retry_delay_s: float = DEFAULT_MAX_DELAY_S
    transport: httpx.AsyncBaseTransport | None = None
    clock: ClientClock | None = None
    rng: Callable[[], float] | None = None
    on_request: RequestHook | None = None
    on_retry: RetryHook | None = None
    on_rate_limit_wait: WaitHook | None = None


class HttpCore:
    """Sends one logical request: budget, attempts, retry policy, error mapping and decoding."""

    def __init__(self, base_url: str, token: str, options: HttpOptions) -> None:
        # A token httpx would reject as a header value would end up quoted in its error text.
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ConfigError(
                "api.token: empty or contains spaces, control or non-ASCII characters; "
                "paste the key exactly as issued"
            )
        if options.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._clock: ClientClock = options.clock or SystemClock()
        self._rng: Callable[[], float] = options.rng or random.random
        self._max_attempts = options.max_attempts
        self._backoff_base_s = options.backoff_base_s
        self._max_retry_delay_s = options.max_retry_delay_s
        self._on_request: RequestHook = options.on_request or _ignore
        self._on_retry: RetryHook = options.on_retry or _ignore
        self._secrets = compile_secrets([token])
        self.budget = RequestBudget(
            options.max_requests_per_s,
            options.max_concurrency,
            burst=options.burst,
            clock=self._clock,
            on_wait=options.on_rate_limit_wait,
        )
        self.base_url = base_url.rstrip("/")
        self._headers = httpx.Headers(
            {
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                # What httpx's client would ask for (it decodes these): smaller answers.
                "Accept-Encoding": "gzip, deflate",
            }
        )
        self._extensions = {"timeout": httpx.Timeout(options.timeout_s).as_dict()}
        self._transport: httpx.AsyncBaseTransport
        transport = options.transport
        if transport is None and environment_proxies():
            # httpx applies HTTP(S)_PROXY / NO_PROXY itself: its client picks the transport.
            self._transport = _ClientTransport(httpx.AsyncClient(follow_redirects=False))
        else:
            # httpx's own pool costs ~1 ms of CPU per request and its client layer (cookies,
            # auth flows, redirects, URL merging) ~0.1 ms more, none of which this API needs:
            # requests go straight to a transport (aiohttp's pool unless one is injected).
            self._transport = transport or AiohttpTransport()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    def redact(self, text: str) -> str:
        """``text`` with the token masked, cut to a log-friendly length."""
        return redact_text(text, self._secrets)[:_MAX_ERROR_TEXT]

    def _error_text(self, response: httpx.Response) -> str:
        """The server's ``error`` message, else the reason phrase."""
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return self.redact(body["error"])
        return self.redact(response.reason_phrase or "")

    def _decide(
        self, status: int | None, response: httpx.Response | None, attempt: int, **kw: Any
    ) -> RetryDecision:
        return retry_decision(
            status,
            response.headers if response is not None else None,
            attempt,
            max_attempts=self._max_attempts,
            base_delay_s=self._backoff_base_s,
            max_delay_s=self._max_retry_delay_s,
            now=self._clock.now(),
            rng=self._rng,
            **kw,
        )

    async def request(
        self,
        method: str,
        path: str,
        route: str,
        *,
        priority: Priority,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        allow_empty: bool = False,
    ) -> Any:
        """Send with retries; return the decoded JSON body (None for an allowed empty body)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        fields = {"route": route, "method": method, "path": path}
        attempt = 0
        while True:
            attempt += 1
            error: ApiError
            async with self.budget.slot(priority):
                started = self._clock.monotonic()
                try:
                    response = await self._send(
                        httpx.Request(
                            method,
                            self.base_url + path,
                            params=query or None,
                            json=json_body,
                            headers=self._headers,
                            extensions=self._extensions,
                        )
                    )
                except httpx.TransportError as exc:
                    self._on_request(route, None, self._clock.monotonic() - started)
                    failure = classify_transport_error(exc)
                    decision = self._decide(
                        None, None, attempt, failure=failure, idempotent=idempotent
                    )
                    detail = self.redact(f"{type(exc).__name__}: {exc}")
                    error = ServerError(
                        f"{method} {path}: {failure.value} after {attempt} attempt(s) ({detail})",
                        path=path,
                    )
                    status: int | None = None
                else:
                    status = response.status_code
                    self._on_request(route, status, self._clock.monotonic() - started)
                    log.debug("api_request", **fields, status=status, attempt=attempt)
                    if status < 300:
                        return self._decode(response, method, path, allow_empty)
                    decision = self._decide(status, response, attempt, idempotent=idempotent)
                    error = self._status_error(method, path, response, decision, attempt)
            if not decision.retry:
                level = log.debug if isinstance(error, NotFound) else log.warning
                level(
                    "api_request_failed",
                    **fields,
                    status=status,
                    reason=decision.reason,
                    attempts=attempt,
                    error=error.message,
                )
                raise error from None
            log.warning(
                "api_retry",
                **fields,
                status=status,
                reason=decision.reason,
                attempt=attempt,
                delay_s=round(decision.delay_s, 3),
            )
            self._on_retry(route, decision.reason)
            await self._clock.sleep(decision.delay_s)

    def _status_error(
        self,
        method: str,
        path: str,
        response: httpx.Response,
        decision: RetryDecision,
        attempt: int,
    ) -> ApiError:
        status = response.status_code
        text = self._error_text(response)
        message = f"{method} {path}: {status} {text}".rstrip()
        if status in (401, 403):
            return AuthError(message, status=status, path=path)
        if status == 404:
            return NotFound(message, status=status, path=path)
        if status == 429:
            return RateLimited(
                f"{message} (after {attempt} attempt(s))",
                status=status,
                path=path,
                retry_after=decision.retry_after_s,
            )
        if status >= 500:
            return ServerError(f"{message} (after {attempt} attempt(s))", status=status, path=path)
        return ApiError(message, status=status, path=path)

    def _decode(self, response: httpx.Response, method: str, path: str, allow_empty: bool) -> Any:
        if not response.content.strip():
            if allow_empty:
                return None
            raise MalformedResponse(
                f"{method} {path}: {response.status_code} with an empty body", path=path
            )
        try:
            return loads_json(response.content)
        except ValueError:
            raise MalformedResponse(
                f"{method} {path}: {response.status_code} body is not JSON", path=path
            ) from None
