"""The freshness contract (README.md), change by change, on SQLite and PostgreSQL.

Each test makes one kind of change in the simulator and runs the passes that the contract says
must see it within its bound: one hot pass for list-visible changes and (while the list is
newest-first) activity on terminal conversations; the heal that follows a hot pass for a drift
that outlived it; the refresh stream's interval for what no list row shows. The refresh tests
drive ``SyncContext.clock`` with a ``StepClock``, so "within the refresh interval" is exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sync_support import (
    StepClock,
    conversation,
    conversations_in,
    event_count,
    events_after,
    idle_cost,
    make_settings,
    settle_attachments,
    sync,
    types_of,
)

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.sim.config import ListOrder
from syncd.store import tables
from syncd.sync.attention import attention_pass
from syncd.sync.mirror import Mirror
from syncd.sync.session import open_sync

PAGE = 100


def simulator(order: ListOrder = "id", conversations: int = 250) -> Simulator:
    sim = Simulator(
        SimConfig(seed=21, conversations=conversations, messages_per_conversation=2, order=order)
    )
    settle_attachments(sim)
    return sim


@pytest.fixture(params=["id", "newest"])
def server(request: pytest.FixtureRequest) -> Iterator[SimServer]:
    with SimServer(simulator(request.param)) as server:
        yield server


def recent_simulator(seed: int) -> Simulator:
    """250 conversations whose history ends now (so terminal ones are recent too)."""
    sim = Simulator(
        SimConfig(
            seed=seed,
            conversations=250,
            messages_per_conversation=2,
            epoch=datetime.now(tz=UTC),
            detail_missing_rate=0,
        )
    )
    settle_attachments(sim)
    return sim


def refresh_settings(base_url: str, db_url: str) -> Any:
    """Poll 30 s, refresh 300 s over 100 recent days (tests step the clock)."""
    return make_settings(
        base_url, db_url, poll_interval_s=30, refresh_interval_s=300, refresh_recent_days=100
    )


def told(engine: Engine, since: int, subject: str) -> list[tuple[str, Any]]:
    """(type, changes) of the events about ``subject`` written after the first ``since``."""
    import json

    return [
        (e["type"], json.loads(e["payload"]).get("changes"))
        for e in events_after(engine, since)
        if e["subject_id"] == subject
    ]


def head_state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        state = Mirror(conn).read_state("*", "head")
    return {"watermark": state.watermark, **(state.state or {})}


def not_on_the_first_page(sim: Simulator, candidates: list[str]) -> str:
    """A conversation the first page of the (id-ordered) unfiltered list does not show."""
    first_page = set(sim.conversation_ids()[:PAGE])
    return next(cid for cid in candidates if cid not in first_page)


async def test_a_reply_to_a_resolved_conversation_is_seen_by_the_next_hot_pass_while_the_list_is_newest_first(  # noqa: E501
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    newest = sim.config.order == "newest"
    async with open_sync(make_settings(server.base_url, db_url)) as ctx:
        await sync(ctx)
        cid = not_on_the_first_page(sim, conversations_in(sim, "resolved"))
        seen = event_count(engine)
        message_id = sim.add_message(cid, "inbound")  # the conversation stays resolved
        results = await sync(ctx)
    streams = {r.stream for r in results}
    assert "reconcile" not in streams and "heal" not in streams
    head = head_state(engine)
    if newest:
        assert head["active"] is True and head["reason"] is None
        assert [kind for kind, _ in told(engine, seen, message_id)] == ["message.received"]
    else:
        # Keyset by id: the first page proves the order broken; recent conversations are
        # refreshed, old ones wait for the reconcile (the contract's "otherwise" row).
        assert head["active"] is False and "not newest-first" in head["reason"]
        assert told(engine, seen, message_id) == []


async def test_a_conversation_created_and_closed_between_two_polls_is_seen_by_the_next_sync(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    async with open_sync(make_settings(server.base_url, db_url)) as ctx:
        await sync(ctx)
        workspace = sim.workspace_ids()[0]
        cid = sim.add_conversation(workspace, status="open")
        sim.set_status(cid, "closed")
        seen = event_count(engine)
        results = await sync(ctx)
    assert [kind for kind, _ in told(engine, seen, cid)] == ["conversation.created"]
    assert conversation(engine, cid)["status"] == "closed"
    streams = [r.stream for r in results]
    assert "reconcile" not in streams
    on_head = sim.config.order == "newest" or cid in sim.conversation_ids()[:PAGE]
    # The status counts, read first, drift (closed +1). On the head page, the hot pass itself
    # mends it (the heal's second look finds it transient); else the heal walks the closed list.
    heal = results[streams.index("heal")]
    assert streams.index("heal") == streams.index("hot") + 1
    assert (heal.heal_kind, heal.drift) == ("transient" if on_head else "real", {})


async def test_a_move_between_two_terminal_statuses_is_healed_after_the_next_hot_pass(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    async with open_sync(make_settings(server.base_url, db_url)) as ctx:
        await sync(ctx)
        cid = not_on_the_first_page(sim, conversations_in(sim, "resolved"))
        sim.set_status(cid, "closed")  # no message: its lastMessageAt stays where it was
        seen = event_count(engine)
        server.reset_counts()
        results = await sync(ctx)
    assert told(engine, seen, cid) == [
        ("conversation.status_changed", told(engine, seen, cid)[0][1])
    ]
    assert told(engine, seen, cid)[0][1]["status"] == ["resolved", "closed"]
    heal = next(r for r in results if r.stream == "heal")
    assert (heal.heal_kind, heal.drift) == ("real", {})
    assert "reconcile" not in {r.stream for r in results}
    # The heal walked the two drifting lists, no more: far below a reconcile's cost.
    resolved_and_closed = sum(len(conversations_in(sim, s)) for s in ("resolved", "closed"))
    walked = server.request_counts["list_conversations"] - idle_cost(sim, [])["list_conversations"]
    assert walked <= resolved_and_closed // PAGE + 2


async def test_changes_in_flight_are_transient_drift_and_cost_no_walk(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    with SimServer(simulator()) as server:
        sim = server.simulator
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            # Created after the hot pass, before the status counts: in flight, not drift.
            from syncd.sync.hot import hot_pass
            from syncd.sync.status_counts import status_counts_pass

            await hot_pass(ctx, None)
            cid = sim.add_conversation(sim.workspace_ids()[0], status="open")
            counted = await status_counts_pass(ctx, sim.conversation(cid).workspace_id)
            assert counted.drift == {"open": 1}
            server.reset_counts()
            results = await sync(ctx)
    heal = [r for r in results if r.stream == "heal"]
    assert [(r.heal_kind, r.drift) for r in heal] == [("transient", {})]
    assert "reconcile" not in {r.stream for r in results}


async def test_a_detail_only_change_reaches_the_mirror_within_the_refresh_interval_evenly_spread(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    clock = StepClock()
    with SimServer(simulator(conversations=60)) as server:
        sim = server.simulator
        settings = make_settings(
            server.base_url, db_url, poll_interval_s=30, refresh_interval_s=300
        )
        async with open_sync(settings) as ctx:
            ctx.clock = clock
            await sync(ctx)
            started = clock()
            cid = conversations_in(sim, "open")[0]
            sim.assign(cid, "usr_42")  # no list field shows it: only updatedAt moves
            seen = event_count(engine)
            per_pass = []
            for _ in range(10):  # 10 x 30 s: one refresh interval
                clock.advance(30)
                server.reset_counts()
                await sync(ctx)
                per_pass.append(server.request_counts["get_conversation"])
                assert server.request_counts["get_attachments"] == per_pass[-1]
    kinds = told(engine, seen, cid)
    assert [kind for kind, _ in kinds] == ["conversation.updated"]
    assert set(kinds[0][1]) == {"updatedAt", "lastActivityAt"}
    assert conversation(engine, cid)["raw"]["updatedAt"] == sim.detail(cid)["updatedAt"]
    recent = [
        c for s in ("open", "in_progress", "awaiting_contact") for c in conversations_in(sim, s)
    ]
    assert sum(per_pass) == len(recent), "each recent conversation once per interval"
    assert max(per_pass) - min(per_pass) <= 1, f"spread evenly, not a burst: {per_pass}"
    c = tables.conversations
    with engine.connect() as conn:
        stale = conn.scalars(
            select(c.c.id).where(c.c.id.in_(recent), c.c.refreshed_at <= started)
        ).all()
    assert stale == []


async def test_attention_items_created_acknowledged_and_closed_from_acknowledged_are_seen(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    with SimServer(simulator(conversations=40)) as server:
        sim = server.simulator
        cid = conversations_in(sim, "open")[0]
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            seen = event_count(engine)
            item = sim.raise_attention_item(cid, "escalation", status="acknowledged")
            await attention_pass(ctx, None)
            assert told(engine, seen, item) == [("attention_item.created", None)]

            seen = event_count(engine)
            sim.resolve_attention_item(item)
            server.reset_counts()
            await attention_pass(ctx, None)
            assert [kind for kind, _ in told(engine, seen, item)] == ["attention_item.resolved"]
            reread = [
                r.path
                for r in server.request_log
                if r.route == "list_attention_items" and "conversationId=" in r.path
            ]
            workspace = sim.conversation(cid).workspace_id
            assert len(reread) == 1 and f"workspaceId={workspace}" in reread[0]


async def test_an_attention_item_opened_and_closed_between_two_polls_arrives_with_a_refresh(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    clock = StepClock()
    with SimServer(simulator(conversations=40)) as server:
        sim = server.simulator
        cid = conversations_in(sim, "open")[0]
        settings = make_settings(
            server.base_url, db_url, poll_interval_s=30, refresh_interval_s=300
        )
        async with open_sync(settings) as ctx:
            ctx.clock = clock
            await sync(ctx)
            item = sim.raise_attention_item(cid, "mcp_failure")
            sim.resolve_attention_item(item)
            seen = event_count(engine)
            for _ in range(10):
                clock.advance(30)
                await sync(ctx)
    assert [kind for kind, _ in told(engine, seen, item)] == ["attention_item.created"]
    with engine.connect() as conn:
        status = conn.scalar(
            select(tables.attention_items.c.status).where(tables.attention_items.c.id == item)
        )
    assert status == "resolved"


async def test_live_changes_during_the_backfill_are_not_backfill_but_the_past_is(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    with SimServer(simulator(conversations=40)) as server:
        sim = server.simulator
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            # The daemon's attention pass runs before the backfill walk has finished.
            await attention_pass(ctx, None)
            past = {e["subject_id"]: e["backfill"] for e in events_after(engine, 0)}
            assert past and all(past.values()), "items that existed before: backfill"
            seen = event_count(engine)
            item = sim.raise_attention_item(conversations_in(sim, "open")[0])
            await attention_pass(ctx, None)
            assert [(e["subject_id"], e["backfill"]) for e in events_after(engine, seen)] == [
                (item, False)
            ]
            seen = event_count(engine)
            await sync(ctx)  # the backfill walk itself
    walked = events_after(engine, seen)
    created = [e for e in walked if e["type"] == "conversation.created"]
    assert created and all(e["backfill"] for e in created)
    assert types_of(e for e in walked if e["subject_id"] == item) == Counter()


async def test_sync_deep_repairs_what_the_list_rows_cannot_show(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    with SimServer(simulator(conversations=30)) as server:
        sim = server.simulator
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            cid = conversations_in(sim, "resolved")[0]
            m = tables.messages
            with engine.begin() as conn:  # a damaged mirror: a message body lost
                conn.execute(m.update().where(m.c.conversation_id == cid).values(body=None))
            server.reset_counts()
            await sync(ctx, full=True)
            assert server.request_counts["get_conversation"] == 0, "--full trusts the list"
            server.reset_counts()
            results = await sync(ctx, deep=True)
    assert "reconcile" in {r.stream for r in results}
    live = len(sim.conversation_ids())
    assert server.request_counts["get_conversation"] == live
    assert server.request_counts["get_attachments"] == live
    with engine.connect() as conn:
        bodies = conn.scalars(select(tables.messages.c.body).where(m.c.conversation_id == cid))
        assert all(body is not None for body in bodies)


async def test_a_slow_attention_answer_never_reopens_an_item_resolved_meanwhile(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    """The race of issue #9, made deterministic: the open list is rendered with the item open,
    its answer is held back while the item is resolved and another read writes that, then the
    stale answer arrives. Its observation time (taken before the request) is older: refused."""
    import asyncio

    from syncd.api import Priority
    from syncd.sync.conversations import fetch_by_id, write_fetched

    with SimServer(simulator(conversations=30)) as server:
        sim = server.simulator
        cid = conversations_in(sim, "open")[0]
        item = sim.raise_attention_item(cid, "escalation")
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            seen = event_count(engine)
            hold = sim.hold_next("list_attention_items")
            slow = asyncio.create_task(attention_pass(ctx, None))
            assert await hold.wait_rendered(within_s=30), "the open list was rendered"
            sim.resolve_attention_item(item)
            # A detail read of the conversation sees the resolution and writes it first.
            fetched = await fetch_by_id(ctx, [cid], priority=Priority.DETAIL, list_rows_too=False)
            options = ctx.plan_options()
            await ctx.write(lambda conn: write_fetched(conn, fetched, options=options))
            hold.release()
            result = await slow
            assert result.ok
            await attention_pass(ctx, None)  # and the next pass agrees
    assert [kind for kind, _ in told(engine, seen, item)] == ["attention_item.resolved"]
    with engine.connect() as conn:
        status = conn.scalar(
            select(tables.attention_items.c.status).where(tables.attention_items.c.id == item)
        )
    assert status == "resolved"


async def test_the_idle_cost_with_refresh_and_unsettled_attachments_stays_within_the_formula(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    """Freshness contract: hot lists + head page + attention per pass, the refresh share, and what
    the backoff allows for attachments that never settle — over one refresh interval."""
    clock = StepClock()
    sim = Simulator(
        SimConfig(seed=21, conversations=120, messages_per_conversation=2, detail_missing_rate=0)
    )
    stuck = sim.stuck_attachment_ids()
    assert stuck, "the simulator keeps some attachments unsettled for ever"
    with SimServer(sim) as server:
        settings = make_settings(
            server.base_url, db_url, poll_interval_s=30, refresh_interval_s=600
        )
        async with open_sync(settings) as ctx:
            ctx.clock = clock
            await sync(ctx)
            server.reset_counts()
            passes = 20  # one refresh interval
            for _ in range(passes):
                clock.advance(30)
                await sync(ctx)
            used = server.request_counts
    recent = sum(len(conversations_in(sim, s)) for s in ("open", "in_progress", "awaiting_contact"))
    c = tables.conversations
    with engine.connect() as conn:
        unsettled = conn.scalar(
            select(func.count()).select_from(c).where(c.c.attachments_pending.is_(True))
        )
    idle = idle_cost(sim, [])
    # Backoff 30, 60, 120, 240, 480 s: reads at +30, +90, +210, +450 within 600 s.
    formula = sum(idle.values()) * passes + 2 * recent + 4 * int(unsettled or 0)
    assert sum(used.values()) <= formula, (used, formula)
    assert used["get_conversation"] == recent, "each recent conversation refreshed once"


def test_syncd_status_shows_the_freshness_of_every_workspace(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Refresh age, head read, the backoff queue of unsettled attachments and the heals."""
    import json

    from sync_support import run_syncd, syncd_env

    sim = Simulator(SimConfig(seed=21, conversations=40, messages_per_conversation=2))
    with SimServer(sim) as server:
        env = syncd_env(db_url, server.base_url)
        assert run_syncd(["sync"], env, tmp_path).returncode == 0
        shown = run_syncd(["status", "--json"], env, tmp_path)
        text = run_syncd(["status"], env, tmp_path)
    assert shown.returncode == 0 and text.returncode == 0, shown.stderr + text.stderr
    freshness = json.loads(shown.stdout)["freshness"]
    by_workspace = {item["workspace"]: item for item in freshness["workspaces"]}
    assert set(by_workspace) == set(sim.workspace_ids())
    for workspace, item in by_workspace.items():
        open_ones = [
            c
            for s in ("open", "in_progress", "awaiting_contact")
            for c in conversations_in(sim, s, workspace)
        ]
        assert item["recent_conversations"] == len(open_ones)
        assert item["never_refreshed"] == 0 and item["oldest_refresh_age_s"] is not None
        assert (item["heals_transient"], item["heals_real"]) == (0, 0)
    unsettled = {
        a.conversation_id
        for a in sim.world.attachments.values()
        if a.status in ("pending", "processing")
    }
    assert sum(item["unsettled_attachments"] for item in by_workspace.values()) == len(unsettled)
    (head,) = freshness["head_reads"]
    assert head["scope"] == "*" and head["active"] is False  # keyset by id
    assert "freshness:" in text.stdout and "head read inactive" in text.stdout
    assert "oldest refresh" in text.stdout


