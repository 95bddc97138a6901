"""NATS JetStream sink: each event to ``<subject_prefix>.<type>``, de-duplicated by event id.

Every message carries ``Nats-Msg-Id`` = event id, so JetStream drops a re-sent event inside the
stream's duplicate window (``DUPLICATE_WINDOW_S`` for a stream this sink creates). The batch is
accepted once every publish is acknowledged; an ack flagged duplicate counts as accepted.
nats-py is an optional dependency (``pip install 'syncd[nats]'``), imported only here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import structlog

from syncd.config import NatsSinkSettings
from syncd.errors import ConfigError
from syncd.events.envelope import EVENT_TYPES, OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink
from syncd.urls import strip_credentials

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

log = structlog.get_logger(__name__)

DUPLICATE_WINDOW_S = 3600.0
CONNECT_TIMEOUT_S = 5
# nats-py retries (re)connecting this often before giving up; then the next delivery reconnects
# from scratch. Bounded on purpose: with "forever" the first connect would never return.
RECONNECT_ATTEMPTS = 3
RECONNECT_WAIT_S = 1
_INSTALL_HINT = "pip install 'syncd[nats]'"


def import_nats() -> ModuleType:
    """The nats-py package, or a ConfigError telling how to install it."""
    try:
        return importlib.import_module("nats")
    except ImportError:
        raise ConfigError(
            f"a nats sink needs the nats-py package, which is not installed: {_INSTALL_HINT}"
        ) from None


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (``*`` one token, ``>`` the rest) matches a subject."""
    tokens = subject.split(".")
    parts = pattern.split(".")
    for index, part in enumerate(parts):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or part not in ("*", tokens[index]):
            return False
    return len(parts) == len(tokens)


def safe_url(url: str) -> str:
    """The server URL(s) without credentials, for logs and errors."""
    return ",".join(strip_credentials(server.strip()) for server in url.split(","))


class NatsSink(Sink):
    """Publishes to a JetStream stream, creating it (``<subject_prefix>.>``) when missing."""

    max_batch = 100

    def __init__(
        self,
        name: str,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "SYNCD",
        subject_prefix: str = "syncd",
        timeout_s: float = 10.0,
        reconnect_attempts: int = RECONNECT_ATTEMPTS,
        reconnect_wait_s: int = RECONNECT_WAIT_S,
    ) -> None:
        if reconnect_attempts < 1:  # nats-py reads 0 as "retry forever"
            raise ValueError("reconnect_attempts must be at least 1")
        self._nats = import_nats()
        self.name = name
        self._servers = [server.strip() for server in url.split(",") if server.strip()]
        self._shown_url = safe_url(url)
        self._stream = stream
        self._prefix = subject_prefix.rstrip(".")
        self._timeout_s = timeout_s
        self._reconnect_attempts = reconnect_attempts
        self._reconnect_wait_s = reconnect_wait_s
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    @classmethod
    def from_settings(cls, settings: NatsSinkSettings) -> NatsSink:
        """A sink configured by a ``type = "nats"`` entry."""
        return cls(
            settings.name,
            settings.url,
            stream=settings.stream,
            subject_prefix=settings.subject_prefix,
        )

    def subject_for(self, event_type: str) -> str:
        """The subject an event of this type is published to."""
        return f"{self._prefix}.{event_type}"

    async def start(self) -> None:
        """Connect and make sure the stream exists.

        :raises RetryableDelivery: the server cannot be reached or refused to create the stream.
        """
        if self._js is not None and self._client is not None and not self._client.is_closed:
            return
        await self.close()
        errors = self._nats.errors
        try:
            client: Client = await self._nats.connect(
                self._servers,
                name=f"syncd-{self.name}",
                connect_timeout=CONNECT_TIMEOUT_S,
                allow_reconnect=True,
                max_reconnect_attempts=self._reconnect_attempts,
                reconnect_time_wait=self._reconnect_wait_s,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except (errors.Error, OSError, TimeoutError) as exc:
            raise RetryableDelivery(
                f"nats {self.name}: cannot connect to {self._shown_url} ({type(exc).__name__})"
            ) from None
        self._client = client
        js = client.jetstream(timeout=self._timeout_s)
        try:
            await self._ensure_stream(js)
        except (errors.Error, TimeoutError) as exc:
            await self.close()
            raise RetryableDelivery(
                f"nats {self.name}: cannot set up stream {self._stream}: {_describe(exc)}"
            ) from None
        self._js = js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            info = await js.stream_info(self._stream)
        except self._nats.js.errors.NotFoundError:
            await js.add_stream(
                name=self._stream,
                subjects=[f"{self._prefix}.>"],
                duplicate_window=DUPLICATE_WINDOW_S,
            )
            log.info(
                "nats_stream_created",
                sink=self.name,
                stream=self._stream,
                subjects=[f"{self._prefix}.>"],
            )
            return
        patterns = info.config.subjects or []
        missing = [
            event_type
            for event_type in EVENT_TYPES
            if not any(subject_matches(p, self.subject_for(event_type)) for p in patterns)
        ]
        if missing:
            log.warning(
                "nats_stream_misses_subjects",
                sink=self.name,
                stream=self._stream,
                stream_subjects=patterns,
                missing=[self.subject_for(event_type) for event_type in missing],
            )

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Publish the batch in order and wait for every acknowledgement.

        :raises RetryableDelivery: not connected, no ack in time, no stream for the subject, or
            JetStream refused a message.
        """
        if not batch:
            return
        await self.start()
        assert self._js is not None
        errors = self._nats.errors
        for event in batch:
            subject = self.subject_for(event.type)
            try:
                ack = await self._js.publish(
                    subject,
                    event.payload.encode("utf-8"),
                    timeout=self._timeout_s,
                    stream=self._stream,
                    headers={"Nats-Msg-Id": event.id},
                )
            except self._nats.js.errors.NoStreamResponseError:
                raise RetryableDelivery(
                    f"nats {self.name}: no JetStream stream takes subject {subject}; "
                    f"add it to the subjects of stream {self._stream}"
                ) from None
            except (errors.Error, TimeoutError) as exc:
                if self._client is not None and self._client.is_closed:
                    self._js = None
                raise RetryableDelivery(
                    f"nats {self.name}: event {event.id} to {subject}: {_describe(exc)}"
                ) from None
            if ack.duplicate:
                log.debug("nats_duplicate_dropped", sink=self.name, event_id=event.id)

    async def close(self) -> None:
        """Close the connection (every publish was already acknowledged)."""
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            await client.close()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats_error", sink=self.name, error=type(exc).__name__)

    async def _on_disconnected(self) -> None:
        log.warning("nats_disconnected", sink=self.name, url=self._shown_url)

    async def _on_reconnected(self) -> None:
        log.info("nats_reconnected", sink=self.name, url=self._shown_url)


def _describe(exc: BaseException) -> str:
    """A short description of a nats-py error (they carry no credentials)."""
    if isinstance(exc, TimeoutError):
        return "no acknowledgement in time"
    description = getattr(exc, "description", None)
    if description:
        return f"JetStream refused it: {description} (code {getattr(exc, 'err_code', '?')})"
    return f"{type(exc).__name__}: {exc}"
