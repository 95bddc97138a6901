"""A receiver down for many retry intervals, driven by a virtual clock (no real waiting)."""

from __future__ import annotations

from datetime import timedelta

from dispatch_support import (
    T0,
    ScriptedSink,
    VirtualClock,
    append_many,
    dispatcher,
    ids,
    outcomes,
    state,
)
from sqlalchemy import Engine

from syncd.events.envelope import OutboxEvent
from syncd.events.rules import SinkRule
from syncd.events.sinks import RetryableDelivery


async def test_receiver_down_for_two_days_gets_everything_in_order_after_it_recovers(
    engine: Engine,
) -> None:
    clock = VirtualClock()
    recovers_at = T0 + timedelta(days=2)

    def refuse(_: OutboxEvent) -> Exception | None:
        if clock.now < recovers_at:
            return RetryableDelivery("receiver: 503 Service Unavailable", retry_after=60)
        return None

    ordered = ScriptedSink("ordered", max_batch=1, refuse=refuse)
    batched = ScriptedSink("batched", max_batch=50, refuse=refuse)
    sent = append_many(engine, 30)
    async with dispatcher(engine, ordered, batched, clock=clock) as d:
        # Events keep arriving during the outage; time jumps from one due attempt to the next.
        while clock.now < recovers_at + timedelta(days=1):
            due = await d.next_due()
            if due is None:
                break
            clock.set(max(due, clock.now))
            await d.deliver_due(clock.now)
            if len(sent) < 90 and clock.now < recovers_at:
                sent += append_many(engine, 10)
        assert await d.next_due() is None
    for sink in (ordered, batched):
        assert ids(sink.events) == sent  # every event, once, in order
        failures = [row for row in outcomes(engine, sink.name) if row[1] == "failed"]
        assert 6 <= len(failures) <= 12  # backed off, not hammered
        assert {row[0] for row in failures} == {sent[0]}  # always the head
        assert state(engine, sink.name)["failing_since"] is None
    # Recovery is noticed within one capped interval of the receiver coming back.
    assert clock.now <= recovers_at + timedelta(hours=12)


async def test_unordered_sink_dead_letters_nothing_that_the_outage_did_not_outlast(
    engine: Engine,
) -> None:
    clock = VirtualClock()
    recovers_at = T0 + timedelta(hours=3)

    def refuse(_: OutboxEvent) -> Exception | None:
        return RetryableDelivery("down") if clock.now < recovers_at else None

    sink = ScriptedSink("loose", max_batch=1, refuse=refuse)
    sent = append_many(engine, 5)
    rule = SinkRule("loose", ordered=False)
    async with dispatcher(engine, (rule, sink), clock=clock) as d:
        for _ in range(100):
            due = await d.next_due()
            if due is None:
                break
            clock.set(max(due, clock.now))
            await d.deliver_due(clock.now)
    assert ids(sink.events) == sent
    assert "dead" not in {row[1] for row in outcomes(engine, "loose")}
