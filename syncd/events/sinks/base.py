"""The `Sink` contract every delivery backend implements, and the two errors it may raise.

Exceptions (both are `syncd.errors.SinkError`)::

    SinkError
    ├── RetryableDelivery   not delivered this time; retry later (after `retry_after` if set)
    └── SinkGone            the receiver said it is gone for good (webhook 410): disable the sink

Anything else escaping a sink is a bug in syncd; the dispatcher treats it as retryable.
No error text ever contains a secret (webhook secret, header value, password in a URL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from syncd.errors import SinkError
from syncd.events.envelope import OutboxEvent


class RetryableDelivery(SinkError):
    """The batch was not (wholly) accepted; send it again later.

    ``retry_after`` is the receiver's own wish in seconds (e.g. a webhook's ``Retry-After``),
    or None to let the dispatcher pick its backoff.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SinkGone(SinkError):
    """The receiver asked to stop for good (webhook 410 Gone): disable the sink until re-enabled."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sink(ABC):
    """A place change events are delivered to; one instance per configured ``[[sinks]]`` entry.

    Lifecycle: ``await start()`` once, then ``deliver`` any number of times (never concurrently
    on one instance), then ``await close()``. ``async with sink:`` does start and close.
    """

    #: The configured sink name (used in logs and errors).
    name: str
    #: How many events one ``deliver`` call may carry. 1 where the receiver acknowledges one
    #: event at a time (webhook, command); larger where a batch is acknowledged as a whole.
    max_batch: int = 1

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        """The sink a ``[[sinks]]`` entry of this type describes (see ``registry``)."""
        raise NotImplementedError(f"{cls.__name__} is not built from configuration")

    async def start(self) -> None:  # noqa: B027 (optional hook, no-op by default)
        """Prepare for delivery (repair files, open connections).

        :raises RetryableDelivery: the backend is not usable yet; calling ``start`` again later
            may succeed (``deliver`` also retries the preparation itself).
        """

    @abstractmethod
    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Deliver ``batch`` in order; return only once the whole batch is durably accepted.

        Every event is sent as ``event.payload``, byte for byte. At least once: after an error
        part of the batch may have been accepted, and the whole batch is sent again.

        :raises RetryableDelivery: anything that may succeed on a later attempt.
        :raises SinkGone: the receiver is gone for good; stop delivering to this sink.
        """

    async def close(self) -> None:  # noqa: B027 (optional hook, no-op by default)
        """Flush and release everything the sink holds; safe to call twice or without start."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
