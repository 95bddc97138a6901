"""Helpers for the dispatcher tests: events in the outbox, a virtual clock, scripted sinks."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from syncd.events.dispatcher import Dispatcher
from syncd.events.envelope import ChangeEvent, OutboxEvent
from syncd.events.outbox import append_events
from syncd.events.rules import SinkRule
from syncd.events.sinks import MemorySink, RetryableDelivery, Sink
from syncd.store.tables import deliveries, sink_state
from syncd.sync.mirror import take_write_lock

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class VirtualClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        assert moment >= self.now, "time never goes back"
        self.now = moment


def change(
    n: int, type: str = "conversation.updated", *, backfill: bool = False, at: datetime = T0
) -> ChangeEvent:
    return ChangeEvent(
        type=type,
        workspace_id="ws_1",
        subject_id=f"conv_{n}",
        data={"id": f"conv_{n}", "n": n},
        observed_at=at,
        backfill=backfill,
    )


def append(engine: Engine, batch: Sequence[ChangeEvent]) -> list[str]:
    """Write events like the sync engine does (write lock, one transaction); return their ids."""
    with engine.begin() as conn:
        take_write_lock(conn)
        append_events(conn, batch)
    return [event.id for event in batch]


def append_many(engine: Engine, count: int, **options: object) -> list[str]:
    return append(engine, [change(n, **options) for n in range(count)])  # type: ignore[arg-type]


def dispatcher(
    engine: Engine,
    *sinks: tuple[SinkRule, Sink] | Sink,
    clock: VirtualClock | None = None,
    **options: object,
) -> Dispatcher:
    lanes = [item if isinstance(item, tuple) else (SinkRule(item.name), item) for item in sinks]
    return Dispatcher(
        engine,
        lanes,
        clock=clock or VirtualClock(),
        rng=random.Random(7),
        **options,  # type: ignore[arg-type]
    )


async def run_until_idle(d: Dispatcher, clock: VirtualClock, *, max_rounds: int = 1000) -> int:
    """Jump virtual time from one due moment to the next until nothing is due; return rounds."""
    for rounds in range(max_rounds):
        due = await d.next_due()
        if due is None:
            return rounds
        if due > clock.now:
            clock.set(due)
        await d.deliver_due(clock.now)
    raise AssertionError(f"still busy after {max_rounds} rounds")


def ids(events: Sequence[OutboxEvent]) -> list[str]:
    return [event.id for event in events]


def outcomes(engine: Engine, sink: str) -> list[tuple[str, str, int]]:
    """(event_id, outcome, attempt) of every deliveries row of the sink, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.event_id, deliveries.c.outcome, deliveries.c.attempt)
            .where(deliveries.c.sink == sink)
            .order_by(deliveries.c.id)
        ).all()
    return [(row.event_id, row.outcome, row.attempt) for row in rows]


def state(engine: Engine, sink: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(select(sink_state).where(sink_state.c.sink == sink)).mappings().one()
    return dict(row)


class ScriptedSink(MemorySink):
    """A MemorySink that refuses events for which ``refuse(event)`` returns an error."""

    def __init__(
        self,
        name: str = "scripted",
        *,
        max_batch: int = 100,
        refuse: Callable[[OutboxEvent], Exception | None] = lambda _: None,
    ) -> None:
        super().__init__(name, max_batch=max_batch)
        self.refuse = refuse
        self.attempted: list[list[str]] = []

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        self.attempted.append(ids(batch))
        for event in batch:
            error = self.refuse(event)
            if error is not None:
                raise error
        await super().deliver(batch)


def poison(event_id: str) -> Callable[[OutboxEvent], Exception | None]:
    return lambda event: RetryableDelivery("receiver: 500") if event.id == event_id else None
