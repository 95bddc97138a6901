"""Fault injection: random rates (from ``SimConfig``) and deterministic one-shots for tests.

One-shots are queued per route name (or ``"*"`` for any route) and win over the random rates;
the route's own queue is consulted before ``"*"``.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from syncd.sim.config import SimConfig

ROUTES = (
    "list_conversations",
    "get_conversation",
    "get_messages",
    "get_attachments",
    "list_attention_items",
    "status_counts",
    "post_reply",
    "post_resolve",
    "post_take_over",
    "post_release",
    "post_compose",
    "post_assign",
    "post_unassign",
    "post_approve",
    "post_resolve_attention_item",
)
ANY_ROUTE = "*"

FaultKind = Literal["fail", "drop", "malformed"]


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to one request instead of (or on top of) answering it."""

    kind: FaultKind
    status: int = 0
    retry_after: float | None = None


class FaultPlan:
    """The fault rates in force and the queued one-shots; thread-safe."""

    def __init__(self, config: SimConfig) -> None:
        self.latency_ms = config.latency_ms
        self.fail_rate = config.fail_rate
        self.rate_limit_rate = config.rate_limit_rate
        self.retry_after_s = config.retry_after_s
        self.drop_rate = config.drop_rate
        self.malformed_rate = config.malformed_rate
        self._rng = random.Random(f"{config.seed}:faults")
        self._lock = threading.Lock()
        self._queued: dict[str, deque[Fault]] = {}

    def fail_next(
        self, route: str, status: int = 500, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next ``times`` requests to ``route`` with ``status`` and ``{"error"}``.

        ``retry_after`` adds a ``Retry-After`` header (whole seconds, rounded up); without it a
        429 carries none, which clients must survive too.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be 4xx or 5xx, not {status}")
        self._queue(route, Fault("fail", status, retry_after), times)

    def drop_next(self, route: str, times: int = 1) -> None:
        """Close the connection of the next ``times`` requests to ``route`` without answering."""
        self._queue(route, Fault("drop"), times)

    def malform_next(self, route: str, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``route`` with 200 and a truncated JSON body."""
        self._queue(route, Fault("malformed"), times)

    def clear(self) -> None:
        """Drop every queued one-shot and set every rate to zero."""
        with self._lock:
            self._queued.clear()
        self.latency_ms = 0.0
        self.fail_rate = self.rate_limit_rate = self.drop_rate = self.malformed_rate = 0.0

    def pending(self, route: str) -> int:
        """How many one-shots are still queued for ``route`` (not counting ``"*"``)."""
        with self._lock:
            return len(self._queued.get(route, ()))

    def decide(self, route: str) -> Fault | None:
        """The fault for one request to ``route`` (a queued one-shot first), or None."""
        with self._lock:
            for name in (route, ANY_ROUTE):
                queue = self._queued.get(name)
                if queue:
                    return queue.popleft()
            draw = self._rng.random()
        if draw < self.drop_rate:
            return Fault("drop")
        draw -= self.drop_rate
        if draw < self.fail_rate:
            with self._lock:
                status = self._rng.choice((500, 502, 503))
            return Fault("fail", status)
        draw -= self.fail_rate
        if draw < self.rate_limit_rate:
            return Fault("fail", 429, self.retry_after_s)
        return None

    def malformed_draw(self) -> bool:
        """Whether one row (or one detail body) should come out malformed at random."""
        if self.malformed_rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < self.malformed_rate

    def _queue(self, route: str, fault: Fault, times: int) -> None:
        if route != ANY_ROUTE and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {', '.join(ROUTES)} or '*'")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queued.setdefault(route, deque()).extend([fault] * times)
