"""The dispatcher over a real database: order, retries, dead letters, filters, 410, draining."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dispatch_support import (
    ScriptedSink,
    VirtualClock,
    append,
    append_many,
    change,
    dispatcher,
    ids,
    outcomes,
    poison,
    run_until_idle,
    state,
)
from sqlalchemy import Engine

from syncd.events import ledger
from syncd.events.rules import SinkRule
from syncd.events.sinks import MemorySink, RetryableDelivery, SinkGone


async def test_ordered_sink_that_fails_three_times_gets_every_event_once_in_order(
    engine: Engine,
) -> None:
    sent = append_many(engine, 25)
    sink = MemorySink("mem", max_batch=10)
    sink.fail_next(times=3)
    clock = VirtualClock()
    async with dispatcher(engine, sink, clock=clock) as d:
        await run_until_idle(d, clock)
    assert ids(sink.events) == sent
    rows = outcomes(engine, "mem")
    assert rows[:3] == [(sent[0], "failed", 1), (sent[0], "failed", 2), (sent[0], "failed", 3)]
    assert rows[3] == (sent[0], "delivered", 4)
    assert [row[0] for row in rows[3:]] == sent
    final = state(engine, "mem")
    assert final["head_attempts"] == 0 and final["last_error"] is None
    assert final["failing_since"] is None and final["next_attempt_at"] is None


async def test_a_failing_head_is_retried_alone_then_batches_resume(engine: Engine) -> None:
    sent = append_many(engine, 12)
    sink = ScriptedSink("mem", max_batch=5)
    sink.fail_next()
    clock = VirtualClock()
    async with dispatcher(engine, sink, clock=clock) as d:
        await run_until_idle(d, clock)
    assert sink.attempted == [sent[0:5], sent[0:1], sent[1:6], sent[6:11], sent[11:12]]


async def test_backoff_waits_longer_after_each_failure_and_honours_retry_after(
    engine: Engine,
) -> None:
    append_many(engine, 1)
    sink = MemorySink("mem")
    sink.fail_next(times=3)
    sink.fail_next(RetryableDelivery("429", retry_after=3000))
    clock = VirtualClock()
    waits = []
    async with dispatcher(engine, sink, clock=clock) as d:
        for _ in range(4):
            await d.deliver_due(clock.now)
            due = await d.next_due()
            assert due is not None
            waits.append((due - clock.now).total_seconds())
            clock.set(due)
    assert 15 <= waits[0] <= 30 and 60 <= waits[1] <= 120 and 240 <= waits[2] <= 480
    assert waits[3] >= 3000


async def test_nothing_is_sent_before_the_next_attempt_is_due_unless_forced(
    engine: Engine,
) -> None:
    append_many(engine, 2)
    sink = MemorySink("mem")
    sink.fail_next()
    clock = VirtualClock()
    async with dispatcher(engine, sink, clock=clock) as d:
        await d.deliver_due(clock.now)
        clock.advance(1)
        await d.deliver_due(clock.now)
        assert sink.events == []
        await d.deliver_due(clock.now, force=True)
    assert len(sink.events) == 2


async def test_unordered_sink_parks_a_poison_event_as_dead_letter_and_goes_on(
    engine: Engine,
) -> None:
    sent = append_many(engine, 6)
    sink = ScriptedSink("hook", max_batch=1, refuse=poison(sent[2]))
    rule = SinkRule("hook", ordered=False, max_attempts=3)
    clock = VirtualClock()
    async with dispatcher(engine, (rule, sink), clock=clock) as d:
        await run_until_idle(d, clock)
    assert ids(sink.events) == sent[:2] + sent[3:]
    dead = [row for row in outcomes(engine, "hook") if row[1] in ("failed", "dead")]
    assert dead == [(sent[2], "failed", 1), (sent[2], "failed", 2), (sent[2], "dead", 3)]
    assert state(engine, "hook")["position"] > 0 and state(engine, "hook")["head_attempts"] == 0


async def test_ordered_sink_never_skips_a_poison_event_it_waits_and_retries_at_the_cap(
    engine: Engine,
) -> None:
    sent = append_many(engine, 4)
    sink = ScriptedSink("hook", max_batch=1, refuse=poison(sent[1]))
    rule = SinkRule("hook", ordered=True, max_attempts=3)
    clock = VirtualClock()
    async with dispatcher(engine, (rule, sink), clock=clock) as d:
        for _ in range(10):
            due = await d.next_due()
            assert due is not None
            clock.set(max(due, clock.now))
            await d.deliver_due(clock.now)
    assert ids(sink.events) == sent[:1]
    assert [row[1] for row in outcomes(engine, "hook")] == ["delivered"] + ["failed"] * 10
    final = state(engine, "hook")
    assert final["head_attempts"] == 10 and "500" in str(final["last_error"])
    assert final["next_attempt_at"] - clock.now >= timedelta(hours=6)  # the capped interval


async def test_patterns_and_backfill_skip_pass_events_over_without_delivery_rows(
    engine: Engine,
) -> None:
    append(
        engine,
        [
            change(1, "attention_item.created", backfill=True),
            change(2, "conversation.created"),
            change(3, "attention_item.created"),
            change(4, "message.received"),
            change(5, "attention_item.resolved"),
            change(6, "conversation.updated"),
        ],
    )
    wanted = ScriptedSink("attention", max_batch=10)
    everything = ScriptedSink("all", max_batch=10)
    rule = SinkRule("attention", events=("attention_item.*",), backfill="skip")
    clock = VirtualClock()
    async with dispatcher(engine, (rule, wanted), everything, clock=clock) as d:
        await run_until_idle(d, clock)
    assert [e.subject_id for e in wanted.events] == ["conv_3", "conv_5"]
    assert len(everything.events) == 6
    assert [row[1] for row in outcomes(engine, "attention")] == ["delivered"] * 2
    assert state(engine, "attention")["position"] == state(engine, "all")["position"]


def test_star_crosses_dots_in_patterns() -> None:
    rule = SinkRule("s", events=("*.created", "message.*"))
    assert rule.wants("attention_item.created", False)
    assert rule.wants("message.sent", False)
    assert not rule.wants("conversation.updated", False)
    assert SinkRule("s", events=("*",)).wants("status_counts.changed", True)


async def test_a_410_disables_the_sink_until_it_is_enabled_again(engine: Engine) -> None:
    sent = append_many(engine, 3)
    sink = MemorySink("hook", max_batch=1)
    sink.fail_next(SinkGone("webhook hook: 410 Gone"))
    clock = VirtualClock()
    async with dispatcher(engine, sink, clock=clock) as d:
        reports = await d.deliver_due(clock.now, force=True)
        assert reports["hook"].disabled
        assert await d.next_due() is None
        await d.deliver_due(clock.now, force=True)
        assert sink.events == []
        assert state(engine, "hook")["disabled_reason"] == "webhook hook: 410 Gone"
        with engine.begin() as conn:
            assert ledger.enable(conn, "hook")
        await run_until_idle(d, clock)
    assert ids(sink.events) == sent


async def test_sinks_are_independent_a_failing_one_does_not_hold_back_another(
    engine: Engine,
) -> None:
    sent = append_many(engine, 5)
    down = ScriptedSink("down", refuse=lambda _: RetryableDelivery("connection refused"))
    up = MemorySink("up")
    clock = VirtualClock()
    async with dispatcher(engine, down, up, clock=clock) as d:
        reports = await d.deliver_due(clock.now)
    assert ids(up.events) == sent and down.events == []
    assert reports["down"].last_error == "connection refused" and reports["up"].delivered == 5


async def test_an_unexpected_exception_from_a_sink_is_retried_like_a_failure(
    engine: Engine,
) -> None:
    sent = append_many(engine, 2)
    sink = ScriptedSink("bug", refuse=lambda _: ValueError("oops"))
    clock = VirtualClock()
    async with dispatcher(engine, sink, clock=clock) as d:
        await d.deliver_due(clock.now)
        sink.refuse = lambda _: None
        await run_until_idle(d, clock)
    assert ids(sink.events) == sent
    assert outcomes(engine, "bug")[0][1] == "failed"


async def test_drain_with_no_time_left_tries_once_and_leaves_the_rest_pending(
    engine: Engine,
) -> None:
    append_many(engine, 3)
    sink = ScriptedSink("down", refuse=lambda _: RetryableDelivery("503"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with dispatcher(engine, sink) as d:
        reports = await d.drain(0, sleep=sleep)
    assert slept == [] and len(sink.attempted) == 1
    assert reports["down"].failed_attempts == 1 and reports["down"].delivered == 0


async def test_drain_retries_on_the_schedule_within_its_timeout(engine: Engine) -> None:
    sent = append_many(engine, 3)
    sink = MemorySink("flaky")
    sink.fail_next(times=2)
    clock = VirtualClock()
    elapsed = [0.0]

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        elapsed[0] += seconds

    async with dispatcher(engine, sink, clock=clock) as d:
        reports = await d.drain(600, sleep=sleep, monotonic=lambda: elapsed[0])
    assert ids(sink.events) == sent and reports["flaky"].delivered == 3
    assert 0 < elapsed[0] <= 150


async def test_the_daemon_loop_delivers_what_is_committed_after_a_wake_up(
    engine: Engine,
) -> None:
    received = asyncio.Event()

    class Notifying(MemorySink):
        async def deliver(self, batch):  # type: ignore[no-untyped-def]
            await super().deliver(batch)
            if len(self.events) >= 4:
                received.set()

    sink = Notifying("live")
    stop = asyncio.Event()
    async with dispatcher(engine, sink, clock=VirtualClock()) as d:
        loop = asyncio.create_task(d.run(stop))
        sent = append_many(engine, 2)
        d.wake()
        sent += await asyncio.to_thread(append_many, engine, 2)
        await asyncio.to_thread(d.wake)
        async with asyncio.timeout(30):
            await received.wait()
        stop.set()
        await asyncio.wait_for(loop, 30)
    assert ids(sink.events) == sent


async def test_two_dispatchers_on_one_sink_never_move_its_position_past_an_undelivered_event(
    engine: Engine,
) -> None:
    sent = append_many(engine, 40)
    first, second = MemorySink("s", max_batch=3), MemorySink("s", max_batch=7)
    clock = VirtualClock()
    async with (
        dispatcher(engine, first, clock=clock) as a,
        dispatcher(engine, second, clock=clock) as b,
    ):
        await asyncio.gather(a.deliver_due(clock.now), b.deliver_due(clock.now))
        await run_until_idle(a, clock)
    received = set(ids(first.events)) | set(ids(second.events))
    assert received == set(sent)
    assert state(engine, "s")["position"] == max(e.seq for e in first.events + second.events)


async def test_the_delivery_hook_counts_outcomes_for_metrics(engine: Engine) -> None:
    sent = append_many(engine, 4)
    sink = ScriptedSink("hook", max_batch=1, refuse=poison(sent[1]))
    counted: dict[str, int] = {}

    def on_delivery(sink_name: str, outcome: str, count: int) -> None:
        assert sink_name == "hook"
        counted[outcome] = counted.get(outcome, 0) + count

    rule = SinkRule("hook", ordered=False, max_attempts=2)
    clock = VirtualClock()
    async with dispatcher(engine, (rule, sink), clock=clock, on_delivery=on_delivery) as d:
        await run_until_idle(d, clock)
    assert counted == {"delivered": 3, "failed": 2, "dead": 1}
