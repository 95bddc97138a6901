"""The shared request budget: token bucket, concurrency limit and priorities, in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest

from syncd.api import Priority, RequestBudget
from syncd.api.testing import FakeClock


class ManualClock:
    """A clock that stands still until the test calls ``advance``."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.time

    def now(self) -> datetime:
        raise AssertionError("the budget does not read the wall clock")

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.time + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        self.time += seconds
        due = [entry for entry in self._sleepers if entry[0] <= self.time + 1e-9]
        for entry in due:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (no wall-clock waiting)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def take_and_release(budget: RequestBudget, priority: Priority = Priority.DETAIL) -> None:
    async with budget.slot(priority):
        pass


@pytest.mark.parametrize(
    ("count", "rate", "burst", "expected_s"),
    [
        (21, 10.0, 1.0, 2.0),
        (10, 5.0, 5.0, 1.0),
        (3, 1.0, 5.0, 0.0),
        (101, 20.0, None, (101 - 5) / 20.0),  # default burst: a quarter second of requests
    ],
)
async def test_n_requests_at_rate_r_take_the_expected_virtual_time(
    count: int, rate: float, burst: float | None, expected_s: float
) -> None:
    clock = FakeClock()
    budget = RequestBudget(rate, max_concurrency=1000, burst=burst, clock=clock)
    await asyncio.gather(*(take_and_release(budget) for _ in range(count)))
    assert clock.monotonic() == pytest.approx(expected_s)


async def test_sequential_requests_are_spaced_by_the_rate() -> None:
    clock = FakeClock()
    budget = RequestBudget(4.0, max_concurrency=1, burst=1.0, clock=clock)
    starts = []
    for _ in range(5):
        async with budget.slot(Priority.HOT):
            starts.append(clock.monotonic())
    assert starts == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


async def test_idle_time_refills_the_bucket_only_up_to_the_burst() -> None:
    clock = FakeClock()
    budget = RequestBudget(1.0, max_concurrency=10, burst=3.0, clock=clock)
    await asyncio.gather(*(take_and_release(budget) for _ in range(3)))
    clock.advance(100.0)
    await asyncio.gather(*(take_and_release(budget) for _ in range(4)))
    assert clock.monotonic() == pytest.approx(101.0)


async def test_a_higher_priority_waiter_is_served_before_an_earlier_lower_one() -> None:
    clock = ManualClock()
    budget = RequestBudget(1.0, max_concurrency=10, burst=1.0, clock=clock)
    await take_and_release(budget)  # the bucket is now empty
    order: list[str] = []

    async def request(name: str, priority: Priority) -> None:
        async with budget.slot(priority):
            order.append(name)

    tasks = [asyncio.create_task(request("reconcile", Priority.RECONCILE))]
    await until(lambda: budget.waiting == 1)
    tasks.append(asyncio.create_task(request("detail", Priority.DETAIL)))
    tasks.append(asyncio.create_task(request("attention-1", Priority.ATTENTION)))
    tasks.append(asyncio.create_task(request("attention-2", Priority.ATTENTION)))
    await until(lambda: budget.waiting == 4)
    assert order == []
    for served in range(1, 5):
        clock.advance(1.0)
        await until(lambda n=served: len(order) == n)  # type: ignore[misc]
    await asyncio.gather(*tasks)
    assert order == ["attention-1", "attention-2", "detail", "reconcile"]


async def test_a_freed_concurrency_slot_goes_to_the_highest_priority_waiter() -> None:
    clock = FakeClock()
    budget = RequestBudget(1000.0, max_concurrency=1, burst=100.0, clock=clock)
    order: list[str] = []

    async def request(name: str, priority: Priority) -> None:
        async with budget.slot(priority):
            order.append(name)

    await budget.acquire(Priority.DETAIL)
    tasks = [
        asyncio.create_task(request("reconcile", Priority.RECONCILE)),
        asyncio.create_task(request("hot", Priority.HOT)),
    ]
    await until(lambda: budget.waiting == 2)
    assert budget.in_flight == 1
    budget.release()
    await asyncio.gather(*tasks)
    assert order == ["hot", "reconcile"]


async def test_a_follow_up_request_keeps_its_place_inside_keep_place() -> None:
    """A conversation's second request is served before requests queued after its first."""
    clock = FakeClock()
    budget = RequestBudget(1000.0, max_concurrency=1, burst=100.0, clock=clock)
    order: list[str] = []

    async def conversation(name: str, *, keep: bool) -> None:
        async def two_requests() -> None:
            async with budget.slot(Priority.RECONCILE):
                order.append(f"{name}.detail")
            async with budget.slot(Priority.RECONCILE):
                order.append(f"{name}.attachments")

        if keep:
            with budget.keep_place():
                await two_requests()
        else:
            await two_requests()

    for keep in (False, True):
        order.clear()
        await budget.acquire(Priority.DETAIL)
        first = asyncio.create_task(conversation("a", keep=keep))
        await until(lambda: budget.waiting == 1)
        later = [asyncio.create_task(take_and_named(budget, order, f"b{i}")) for i in range(2)]
        await until(lambda: budget.waiting == 3)
        budget.release()
        await asyncio.gather(first, *later)
        if keep:
            assert order == ["a.detail", "a.attachments", "b0", "b1"]
        else:
            assert order == ["a.detail", "b0", "b1", "a.attachments"]


async def take_and_named(budget: RequestBudget, order: list[str], name: str) -> None:
    async with budget.slot(Priority.RECONCILE):
        order.append(name)


async def test_at_most_max_concurrency_requests_are_in_flight() -> None:
    budget = RequestBudget(1000.0, max_concurrency=3, burst=100.0, clock=FakeClock())
    gate = asyncio.Event()
    peak = 0

    async def request() -> None:
        nonlocal peak
        async with budget.slot():
            peak = max(peak, budget.in_flight)
            await gate.wait()

    tasks = [asyncio.create_task(request()) for _ in range(7)]
    await until(lambda: budget.in_flight == 3 and budget.waiting == 4)
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert budget.in_flight == 0


async def test_waiting_for_a_token_is_reported_to_the_hook() -> None:
    waits: list[float] = []
    budget = RequestBudget(
        2.0, max_concurrency=5, burst=1.0, clock=FakeClock(), on_wait=waits.append
    )
    await take_and_release(budget)
    await take_and_release(budget)
    assert waits == [pytest.approx(0.5)]


async def test_a_cancelled_waiter_leaves_the_queue_and_others_proceed() -> None:
    clock = ManualClock()
    budget = RequestBudget(1.0, max_concurrency=10, burst=1.0, clock=clock)
    await take_and_release(budget)
    first = asyncio.create_task(take_and_release(budget, Priority.RECONCILE))
    await until(lambda: budget.waiting == 1)
    second = asyncio.create_task(take_and_release(budget, Priority.RECONCILE))
    await until(lambda: budget.waiting == 2)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert budget.waiting == 1
    clock.advance(1.0)
    await second
    assert budget.waiting == 0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RequestBudget(0, 1)
    with pytest.raises(ValueError):
        RequestBudget(1, 0)
    with pytest.raises(ValueError):
        RequestBudget(1, 1, burst=0.5)


def test_priorities_order_attention_hot_detail_reconcile_refresh() -> None:
    assert sorted(Priority, reverse=True) == [
        Priority.REFRESH,
        Priority.RECONCILE,
        Priority.DETAIL,
        Priority.HOT,
        Priority.ATTENTION,
    ]
