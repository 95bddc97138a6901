"""Retention prunes only what every configured sink is done with; status tells what is held."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dispatch_support import (
    T0,
    ScriptedSink,
    VirtualClock,
    append,
    change,
    dispatcher,
    poison,
    run_until_idle,
)
from sqlalchemy import Engine, func, select

from syncd.config import load_settings
from syncd.events.retention import prune_events
from syncd.events.rules import SinkRule
from syncd.events.sink_status import describe_sink_status, sink_status
from syncd.events.sinks import MemorySink
from syncd.store.tables import deliveries, events


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def old_and_new(engine: Engine) -> tuple[list[str], list[str]]:
    old = append(engine, [change(n, at=T0 - timedelta(days=40)) for n in range(4)])
    new = append(engine, [change(n, at=T0) for n in range(4, 6)])
    return old, new


async def test_events_every_sink_has_passed_are_pruned_after_retention_with_their_deliveries(
    engine: Engine,
) -> None:
    old_and_new(engine)
    clock = VirtualClock()
    async with dispatcher(engine, MemorySink("a"), MemorySink("b"), clock=clock) as d:
        await run_until_idle(d, clock)
    assert count(engine, deliveries) == 12
    with engine.begin() as conn:
        assert prune_events(conn, ["a", "b"], 30, T0) == 4
    assert count(engine, events) == 2 and count(engine, deliveries) == 4


async def test_a_sink_that_is_behind_holds_retention_and_status_counts_what_it_holds(
    engine: Engine, isolated_config: object
) -> None:
    old_and_new(engine)
    clock = VirtualClock()
    async with dispatcher(engine, MemorySink("a"), clock=clock) as d:
        await run_until_idle(d, clock)
    with engine.begin() as conn:
        # "late" is configured but never ran: its position is 0, so nothing may go yet.
        assert prune_events(conn, ["a", "late"], 30, T0) == 0
        assert prune_events(conn, ["a"], 30, T0) == 4
    assert count(engine, events) == 2
    settings = load_settings(
        None,
        sinks=[
            {"name": "a", "type": "stdout"},
            {"name": "late", "type": "file", "path": "/tmp/x", "events": ["conversation.*"]},
        ],
    )
    append(engine, [change(9, at=T0 - timedelta(days=31))])
    with engine.connect() as conn:
        rows = {row["name"]: row for row in sink_status(conn, settings, now=T0)}
    assert rows["a"]["backlog"] == 1 and rows["a"]["held_over_retention"] == 1
    assert rows["late"]["backlog"] == 3 and rows["late"]["position"] == 0
    assert "backlog 3" in describe_sink_status(rows["late"])


async def test_dead_letters_are_kept_past_retention_until_replayed(engine: Engine) -> None:
    old, _ = old_and_new(engine)
    sink = ScriptedSink("hook", max_batch=1, refuse=poison(old[1]))
    clock = VirtualClock()
    async with dispatcher(
        engine, (SinkRule("hook", ordered=False, max_attempts=2), sink), clock=clock
    ) as d:
        await run_until_idle(d, clock)
    with engine.begin() as conn:
        assert prune_events(conn, ["hook"], 30, clock.now) == 3
    with engine.connect() as conn:
        kept = conn.scalars(select(events.c.id).order_by(events.c.seq)).all()
    assert kept[0] == old[1]


@pytest.mark.parametrize("days", [30.0, 0.5])
async def test_nothing_younger_than_retention_is_pruned(engine: Engine, days: float) -> None:
    append(engine, [change(n, at=T0 - timedelta(hours=1)) for n in range(3)])
    clock = VirtualClock()
    async with dispatcher(engine, MemorySink("a"), clock=clock) as d:
        await run_until_idle(d, clock)
    with engine.begin() as conn:
        assert prune_events(conn, ["a"], days, T0) == 0