async def test_a_contact_renamed_reaches_the_list_only_columns_of_recent_terminal_conversations(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    """``contactName`` is a list-only field: a refresh whose detail shows the contact changed
    reads the conversation again, list row first — one event with both changes."""
    sim = recent_simulator(33)
    clock = StepClock()
    with SimServer(sim) as server:
        async with open_sync(refresh_settings(server.base_url, db_url)) as ctx:
            ctx.clock = clock
            await sync(ctx)
            cid = not_on_the_first_page(sim, conversations_in(sim, "resolved"))
            contact_id = sim.conversation(cid).contact_id
            sim.update_contact(contact_id, first_name="Renamed")
            seen = event_count(engine)
            for _ in range(11):
                clock.advance(30)
                await sync(ctx)
    row = conversation(engine, cid)
    assert row["contact_name"] == sim.list_row(cid)["contactName"]
    assert row["contact_name"].startswith("Renamed")
    kinds = told(engine, seen, cid)
    assert [kind for kind, _ in kinds] == ["conversation.updated"], "one event, not in parts"
    assert {"contact", "contactName"} <= set(kinds[0][1])


async def test_a_drift_no_walk_could_mend_is_forgotten_once_a_read_no_longer_shows_it(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:

    with SimServer(simulator()) as server:
        sim = server.simulator
        workspace = sim.workspace_ids()[0]
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            # A heal once failed to mend {"closed": 1}; a reconcile mended it since.
            await ctx.write(
                lambda conn: Mirror(conn).write_state(
                    workspace, "heal", state={"tried": {"closed": 1}}
                )
            )
            await sync(ctx)  # no drift now: the tried drift is forgotten
            with engine.connect() as conn:
                assert not (Mirror(conn).read_state(workspace, "heal").state or {}).get("tried")
            for _ in range(10):  # a new conversation off the head page, created and closed
                cid = sim.add_conversation(workspace, status="open")
                sim.set_status(cid, "closed")
                if cid not in sim.conversation_ids()[:PAGE]:
                    break
            results = await sync(ctx)
    assert conversation(engine, cid)["status"] == "closed"
    heal = next(r for r in results if r.stream == "heal" and r.scope == workspace)
    assert heal.heal_kind == "real"


async def test_a_reply_first_seen_by_the_refresh_is_told_once_with_its_list_fields(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = recent_simulator(34)
    clock = StepClock()
    with SimServer(sim) as server:
        async with open_sync(refresh_settings(server.base_url, db_url)) as ctx:
            ctx.clock = clock
            await sync(ctx)
            cid = not_on_the_first_page(sim, conversations_in(sim, "resolved"))
            message_id = sim.add_message(cid, "inbound")  # stays resolved; list order by id
            seen = event_count(engine)
            for _ in range(11):
                clock.advance(30)
                await sync(ctx)
            await sync(ctx, full=True)  # a list walk afterwards finds nothing left to tell
    assert [kind for kind, _ in told(engine, seen, message_id)] == ["message.received"]
    # The summary moved with the message: one conversation.updated, with the list fields too
    # (not a second one later, when a list walk shows lastMessageAt).
    ((kind, changes),) = told(engine, seen, cid)
    assert kind == "conversation.updated"
    assert {"stateSummary", "lastMessageAt", "lastMessagePreview"} <= set(changes)
    row = conversation(engine, cid)
    assert row["raw"]["lastMessageAt"] == sim.list_row(cid)["lastMessageAt"]


async def test_an_attention_item_stored_before_its_conversation_gets_its_workspace(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    with SimServer(simulator(conversations=30)) as server:
        sim = server.simulator
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await attention_pass(ctx, None)  # before the backfill: no conversation known
            i = tables.attention_items
            with engine.connect() as conn:
                assert conn.scalar(select(func.count()).where(i.c.workspace_id.is_(None)))
            await sync(ctx)
    with engine.connect() as conn:
        rows = conn.execute(select(i.c.id, i.c.conversation_id, i.c.workspace_id)).all()
    assert rows and all(
        workspace == sim.conversation(cid).workspace_id for _, cid, workspace in rows
    )


async def test_a_404_from_the_attachments_endpoint_alone_deletes_nothing(
    db_url: str, engine: Engine, isolated_config: Path
) -> None:
    with SimServer(simulator(conversations=30)) as server:
        sim = server.simulator
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            cid = conversations_in(sim, "open")[0]
            sim.add_message(cid, "inbound")  # the hot pass reads the detail and attachments
            sim.fail_next("get_attachments", status=404)
            seen = event_count(engine)
            await sync(ctx)
    assert conversation(engine, cid)["deleted_at"] is None
    assert "conversation.deleted" not in {kind for kind, _ in told(engine, seen, cid)}
