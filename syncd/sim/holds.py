"""Deterministic slow answers for race tests: render a response now, send it when told.

``Simulator.hold_next(route)`` queues a ``ResponseHold``; the next request of that route that
reaches its handler (after faults and auth) claims it, is answered from the state of that moment,
sets ``hold.rendered`` and waits, without blocking the event loop or any other request, until
``hold.release()`` (from any thread) or until the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque

from syncd.sim.faults import ANY_ROUTE, ROUTES


class ResponseHold:
    """One held response: ``rendered`` is set once its body is rendered; ``release()`` sends it."""

    def __init__(self, route: str) -> None:
        self.route = route
        #: Set once the held request's body was rendered (wait on it with a timeout).
        self.rendered = threading.Event()
        #: The held request's path with its query, once one claimed the hold.
        self.path: str | None = None
        self._lock = threading.Lock()
        self._released = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def released(self) -> bool:
        """Whether ``release()`` was called (or the server stopped)."""
        with self._lock:
            return self._released

    def release(self) -> None:
        """Let the response go (idempotent; before the request came: it will not wait)."""
        with self._lock:
            if self._released:
                return
            self._released = True
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(event.set)

    async def wait_rendered(self, within_s: float | None = None) -> bool:
        """``rendered.wait(within_s)`` for code in an event loop (it does not block the loop)."""
        if self.rendered.is_set():
            return True
        return await asyncio.to_thread(self.rendered.wait, within_s)

    async def hold(self) -> None:
        """Called by the server once the body is rendered: mark it and wait for ``release``."""
        self.rendered.set()
        event = asyncio.Event()
        with self._lock:
            if self._released:
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


class HoldPlan:
    """The queued holds per route name (or ``"*"``); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, deque[ResponseHold]] = {}
        self._claimed: list[ResponseHold] = []

    def hold_next(self, route: str) -> ResponseHold:
        """Queue a hold for the next request of ``route`` (a name of ``request_counts``)."""
        if route != ANY_ROUTE and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {', '.join(ROUTES)} or '*'")
        hold = ResponseHold(route)
        with self._lock:
            self._queued.setdefault(route, deque()).append(hold)
        return hold

    def claim(self, route: str, path: str) -> ResponseHold | None:
        """The hold this request takes (its route's queue first, then ``"*"``), or None."""
        with self._lock:
            if not self._queued:
                return None
            for name in (route, ANY_ROUTE):
                queue = self._queued.get(name)
                if queue:
                    hold = queue.popleft()
                    if not queue:
                        del self._queued[name]
                    hold.path = path
                    self._claimed = [h for h in self._claimed if not h.released]
                    self._claimed.append(hold)
                    return hold
        return None

    def pending(self, route: str) -> int:
        """Holds queued for ``route`` and not claimed yet."""
        with self._lock:
            return len(self._queued.get(route, ()))

    def release_all(self) -> None:
        """Release every hold, claimed or still queued, and forget them (the server stops)."""
        with self._lock:
            holds = [hold for queue in self._queued.values() for hold in queue]
            holds += self._claimed
            self._queued.clear()
            self._claimed = []
        for hold in holds:
            hold.release()


__all__ = ["HoldPlan", "ResponseHold"]
