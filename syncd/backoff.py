"""The one backoff: a pure exponential schedule with jitter, for the event dispatcher (a failed
delivery) and the API client (a failed request, ``syncd.api.retry``).

The delay after the n-th failed attempt is ``base_s * factor**(n-1)``, capped at ``cap_s``, then
jittered. With the delivery defaults (30 s, x4, cap 12 h) the gaps are 30 s, 2 min, 8 min, 32 min,
2 h 8 min, 8 h 32 min, 12 h: eight attempts span about a day (between 12 and 23 h with equal
jitter). The client uses x2 with full jitter (``syncd.api.retry.backoff_delay``).

A receiver's ``Retry-After`` is honoured as a lower bound: the next attempt never comes earlier
than it asked (capped at ``MAX_RETRY_AFTER_S``, so a hostile or broken receiver cannot park a sink
for a week), and never earlier than the schedule says either, so a receiver answering
``Retry-After: 1`` to everything still gets the day-long schedule before an event is given up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

MAX_RETRY_AFTER_S = 3600.0
"""The longest ``Retry-After`` honoured; longer wishes are cut to this."""

Jitter = Literal["equal", "full", "none"]


class Uniform(Protocol):
    """The part of ``random.Random`` the schedule uses (injectable for tests)."""

    def uniform(self, a: float, b: float, /) -> float:
        """A float between a and b."""
        ...


@dataclass(frozen=True, slots=True)
class FractionSource:
    """A ``Uniform`` drawn from a function returning a fraction (``random.random``-like).

    A fraction outside 0..1 is clamped, so a draw never leaves ``[a, b]``.
    """

    fraction: Callable[[], float]

    def uniform(self, a: float, b: float, /) -> float:
        """``a + (b - a) * fraction()``."""
        return a + (b - a) * min(max(self.fraction(), 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """An exponential schedule with jitter; ``delay`` is a pure function of its arguments."""

    base_s: float = 30.0
    factor: float = 4.0
    cap_s: float = 12 * 3600.0
    jitter: Jitter = "equal"
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.factor < 1 or self.cap_s < self.base_s:
            raise ValueError("need base_s > 0, factor >= 1 and cap_s >= base_s")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay after the ``attempt``-th failure (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # Compare exponents rather than computing factor**n for large n (overflow).
        delay = self.base_s
        for _ in range(attempt - 1):
            delay *= self.factor
            if delay >= self.cap_s:
                return self.cap_s
        return min(delay, self.cap_s)

    def delay(
        self,
        attempt: int,
        *,
        retry_after: float | None = None,
        rng: Uniform | None = None,
    ) -> float:
        """Seconds to wait after the ``attempt``-th failed attempt (1-based)."""
        ceiling = self.ceiling(attempt)
        source: Uniform = rng if rng is not None else random
        if self.jitter == "full":
            delay = source.uniform(0.0, ceiling)
        elif self.jitter == "equal":
            delay = ceiling / 2 + source.uniform(0.0, ceiling / 2)
        else:
            delay = ceiling
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after_s))
        return delay

    def span(self, attempts: int) -> float:
        """The un-jittered time from the first to the ``attempts``-th attempt."""
        return sum(self.ceiling(n) for n in range(1, attempts))


DEFAULT_BACKOFF = BackoffPolicy()
