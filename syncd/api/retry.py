"""The one retry policy of the oHallo client: a pure function of what happened and when.

======================================  ===========================  ===================
outcome                                 GET (idempotent)             POST (not idempotent)
======================================  ===========================  ===================
429                                     Retry-After, else backoff    same
5xx                                     Retry-After, else backoff    give up
connection never made (connect error,   backoff                      backoff
connect or pool timeout)
timeout or network error after sending  backoff                      give up
401/403, 404, other 4xx                 give up                      give up
======================================  ===========================  ===================

Backoff is exponential with full jitter:
``delay = rng() * min(max_delay_s, base_delay_s * 2 ** (attempt - 1))``.
A Retry-After longer than ``max_delay_s`` is not slept through: the call gives up and the error
carries the server's figure, so the caller can reschedule instead of holding a request open.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import httpx

from syncd.backoff import BackoffPolicy, FractionSource
from syncd.retry_after import parse_retry_after

DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_BASE_DELAY_S = 0.5
DEFAULT_MAX_DELAY_S = 60.0


class TransportFailure(StrEnum):
    """How a request failed without an HTTP status."""

    CONNECT = "connect_error"  # the request never left: always safe to repeat
    TIMEOUT = "timeout"  # it may have reached the server
    NETWORK = "network_error"  # dropped connection, protocol error: it may have reached the server


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, after how many seconds, and why (a short label for logs/metrics)."""

    retry: bool
    delay_s: float
    reason: str
    retry_after_s: float | None = None


def classify_transport_error(exc: httpx.TransportError) -> TransportFailure:
    """Which kind of transport failure an httpx exception is."""
    # A connect timeout or an exhausted pool means no byte of the request was sent.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransportFailure.CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure.TIMEOUT
    return TransportFailure.NETWORK


def backoff_delay(
    attempt: int,
    *,
    base_delay_s: float = DEFAULT_BASE_DELAY_S,
    max_delay_s: float = DEFAULT_MAX_DELAY_S,
    rng: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff (x2) with full jitter for the attempt that just failed (1-based)."""
    if min(base_delay_s, max_delay_s) <= 0:
        return 0.0
    policy = BackoffPolicy(
        base_s=min(base_delay_s, max_delay_s), factor=2.0, cap_s=max_delay_s, jitter="full"
    )
    # Bounded as before (2**62 at the most), so huge attempt numbers cost nothing.
    return max(0.0, policy.delay(min(max(attempt, 1), 63), rng=FractionSource(rng)))


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    if isinstance(headers, httpx.Headers):
        found: str | None = headers.get(name)
        return found
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def retry_decision(
    status: int | None,
    headers: Mapping[str, str] | None,
    attempt: int,
    *,
    failure: TransportFailure | None = None,
    idempotent: bool = True,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    base_delay_s: float = DEFAULT_BASE_DELAY_S,
    max_delay_s: float = DEFAULT_MAX_DELAY_S,
    now: datetime | None = None,
    rng: Callable[[], float] = random.random,
) -> RetryDecision:
    """Decide whether attempt number ``attempt`` (1-based, the one that just failed) is repeated.

    Pass ``status`` for an HTTP answer, or ``status=None`` and ``failure`` for a transport error.
    """
    if status is None:
        kind = failure or TransportFailure.NETWORK
        if not idempotent and kind is not TransportFailure.CONNECT:
            return RetryDecision(False, 0.0, "not_idempotent")
        return _retry_or_stop(
            kind.value, None, attempt, max_attempts, base_delay_s, max_delay_s, rng
        )

    if status < 400:
        return RetryDecision(False, 0.0, "ok")
    if status in (401, 403):
        return RetryDecision(False, 0.0, "auth")
    if status == 404:
        return RetryDecision(False, 0.0, "not_found")
    if status != 429 and status < 500:
        return RetryDecision(False, 0.0, "client_error")
    if status >= 500 and not idempotent:
        return RetryDecision(False, 0.0, "not_idempotent")

    reason = "rate_limited" if status == 429 else "server_error"
    moment = now if now is not None else datetime.now(UTC)
    retry_after = parse_retry_after(_header(headers, "Retry-After"), moment)
    return _retry_or_stop(
        reason, retry_after, attempt, max_attempts, base_delay_s, max_delay_s, rng
    )


def _retry_or_stop(
    reason: str,
    retry_after: float | None,
    attempt: int,
    max_attempts: int,
    base_delay_s: float,
    max_delay_s: float,
    rng: Callable[[], float],
) -> RetryDecision:
    if attempt >= max_attempts:
        return RetryDecision(False, 0.0, reason, retry_after)
    if retry_after is not None:
        if retry_after > max_delay_s:
            return RetryDecision(False, 0.0, reason, retry_after)
        return RetryDecision(True, retry_after, reason, retry_after)
    delay = backoff_delay(attempt, base_delay_s=base_delay_s, max_delay_s=max_delay_s, rng=rng)
    return RetryDecision(True, delay, reason)
