"""An in-memory sink for tests (the dispatcher's and users'), with scripted failures."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.errors import SinkError
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink


class MemorySink(Sink):
    """Keeps every delivered batch; ``fail_next`` makes the next deliveries raise."""

    def __init__(self, name: str = "memory", *, max_batch: int = 100) -> None:
        self.name = name
        self.max_batch = max_batch
        self.batches: list[list[OutboxEvent]] = []
        self.started = False
        self.closed = False
        self._failures: list[SinkError] = []

    @property
    def events(self) -> list[OutboxEvent]:
        """Every delivered event, in delivery order (re-deliveries included)."""
        return [event for batch in self.batches for event in batch]

    def fail_next(self, error: SinkError | None = None, *, times: int = 1) -> None:
        """Make the next ``times`` deliveries raise ``error`` (default: RetryableDelivery)."""
        self._failures.extend([error or RetryableDelivery("memory sink: scripted failure")] * times)

    async def start(self) -> None:
        """Mark the sink started."""
        self.started = True

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Record the batch, or raise the next scripted failure.

        :raises RetryableDelivery: or `SinkGone`, when scripted with ``fail_next``.
        """
        if self._failures:
            raise self._failures.pop(0)
        self.batches.append(list(batch))

    async def close(self) -> None:
        """Mark the sink closed."""
        self.closed = True
