"""Malformed rows and broken details: logged with what identifies them, skipped, picked up later.

The freshness contract: a malformed row is logged and skipped and never stops the other rows; a pass
that skipped rows still exits 0 and counts them; a detail that failed (broken JSON) is remembered
in ``conversations.detail_error`` and retried on the next pass, whatever the conversation's status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from structlog.testing import capture_logs
from sync_support import (
    TOKEN,
    conversation,
    conversations_in,
    count_rows,
    event_count,
    events,
    events_after,
    find_conversation,
    idle_cost,
    run_syncd,
    server_fixture,
    sync,
    syncd_env,
    synced,
    types_of,
)

from syncd.sim import SimServer
from syncd.store import tables

server = server_fixture(seed=8, conversations=60, messages_per_conversation=3)


def json_logs(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines of a ``syncd`` subprocess (other lines left out)."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def skipped_rows(engine: Engine, stream: str) -> int:
    s = tables.sync_state
    query = select(s.c.skipped_rows).where(s.c.workspace_id == "*", s.c.stream == stream)
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def test_a_malformed_row_is_logged_skipped_and_picked_up_once_fixed(
    server: SimServer, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    sim = server.simulator
    bad_date, no_id = conversations_in(sim, "open")[:2]
    sim.set_malformed(bad_date, True, kind="bad_date")
    sim.set_malformed(no_id, True, kind="missing_id")
    env = syncd_env(db_url, server.base_url)

    first = run_syncd(["sync"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert TOKEN not in first.stdout + first.stderr
    lines = {line.split()[0]: line for line in first.stdout.splitlines() if line.strip()}
    assert "2 malformed rows skipped" in lines["reconcile"]
    assert "2 malformed rows skipped" in lines["hot"]
    malformed = [e for e in json_logs(first.stderr) if e["event"] == "row_malformed"]
    logged_with_id = [e for e in malformed if bad_date in json.dumps(e)]
    assert logged_with_id, malformed
    assert all(e["level"] == "warning" for e in malformed)
    assert "lastMessageAt" in json.dumps(logged_with_id[0])
    # The row without an id is logged too (its position says which one it was).
    assert any(e.get("id") is None for e in malformed)
    assert skipped_rows(engine, "reconcile") == 2
    assert skipped_rows(engine, "hot") == 2

    # The rest synced; the two broken rows are not in the mirror as conversations.
    assert find_conversation(engine, bad_date) is None
    assert find_conversation(engine, no_id) is None
    assert count_rows(engine, "conversations") == 58
    created = {e["subject_id"] for e in events(engine) if e["type"] == "conversation.created"}
    assert len(created) == 58
    assert not created & {bad_date, no_id}

    sim.set_malformed(bad_date, False)
    sim.set_malformed(no_id, False)
    seen = event_count(engine)
    second = run_syncd(["sync"], env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "malformed" not in second.stdout
    assert skipped_rows(engine, "hot") == 0
    new = events_after(engine, seen)
    assert {e["subject_id"] for e in new if e["type"] == "conversation.created"} == {
        bad_date,
        no_id,
    }
    assert not any(e["backfill"] for e in new)
    for cid in (bad_date, no_id):
        row = conversation(engine, cid)
        assert row["fingerprint"]
        assert row["detail_error"] is None
        assert count_rows(engine, "messages", conversation_id=cid) == len(sim.messages(cid))


async def test_a_broken_detail_is_remembered_and_retried_on_the_next_pass(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    cid = conversations_in(sim, "open")[0]
    async with synced(server, db_url) as ctx:
        fingerprint = conversation(engine, cid)["fingerprint"]
        message_id = sim.add_message(cid, "inbound")
        sim.malform_next("get_conversation")  # the one detail this pass fetches: broken JSON

        seen = event_count(engine)
        with capture_logs() as logs:
            await sync(ctx)
        row = conversation(engine, cid)
        assert row["detail_error"] and "not JSON" in row["detail_error"]
        assert row["fingerprint"] == fingerprint, "a fingerprint is stored only with its detail"
        assert events_after(engine, seen) == []
        failed = [e for e in logs if e["event"] == "detail_fetch_failed"]
        assert [e["conversation_id"] for e in failed] == [cid]
        assert TOKEN not in repr(logs)

        server.reset_counts()
        await sync(ctx)
        assert server.request_counts["get_conversation"] == 1
        row = conversation(engine, cid)
        assert row["detail_error"] is None
        assert row["fingerprint"] != fingerprint
        told = events_after(engine, seen)
        assert types_of(e for e in told if e["subject_id"] == message_id) == {"message.received": 1}

        server.reset_counts()
        await sync(ctx)
        assert server.request_counts["get_conversation"] == 0, "retried once, then left alone"


async def test_a_broken_detail_of_a_resolved_conversation_is_retried_on_the_next_pass(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    """Only a reconcile lists resolved conversations; the retry must not wait for the next one."""
    sim = server.simulator
    cid = conversations_in(sim, "resolved")[0]
    async with synced(server, db_url) as ctx:
        message_id = sim.add_message(cid, "inbound")
        # The reconcile sees the change and its detail comes back broken; so does the retry by
        # the hot pass that follows it in the same sync.
        sim.malform_next("get_conversation", times=2)
        server.reset_counts()
        await sync(ctx, full=True)
        assert server.request_counts["get_conversation"] == 2, "retried by the hot pass"
        assert conversation(engine, cid)["detail_error"]

        seen = event_count(engine)
        await sync(ctx)  # no reconcile due: the hot pass must retry it
        assert conversation(engine, cid)["detail_error"] is None
        told = events_after(engine, seen)
        assert types_of(e for e in told if e["subject_id"] == message_id) == {"message.received": 1}


async def test_a_row_that_stays_malformed_costs_no_reconcile_on_every_pass(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    sim.set_malformed(conversations_in(sim, "open")[0], True, kind="bad_date")
    # synced: after the backfill (and the one reconcile the drift may ask for)
    async with synced(server, db_url) as ctx:
        server.reset_counts()
        results = await sync(ctx)
    assert [r.stream for r in results if r.stream == "reconcile"] == []
    assert server.request_counts == idle_cost(sim, [])
