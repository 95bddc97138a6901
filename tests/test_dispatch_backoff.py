"""The retry schedule: a pure function, checked with hypothesis."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.backoff import DEFAULT_BACKOFF, MAX_RETRY_AFTER_S, BackoffPolicy

attempts = st.integers(min_value=1, max_value=200)
seeds = st.integers(min_value=0, max_value=2**32)
retry_afters = st.none() | st.floats(min_value=0, max_value=10**7, allow_nan=False)


def test_the_default_schedule_spreads_eight_attempts_over_about_a_day() -> None:
    gaps = [DEFAULT_BACKOFF.ceiling(n) for n in range(1, 8)]
    assert gaps[:3] == [30, 120, 480]
    hours = DEFAULT_BACKOFF.span(8) / 3600
    assert 20 <= hours <= 26
    assert hours / 2 >= 10  # even the shortest equal-jitter draw spans half a day


@given(attempt=attempts, seed=seeds, retry_after=retry_afters)
def test_equal_jitter_stays_between_half_and_all_of_the_ceiling_or_retry_after(
    attempt: int, seed: int, retry_after: float | None
) -> None:
    delay = DEFAULT_BACKOFF.delay(attempt, retry_after=retry_after, rng=random.Random(seed))
    ceiling = DEFAULT_BACKOFF.ceiling(attempt)
    floor = ceiling / 2
    if retry_after:
        floor = max(floor, min(retry_after, MAX_RETRY_AFTER_S))
    assert floor <= delay <= max(ceiling, floor)
    assert delay <= DEFAULT_BACKOFF.cap_s


@given(attempt=attempts, seed=seeds)
def test_full_jitter_is_never_negative_and_never_over_the_ceiling(attempt: int, seed: int) -> None:
    policy = BackoffPolicy(jitter="full")
    delay = policy.delay(attempt, rng=random.Random(seed))
    assert 0 <= delay <= policy.ceiling(attempt)


@given(attempt=attempts)
def test_the_ceiling_never_shrinks_and_stops_at_the_cap(attempt: int) -> None:
    assert DEFAULT_BACKOFF.ceiling(attempt) <= DEFAULT_BACKOFF.ceiling(attempt + 1)
    assert DEFAULT_BACKOFF.ceiling(attempt) <= DEFAULT_BACKOFF.cap_s


@given(retry_after=st.floats(min_value=0.001, max_value=10**9, allow_nan=False), seed=seeds)
def test_retry_after_is_a_lower_bound_capped_at_an_hour(retry_after: float, seed: int) -> None:
    delay = DEFAULT_BACKOFF.delay(1, retry_after=retry_after, rng=random.Random(seed))
    assert delay >= min(retry_after, MAX_RETRY_AFTER_S)
    assert delay <= max(MAX_RETRY_AFTER_S, DEFAULT_BACKOFF.ceiling(1))


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = [DEFAULT_BACKOFF.delay(n, rng=random.Random(3)) for n in range(1, 9)]
    again = [DEFAULT_BACKOFF.delay(n, rng=random.Random(3)) for n in range(1, 9)]
    assert first == again


def test_without_jitter_the_delay_is_the_ceiling() -> None:
    policy = BackoffPolicy(jitter="none")
    assert [policy.delay(n) for n in (1, 2, 3)] == [30, 120, 480]


@pytest.mark.parametrize("bad", [{"base_s": 0}, {"factor": 0.5}, {"cap_s": 1}])
def test_a_nonsensical_policy_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**bad)  # type: ignore[arg-type]


def test_attempts_are_one_based() -> None:
    with pytest.raises(ValueError):
        DEFAULT_BACKOFF.ceiling(0)


@given(
    attempt=st.integers(min_value=1, max_value=200),
    fraction=st.floats(min_value=-1.0, max_value=2.0),
    base=st.floats(min_value=0.001, max_value=10.0),
    cap=st.floats(min_value=0.01, max_value=600.0),
)
def test_the_client_backoff_is_this_policy_with_x2_and_full_jitter(
    attempt: int, fraction: float, base: float, cap: float
) -> None:
    from syncd.api.retry import backoff_delay
    from syncd.backoff import FractionSource

    policy = BackoffPolicy(base_s=min(base, cap), factor=2.0, cap_s=cap, jitter="full")
    expected = policy.delay(attempt, rng=FractionSource(lambda: fraction))
    got = backoff_delay(attempt, base_delay_s=base, max_delay_s=cap, rng=lambda: fraction)
    assert got == expected
    assert 0.0 <= got <= min(cap, base * 2 ** (attempt - 1))


def test_a_fraction_source_stays_inside_its_bounds() -> None:
    from syncd.backoff import FractionSource

    assert FractionSource(lambda: 0.5).uniform(2.0, 4.0) == 3.0
    assert FractionSource(lambda: -3.0).uniform(2.0, 4.0) == 2.0
    assert FractionSource(lambda: 7.0).uniform(2.0, 4.0) == 4.0


def test_a_zero_base_or_cap_means_no_wait() -> None:
    from syncd.api.retry import backoff_delay

    assert backoff_delay(3, base_delay_s=0.0, rng=lambda: 1.0) == 0.0
    assert backoff_delay(3, max_delay_s=0.0, rng=lambda: 1.0) == 0.0
