"""The request budget (README.md), counted by the simulator's server.

An idle ``syncd sync`` makes, per scope, max(1, ceil(n / 100)) list requests for each non-terminal
status, one head page of the unfiltered list, two attention requests (open, acknowledged), and
one status-counts request per workspace; one changed conversation adds at most two requests.
Unsettled attachments are re-read with exponential backoff (poll interval doubling up to the
refresh interval), not on every pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sync_support import (
    TERMINAL,
    StepClock,
    conversation,
    conversations_in,
    event_count,
    events_after,
    idle_cost,
    make_settings,
    settle_attachments,
    status_counts,
    sync,
    types_of,
)

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.sim.config import ListOrder
from syncd.sync.session import open_sync

UNKNOWN_STATUS = "snoozed"  # not documented: counts as non-terminal, so it gets a list of its own


def budget_simulator(order: ListOrder) -> Simulator:
    """Two workspaces; more than one page of ``open`` over the whole key; an unknown status."""
    sim = Simulator(SimConfig(seed=5, conversations=130, messages_per_conversation=3, order=order))
    others = [
        cid for status in (*TERMINAL, "awaiting_contact") for cid in conversations_in(sim, status)
    ]
    for cid in others[: max(0, 105 - len(conversations_in(sim, "open")))]:
        sim.set_status(cid, "open")
    sim.set_status(conversations_in(sim, "in_progress")[0], UNKNOWN_STATUS)
    settle_attachments(sim)
    assert status_counts(sim, None)["open"] > 100, "the whole key must need two pages of open"
    return sim


@pytest.fixture(params=["id", "newest"])
def server(request: pytest.FixtureRequest) -> Iterator[SimServer]:
    with SimServer(budget_simulator(request.param)) as server:
        yield server


def total(counts: Counter[str]) -> int:
    return sum(counts.values())


async def test_an_idle_pass_makes_exactly_the_budgeted_requests(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    async with open_sync(make_settings(server.base_url, db_url)) as ctx:
        await sync(ctx)  # the backfill
        server.reset_counts()
        await sync(ctx)
        assert server.request_counts == idle_cost(sim, [])

    # The same mirror synced per workspace: the first pass walks each workspace once (a
    # reconcile of a scope never reconciled), finds nothing new, and then the budget holds.
    workspaces = sim.workspace_ids()
    before = event_count(engine)
    async with open_sync(make_settings(server.base_url, db_url, workspaces=workspaces)) as ctx:
        await sync(ctx)
        assert event_count(engine) == before
        server.reset_counts()
        await sync(ctx)
        assert server.request_counts == idle_cost(sim, workspaces)
    assert event_count(engine) == before


async def test_one_changed_conversation_adds_at_most_two_requests(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    extra: dict[str, int] = {}

    async def measure(change: str, subject: str) -> Counter[str]:
        """One pass after the change: the requests beyond the idle budget, the events told."""
        seen = event_count(engine)
        server.reset_counts()
        await sync(ctx)
        extra[change] = total(server.request_counts) - total(idle_cost(sim, []))
        return types_of(e for e in events_after(engine, seen) if e["subject_id"] == subject)

    async with open_sync(make_settings(server.base_url, db_url)) as ctx:
        await sync(ctx)
        first, second, third = conversations_in(sim, "open")[:3]

        message_id = sim.add_message(first, "inbound")
        told = await measure("new inbound message", message_id)
        assert extra["new inbound message"] == 2  # the detail and the attachments
        assert server.request_counts["get_conversation"] == 1
        assert server.request_counts["get_attachments"] == 1
        assert told == Counter({"message.received": 1})

        sim.set_status(second, "in_progress")
        told = await measure("open -> in_progress", second)
        assert extra["open -> in_progress"] <= 2
        assert told == Counter({"conversation.status_changed": 1})

        sim.set_status(third, "resolved")  # leaves every hot list
        told = await measure("open -> resolved", third)
        assert extra["open -> resolved"] <= 3
        assert told == Counter({"conversation.resolved": 1})
        assert conversation(engine, third)["status"] == "resolved"

        item_id = sim.raise_attention_item(second)  # the open attention list shows it
        told = await measure("attention item raised", item_id)
        assert extra["attention item raised"] == 0
        assert told == Counter({"attention_item.created": 1})

        sim.resolve_attention_item(item_id)  # left the open set: re-read by its conversation
        told = await measure("attention item resolved", item_id)
        assert extra["attention item resolved"] == 1
        assert told == Counter({"attention_item.resolved": 1})

        server.reset_counts()
        await sync(ctx)
        assert server.request_counts == idle_cost(sim, []), f"idle again after {extra}"


async def test_an_unsettled_attachment_is_reread_with_exponential_backoff_until_it_settles(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = Simulator(SimConfig(seed=9, conversations=40, messages_per_conversation=2))
    settle_attachments(sim)
    cid = conversations_in(sim, "resolved")[0]  # no hot list shows it: re-read all the same
    attachment_id = sim.add_attachment(cid, status="processing")
    clock = StepClock()
    with SimServer(sim) as server:
        settings = make_settings(server.base_url, db_url, poll_interval_s=30)
        async with open_sync(settings) as ctx:
            ctx.clock = clock
            await sync(ctx)  # the backfill: next look in 30 s, then 60, 120, ...
            reread_at = {30.0, 90.0, 210.0}
            elapsed = 0.0
            for step in (10, 20, 30, 30, 60, 60):
                elapsed += step
                clock.advance(step)
                server.reset_counts()
                await sync(ctx)
                extra = Counter({"get_attachments": 1}) if elapsed in reread_at else Counter()
                assert server.request_counts == idle_cost(sim, []) + extra, f"at +{elapsed}s"

            sim.set_attachment_status(attachment_id, "ready")
            seen = event_count(engine)
            clock.advance(90)  # +300 s: not due before +210 + 240 = +450 s
            await sync(ctx)
            assert events_after(engine, seen) == []
            clock.advance(150)  # +450 s
            server.reset_counts()
            await sync(ctx)
            assert server.request_counts == idle_cost(sim, []) + Counter({"get_attachments": 1})
            told = events_after(engine, seen)
            assert [(e["type"], e["subject_id"]) for e in told] == [
                ("attachment.updated", attachment_id)
            ]
            clock.advance(3000)
            server.reset_counts()
            await sync(ctx)
            assert server.request_counts == idle_cost(sim, []), "settled: never read again"


async def test_a_failing_attachment_reread_moves_the_backoff_on_instead_of_retrying_every_pass(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = Simulator(SimConfig(seed=9, conversations=40, messages_per_conversation=2))
    settle_attachments(sim)
    cid = conversations_in(sim, "resolved")[0]
    sim.add_attachment(cid, status="processing")
    clock = StepClock()
    with SimServer(sim) as server:
        settings = make_settings(server.base_url, db_url, poll_interval_s=30)
        async with open_sync(settings) as ctx:
            ctx.clock = clock
            await sync(ctx)  # next look in 30 s
            clock.advance(30)
            sim.fail_next("get_attachments", status=500, times=10)
            server.reset_counts()
            await sync(ctx)
            assert server.request_counts["get_attachments"] >= 1, "due: tried (and failed)"
            assert conversation(engine, cid)["attachments_backoff_s"] == 60
            clock.advance(30)  # +60 s: the next step is +90 s, not the next pass
            server.reset_counts()
            await sync(ctx)
            assert server.request_counts == idle_cost(sim, [])
