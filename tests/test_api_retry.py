"""The client's retry policy: one pure function, table-tested and property-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.api.retry import (
    TransportFailure,
    backoff_delay,
    classify_transport_error,
    retry_decision,
)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def half() -> float:
    return 0.5


@pytest.mark.parametrize(
    ("status", "headers", "attempt", "idempotent", "retry", "delay", "reason"),
    [
        (429, {"Retry-After": "7"}, 1, True, True, 7.0, "rate_limited"),
        (429, {"retry-after": "0"}, 1, True, True, 0.0, "rate_limited"),
        (429, {}, 1, True, True, 0.25, "rate_limited"),
        (429, {}, 3, True, True, 1.0, "rate_limited"),
        (429, {"Retry-After": "7"}, 1, False, True, 7.0, "rate_limited"),
        (429, {"Retry-After": "3600"}, 1, True, False, 0.0, "rate_limited"),
        (429, {"Retry-After": "soon"}, 1, True, True, 0.25, "rate_limited"),
        (429, {"Retry-After": "-3"}, 2, True, True, 0.5, "rate_limited"),
        (500, {}, 1, True, True, 0.25, "server_error"),
        (503, {"Retry-After": "2"}, 1, True, True, 2.0, "server_error"),
        (502, {}, 6, True, False, 0.0, "server_error"),
        (500, {}, 1, False, False, 0.0, "not_idempotent"),
        (401, {}, 1, True, False, 0.0, "auth"),
        (403, {"Retry-After": "1"}, 1, True, False, 0.0, "auth"),
        (404, {}, 1, True, False, 0.0, "not_found"),
        (400, {}, 1, True, False, 0.0, "client_error"),
        (422, {}, 1, True, False, 0.0, "client_error"),
        (200, {}, 1, True, False, 0.0, "ok"),
    ],
)
def test_status_codes_map_to_the_documented_decision(
    status: int,
    headers: dict[str, str],
    attempt: int,
    idempotent: bool,
    retry: bool,
    delay: float,
    reason: str,
) -> None:
    decision = retry_decision(
        status, headers, attempt, idempotent=idempotent, now=NOW, rng=half, max_attempts=6
    )
    assert (decision.retry, decision.delay_s, decision.reason) == (retry, delay, reason)


@pytest.mark.parametrize(
    ("failure", "idempotent", "retry", "reason"),
    [
        (TransportFailure.CONNECT, True, True, "connect_error"),
        (TransportFailure.CONNECT, False, True, "connect_error"),
        (TransportFailure.TIMEOUT, True, True, "timeout"),
        (TransportFailure.TIMEOUT, False, False, "not_idempotent"),
        (TransportFailure.NETWORK, True, True, "network_error"),
        (TransportFailure.NETWORK, False, False, "not_idempotent"),
    ],
)
def test_transport_failures_are_retried_only_when_safe(
    failure: TransportFailure, idempotent: bool, retry: bool, reason: str
) -> None:
    decision = retry_decision(None, None, 1, failure=failure, idempotent=idempotent, rng=half)
    assert (decision.retry, decision.reason) == (retry, reason)


def test_attempts_are_bounded_by_max_attempts() -> None:
    decisions = [retry_decision(503, {}, n, max_attempts=4, rng=half) for n in range(1, 6)]
    assert [d.retry for d in decisions] == [True, True, True, False, False]


def test_a_too_long_retry_after_gives_up_but_reports_the_wait() -> None:
    decision = retry_decision(429, {"Retry-After": "120"}, 1, max_delay_s=60.0)
    assert not decision.retry
    assert decision.retry_after_s == 120.0


def test_retry_after_as_an_http_date_is_honoured() -> None:
    header = format_datetime(NOW + timedelta(seconds=9), usegmt=True)
    decision = retry_decision(429, {"Retry-After": header}, 1, now=NOW, rng=half)
    assert decision.retry
    assert decision.delay_s == pytest.approx(9.0)


def test_httpx_headers_are_read_case_insensitively() -> None:
    headers = httpx.Headers({"RETRY-AFTER": "4"})
    assert retry_decision(429, headers, 1, now=NOW).delay_s == 4.0


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("refused"), TransportFailure.CONNECT),
        (httpx.ConnectTimeout("slow"), TransportFailure.CONNECT),
        (httpx.PoolTimeout("busy"), TransportFailure.CONNECT),
        (httpx.ReadTimeout("slow"), TransportFailure.TIMEOUT),
        (httpx.WriteTimeout("slow"), TransportFailure.TIMEOUT),
        (httpx.RemoteProtocolError("gone"), TransportFailure.NETWORK),
        (httpx.ReadError("reset"), TransportFailure.NETWORK),
    ],
)
def test_httpx_errors_are_classified_by_whether_the_request_left(
    exc: httpx.TransportError, kind: TransportFailure
) -> None:
    assert classify_transport_error(exc) is kind


def test_full_jitter_spans_zero_to_the_exponential_ceiling() -> None:
    assert backoff_delay(4, base_delay_s=0.5, rng=lambda: 0.0) == 0.0
    assert backoff_delay(4, base_delay_s=0.5, rng=lambda: 1.0) == 4.0
    assert backoff_delay(40, base_delay_s=0.5, max_delay_s=30.0, rng=lambda: 1.0) == 30.0


statuses = st.sampled_from([429, 500, 502, 503, 504, 599])
fractions = st.floats(min_value=0.0, max_value=1.0)


@given(
    status=statuses,
    attempt=st.integers(min_value=1, max_value=10_000),
    fraction=fractions,
    base=st.floats(min_value=0.001, max_value=10.0),
    cap=st.floats(min_value=0.01, max_value=600.0),
)
def test_backoff_delays_are_never_negative_and_never_above_the_cap(
    status: int, attempt: int, fraction: float, base: float, cap: float
) -> None:
    decision = retry_decision(
        status,
        {},
        attempt,
        max_attempts=20_000,
        base_delay_s=base,
        max_delay_s=cap,
        rng=lambda: fraction,
        now=NOW,
    )
    assert decision.retry
    assert 0.0 <= decision.delay_s <= cap
    assert decision.delay_s <= base * 2 ** min(attempt - 1, 1000)


@given(
    seconds=st.integers(min_value=0, max_value=10_000),
    attempt=st.integers(min_value=1, max_value=5),
    cap=st.floats(min_value=1.0, max_value=3_600.0),
    as_date=st.booleans(),
)
def test_retry_after_is_honoured_exactly_when_within_the_cap(
    seconds: int, attempt: int, cap: float, as_date: bool
) -> None:
    value = (
        format_datetime(NOW + timedelta(seconds=seconds), usegmt=True) if as_date else str(seconds)
    )
    decision = retry_decision(
        429, {"Retry-After": value}, attempt, max_attempts=6, max_delay_s=cap, now=NOW
    )
    assert decision.retry_after_s == pytest.approx(seconds)
    if seconds <= cap:
        assert decision.retry
        assert decision.delay_s == pytest.approx(seconds)
    else:
        assert not decision.retry


@given(
    status=st.integers(min_value=100, max_value=599),
    attempt=st.integers(min_value=1, max_value=50),
    max_attempts=st.integers(min_value=1, max_value=10),
    retry_after=st.one_of(st.none(), st.text(max_size=12)),
    fraction=fractions,
)
def test_no_decision_ever_retries_past_the_budget_or_waits_negative_time(
    status: int, attempt: int, max_attempts: int, retry_after: str | None, fraction: float
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    decision = retry_decision(
        status, headers, attempt, max_attempts=max_attempts, rng=lambda: fraction, now=NOW
    )
    assert decision.delay_s >= 0.0
    if attempt >= max_attempts:
        assert not decision.retry
    if decision.retry:
        assert status == 429 or status >= 500
