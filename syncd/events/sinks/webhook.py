"""Webhook sink: POST each event, signed per Standard Webhooks (https://www.standardwebhooks.com).

Outcome of one attempt: 2xx delivered; 410 `SinkGone`; everything else (3xx — never followed —,
429, other 4xx, 5xx, timeouts, connection errors) `RetryableDelivery`, with the receiver's
``Retry-After`` when it sent one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog

from syncd import __version__
from syncd.clock import Clock, utc_now
from syncd.config import WebhookSinkSettings
from syncd.errors import ConfigError
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink, SinkGone
from syncd.masking import compile_secrets, redact_text
from syncd.retry_after import parse_retry_after
from syncd.urls import strip_credentials

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
# How much of a response body is read (the rest is dropped with the connection) and quoted.
MAX_BODY_READ = 64 * 1024
SNIPPET_CHARS = 200
# Headers syncd sets itself; configured headers of the same name are ignored.
_OWN_HEADERS = frozenset(
    {"content-type", "content-length", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ConfigError (never quoting it) if invalid."""
    encoded = secret.removeprefix(SECRET_PREFIX).rstrip("=")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ConfigError("webhook secret: expected whsec_ followed by non-empty base64")
    return key


def sign(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>`` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    )


class WebhookSink(Sink):
    """POSTs each event's payload to one URL, signed afresh on every attempt."""

    max_batch = 1

    def __init__(
        self,
        name: str,
        url: str,
        secrets: Sequence[str],
        *,
        timeout_s: float = 15.0,
        headers: Mapping[str, str] | None = None,
        clock: Clock = utc_now,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not secrets:
            raise ConfigError(f"sinks.{name}: a webhook sink needs at least one secret")
        self.name = name
        self._url = url
        self._keys = [decode_secret(secret) for secret in secrets]
        self._timeout_s = timeout_s
        self._headers = {
            key: value for key, value in (headers or {}).items() if key.lower() not in _OWN_HEADERS
        }
        self._clock = clock
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._secrets = compile_secrets(_secret_texts(secrets, (headers or {}).values(), url))

    @classmethod
    def from_settings(cls, settings: WebhookSinkSettings) -> WebhookSink:
        """A sink configured by a ``type = "webhook"`` entry."""
        return cls(
            settings.name,
            settings.url,
            settings.signing_secrets(),
            timeout_s=settings.timeout_s,
            headers=settings.headers,
        )

    async def start(self) -> None:
        """Open the HTTP client (connection pool); TLS verified, redirects never followed."""
        if self._client is None:
            # Small requests, one at a time per receiver: Nagle's delay would dominate.
            transport = self._transport or httpx.AsyncHTTPTransport(
                verify=True, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout_s),
                follow_redirects=False,
                verify=True,
                transport=transport,
                headers={"user-agent": f"syncd/{__version__}"},
            )

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """POST every event in turn.

        :raises RetryableDelivery: timeout, connection error, 3xx, 429, other 4xx, 5xx.
        :raises SinkGone: the receiver answered 410 Gone.
        """
        for event in batch:
            await self._post(event)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _post(self, event: OutboxEvent) -> None:
        await self.start()
        assert self._client is not None
        body = event.payload.encode("utf-8")
        now = self._clock()  # once per attempt: signing and Retry-After
        timestamp = int(now.timestamp())
        headers = {
            **self._headers,
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._keys, event.id, timestamp, body),
        }
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout_s):
                request = self._client.stream("POST", self._url, content=body, headers=headers)
                async with request as response:
                    head = await _read_head(response)
        except (TimeoutError, httpx.TimeoutException):
            raise RetryableDelivery(
                f"webhook {self.name}: no response within {self._timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            detail = self._redact(str(exc)) or "no detail"
            raise RetryableDelivery(
                f"webhook {self.name}: connection failed ({type(exc).__name__}: {detail})"
            ) from None
        self._judge(event, response, head, now)
        log.debug(
            "webhook_delivered",
            sink=self.name,
            event_id=event.id,
            status=response.status_code,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )

    def _judge(
        self, event: OutboxEvent, response: httpx.Response, head: bytes, now: datetime
    ) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"webhook {self.name}: event {event.id}"
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        if status == 410:
            raise SinkGone(
                f"{where}: the receiver answered 410 Gone; the sink is disabled until "
                f"`syncd events enable --sink {self.name}`"
            )
        if 300 <= status < 400:
            location = self._safe_location(response.headers.get("location"))
            raise RetryableDelivery(
                f"{where}: the receiver answered {status} redirect to {location}; redirects "
                "are not followed: set the sink's url to the final address",
                retry_after,
            )
        snippet = self._snippet(head)
        if status == 429:
            raise RetryableDelivery(f"{where}: rate limited (429): {snippet}", retry_after)
        if status >= 500:
            raise RetryableDelivery(f"{where}: server error {status}: {snippet}", retry_after)
        raise RetryableDelivery(f"{where}: the receiver refused it with {status}: {snippet}")

    def _snippet(self, head: bytes) -> str:
        # Redact before cutting, so no part of a secret survives at the cut.
        text = self._redact(head.decode("utf-8", errors="replace"))
        text = self._redact(" ".join(text.split()))
        if len(text) > SNIPPET_CHARS:
            text = text[:SNIPPET_CHARS] + "…"
        return text or "(empty body)"

    def _safe_location(self, location: str | None) -> str:
        if not location:
            return "(no Location header)"
        try:
            parts = urlsplit(strip_credentials(location))
        except ValueError:
            return "(an unparsable Location)"
        query = "..." if parts.query else ""
        text = self._redact(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))
        return text[:SNIPPET_CHARS]

    def _redact(self, text: str) -> str:
        return redact_text(text, self._secrets)


async def _read_head(response: httpx.Response) -> bytes:
    """At most MAX_BODY_READ bytes of the body (the rest is never read)."""
    head = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= MAX_BODY_READ:
                break
    except httpx.DecodingError:  # a bad Content-Encoding: the status still tells the outcome
        pass
    return bytes(head[:MAX_BODY_READ])


def _secret_texts(secrets: Iterable[str], header_values: Iterable[str], url: str) -> set[str]:
    """Every text that must never show in an error: secrets, header values, URL credentials."""
    texts: set[str] = set()
    for secret in secrets:
        texts.update({secret, secret.removeprefix(SECRET_PREFIX)})
    for value in header_values:
        texts.add(value)
        texts.update(part for part in value.split() if len(part) >= 8)
    password = urlsplit(url).password
    if password:
        texts.add(password)
    return texts  # too short ones are left out, the longest matched first: compile_secrets
