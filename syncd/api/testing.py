"""Test helpers for code that uses the client: a virtual clock for the budget and retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A ``Clock`` in virtual time: ``sleep`` records the delay and advances time at once.

    The request budget only ever has one sleeper at a time, so virtual time stays exact.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._mono = 0.0
        self._wall = start or datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Virtual seconds since the clock was made."""
        return self._mono

    def now(self) -> datetime:
        """The virtual wall-clock time (aware UTC)."""
        return self._wall + timedelta(seconds=self._mono)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward without sleeping."""
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        """Record ``seconds``, advance virtual time by it, and yield to the event loop once."""
        self.sleeps.append(seconds)
        self._mono += max(0.0, seconds)
        await asyncio.sleep(0)
