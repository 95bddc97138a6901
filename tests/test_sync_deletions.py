"""Deleted conversations: found by the hot pass when hot, by a reconcile's mark-and-sweep when not.

A conversation confirmed gone (404) gets ``deleted_at`` and one ``conversation.deleted`` event with
its last known data and no ``changes``; its messages, attachments and attention items stay. A row
the API lists but syncd cannot read still counts as seen: it is never swept for being unreadable.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, func, select
from sync_support import (
    conversation,
    conversations_in,
    count_rows,
    event_count,
    events_after,
    run_syncd,
    server_fixture,
    sync,
    syncd_env,
    synced,
    types_of,
)

from syncd.sim import SimServer, Simulator
from syncd.store import tables

server = server_fixture(seed=12, conversations=60, messages_per_conversation=3)


def deleted_ids(engine: Engine) -> set[str]:
    c = tables.conversations
    with engine.connect() as conn:
        return set(conn.scalars(select(c.c.id).where(c.c.deleted_at.is_not(None))))


def children(engine: Engine, cid: str) -> dict[str, int]:
    return {
        name: count_rows(engine, name, conversation_id=cid)
        for name in ("messages", "attachments", "attention_items", "context_entries")
    }


def with_children(sim: Simulator, status: str) -> str:
    """A conversation of ``status`` with attachments and an open attention item."""
    cid = max(conversations_in(sim, status), key=lambda cid: len(sim.attachments(cid)))
    assert sim.attachments(cid)
    sim.raise_attention_item(cid)
    return cid


async def test_a_deleted_hot_conversation_is_found_by_the_hot_pass(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    cid = with_children(sim, "open")
    async with synced(server, db_url) as ctx:
        last_known = conversation(engine, cid)
        kept = children(engine, cid)
        assert kept["messages"] and kept["attachments"] and kept["attention_items"]

        sim.delete_conversation(cid)
        seen = event_count(engine)
        server.reset_counts()
        await sync(ctx)  # no reconcile: the hot pass alone
        assert server.request_counts["get_conversation"] == 1

    assert deleted_ids(engine) == {cid}
    row = conversation(engine, cid)
    assert row["deleted_at"] is not None
    assert row["raw"] == last_known["raw"], "the last known data stays"
    assert children(engine, cid) == kept
    told = events_after(engine, seen)
    deleted = [e for e in told if e["type"] == "conversation.deleted"]
    assert [e["subject_id"] for e in deleted] == [cid]
    envelope = json.loads(deleted[0]["payload"])
    assert envelope["data"] == last_known["raw"]
    assert "changes" not in envelope
    assert envelope["backfill"] is False
    # Its open attention items left the open set with it: nothing else is told about it.
    assert types_of(told) == {"conversation.deleted": 1, "status_counts.changed": 1}


async def test_a_deleted_resolved_conversation_is_found_only_by_a_reconcile(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path, tmp_path: Path
) -> None:
    sim = server.simulator
    cid = with_children(sim, "resolved")
    async with synced(server, db_url) as ctx:
        last_known = conversation(engine, cid)
        kept = children(engine, cid)
        gone = sim.conversation(cid)
        sim.delete_conversation(cid)
        # A new resolved conversation keeps the status counts as they were: no drift to heal.
        added = sim.add_conversation(
            gone.workspace_id, channel_type=gone.channel_type, status="resolved"
        )
        seen = event_count(engine)
        results = await sync(ctx)
        assert [r.stream for r in results if r.stream in ("reconcile", "heal")] == []
        assert deleted_ids(engine) == set(), "no hot list shows a resolved conversation"
        # The head read (the whole small list fits its one page) saw the new one at once.
        assert [(e["type"], e["subject_id"]) for e in events_after(engine, seen)] == [
            ("conversation.created", added),
            ("message.received", sim.messages(added)[0]["id"]),
        ]

    full = run_syncd(["sync", "--full"], syncd_env(db_url, server.base_url), tmp_path)
    assert full.returncode == 0, full.stderr
    assert deleted_ids(engine) == {cid}
    assert children(engine, cid) == kept
    told = events_after(engine, seen)
    deleted = [e for e in told if e["type"] == "conversation.deleted"]
    assert [e["subject_id"] for e in deleted] == [cid]
    assert json.loads(deleted[0]["payload"])["data"] == last_known["raw"]
    assert [e["subject_id"] for e in told if e["type"] == "conversation.created"] == [added]


async def test_a_status_count_drift_that_outlives_the_hot_pass_is_healed_and_finds_the_deletion(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    cid = conversations_in(sim, "closed")[0]
    async with synced(server, db_url) as ctx:
        sim.delete_conversation(cid)
        server.reset_counts()
        results = await sync(ctx)
    drifted = [r for r in results if r.stream == "status_counts" and r.drift]
    assert [r.drift for r in drifted] == [{"closed": -1}]
    streams = [r.stream for r in results]
    assert streams.index("heal") == streams.index("hot") + 1, "healed right after the hot pass"
    heal = results[streams.index("heal")]
    assert heal.heal_kind == "real" and heal.drift == {}, "walking the closed list mended it"
    assert "reconcile" not in streams, "no full reconcile needed"
    assert deleted_ids(engine) == {cid}


async def test_an_unreadable_conversation_is_never_swept_as_deleted(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    bad_date, no_id = conversations_in(sim, "resolved")[:2]
    async with synced(server, db_url) as ctx:
        sim.set_malformed(bad_date, True, kind="bad_date")
        sim.set_malformed(no_id, True, kind="missing_id")  # its detail is broken JSON too
        seen = event_count(engine)
        results = await sync(ctx, full=True)
        reconcile = next(r for r in results if r.stream == "reconcile")
        assert reconcile.skipped == 2
        assert deleted_ids(engine) == set()
        assert [e for e in events_after(engine, seen) if e["type"] == "conversation.deleted"] == []
        # Listed without an id, it was looked up by id: the broken detail is kept for a retry.
        assert conversation(engine, no_id)["detail_error"]

        sim.set_malformed(bad_date, False)
        sim.set_malformed(no_id, False)
        await sync(ctx)
        assert conversation(engine, no_id)["detail_error"] is None
    with engine.connect() as conn:
        live = conn.scalar(
            select(func.count())
            .select_from(tables.conversations)
            .where(tables.conversations.c.deleted_at.is_(None))
        )
    assert live == 60
