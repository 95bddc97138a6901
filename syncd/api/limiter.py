"""The request budget shared by every call of one client: a token bucket and a concurrency limit.

Waiters are served by priority (lower first), first come first served within a priority (or in the
order of their ``keep_place`` blocks, when they were made inside one). Only the
waiter at the head of the queue ever sleeps for a token, so a fake clock that simply advances when
slept on gives exact virtual times. Only the head is ever woken, too: a change (a slot freed, a
sleep over, the head gone) wakes the one waiter that may now proceed, so thousands of queued
requests cost nothing per release.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import IntEnum
from typing import Protocol

DEFAULT_BURST_S = 0.25  # the bucket holds this many seconds' worth of requests (at least one)
# The queue place of requests made inside ``RequestBudget.keep_place`` (budget id, place).
_PLACE: ContextVar[tuple[int, int] | None] = ContextVar("syncd_budget_place", default=None)
# Float rounding must not leave a waiter sleeping for 1e-17 s forever (time would not move).
_EPSILON = 1e-9


class Priority(IntEnum):
    """Who is served first when requests wait for the budget (lower first)."""

    ATTENTION = 0
    HOT = 1
    DETAIL = 2
    RECONCILE = 3
    REFRESH = 4


class ClientClock(Protocol):
    """Time as the client sees it; injectable so tests run in virtual time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def now(self) -> datetime:
        """The current aware UTC time."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class RequestBudget:
    """A token bucket (``rate_per_s``, ``burst`` deep) and at most ``max_concurrency`` in flight."""

    def __init__(
        self,
        rate_per_s: float,
        max_concurrency: int,
        *,
        burst: float | None = None,
        clock: ClientClock | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._rate = float(rate_per_s)
        self._capacity = (
            float(burst) if burst is not None else max(1.0, rate_per_s * DEFAULT_BURST_S)
        )
        if self._capacity < 1:
            raise ValueError("burst must be at least 1")
        self._max_concurrency = max_concurrency
        self._clock: ClientClock = clock or SystemClock()
        self._on_wait = on_wait
        self._tokens = self._capacity
        self._stamp = self._clock.monotonic()
        self._in_flight = 0
        self._sleeping = False
        self._queue: list[tuple[int, int, int]] = []
        self._seq = itertools.count()
        # The futures of waiters parked in _wait_for_change, by queue entry.
        self._parked: dict[tuple[int, int, int], asyncio.Future[None]] = {}

    @property
    def in_flight(self) -> int:
        """Requests holding a concurrency slot now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Requests queued for the budget now."""
        return len(self._queue)

    @contextmanager
    def keep_place(self) -> Iterator[None]:
        """Queue every request made inside the block at one place: where the first would queue.

        Within a priority, requests are served first come first served; a request that follows
        up on an earlier one (an attachments list after its conversation's detail) would queue
        behind everything requested meanwhile. Inside this block it keeps the block's place, so
        a batch of conversations finishes in the order it was started. Tasks started inside
        the block inherit the place (a context variable).
        """
        token = _PLACE.set((id(self), next(self._seq)))
        try:
            yield
        finally:
            _PLACE.reset(token)

    @asynccontextmanager
    async def slot(self, priority: Priority = Priority.DETAIL) -> AsyncIterator[None]:
        """Hold one token and one concurrency slot for the duration of the block."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, priority: Priority = Priority.DETAIL) -> None:
        """Wait until this request may start: its turn, a token and a free slot."""
        seq = next(self._seq)
        place = _PLACE.get()
        entry = (int(priority), place[1] if place and place[0] == id(self) else seq, seq)
        heapq.heappush(self._queue, entry)
        try:
            while True:
                if (
                    self._queue[0] == entry
                    and self._in_flight < self._max_concurrency
                    and not self._sleeping
                ):
                    self._refill()
                    if self._tokens >= 1.0 - _EPSILON:
                        self._tokens = max(0.0, self._tokens - 1.0)
                        self._in_flight += 1
                        heapq.heappop(self._queue)
                        self._notify()
                        return
                    await self._sleep_for_token((1.0 - self._tokens) / self._rate)
                else:
                    await self._wait_for_change(entry)
        except BaseException:
            if entry in self._queue:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
                self._notify()
            raise

    def release(self) -> None:
        """Give back the concurrency slot taken by ``acquire``."""
        if self._in_flight <= 0:
            raise RuntimeError("release() without acquire()")
        self._in_flight -= 1
        self._notify()

    async def _sleep_for_token(self, wait: float) -> None:
        # One sleeper at a time: whoever is at the head when it wakes takes the token.
        self._sleeping = True
        try:
            if self._on_wait is not None:
                self._on_wait(wait)
            await self._clock.sleep(wait)
        finally:
            self._sleeping = False
            self._notify()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)

    def _notify(self) -> None:
        # Only the head of the queue can proceed: wake it (it re-checks); the others stay parked
        # until they become the head themselves.
        if self._queue:
            parked = self._parked.pop(self._queue[0], None)
            if parked is not None and not parked.done():
                parked.set_result(None)

    async def _wait_for_change(self, entry: tuple[int, int, int]) -> None:
        parked = asyncio.get_running_loop().create_future()
        self._parked[entry] = parked
        try:
            await parked
        finally:
            if self._parked.get(entry) is parked:
                del self._parked[entry]
