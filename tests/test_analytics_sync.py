"""The analytics views on a mirror written by ``syncd sync``: the same facts on SQLite and on
PostgreSQL, equal to the facts computed in Python, and true to the simulator.

One simulator (in-process, on 127.0.0.1) is synced into a SQLite file and a PostgreSQL database
by ``syncd`` subprocesses, changed (replies, voice turns, resolutions, a reopen, attention items,
a deleted conversation, a deleted message), and synced again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from analytics_support import (
    expected_attention_item_facts,
    expected_conversation_facts,
    read_facts,
    read_mirror,
)
from sync_support import conversations_in, run_syncd, settle_attachments, syncd_env

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.store.engine import create_engine_for, create_private_file

# Facts that depend on when syncd looked (the status history is dated by syncd's reads): each
# database was synced by its own run, seconds apart.
OBSERVED = frozenset({"first_resolved_at", "resolution_s"})


@pytest.fixture
def server() -> Iterator[SimServer]:
    sim = Simulator(SimConfig(seed=31, conversations=40, messages_per_conversation=3))
    settle_attachments(sim)
    with SimServer(sim) as running:
        yield running


@pytest.fixture
def mirrors(tmp_path: Path, sqlite_template: Path, postgres_db_url: str) -> dict[str, str]:
    """A migrated SQLite file and a migrated PostgreSQL database, by dialect name."""
    path = tmp_path / "mirror" / "syncd.db"
    create_private_file(path)
    shutil.copyfile(sqlite_template, path)
    return {"sqlite": f"sqlite:///{path}", "postgresql": postgres_db_url}


def sync_all(server: SimServer, mirrors: dict[str, str], cwd: Path, *args: str) -> None:
    for url in mirrors.values():
        done = run_syncd(["sync", *args], syncd_env(url, server.base_url), cwd)
        assert done.returncode == 0, done.stderr


def facts_of(url: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            conversations, items = read_facts(conn)
            mirror = read_mirror(conn)
    finally:
        engine.dispose()
    return conversations, items, mirror


@pytest.mark.postgres
def test_after_syncd_sync_the_views_give_the_same_facts_on_both_databases(
    server: SimServer, mirrors: dict[str, str], tmp_path: Path
) -> None:
    sim = server.simulator
    sync_all(server, mirrors, tmp_path)

    open_ids = conversations_in(sim, "open")
    resolved_ids = conversations_in(sim, "resolved")
    voice = sim.add_conversation(channel_type="voice")
    chat = sim.add_conversation(channel_type="whatsapp")
    sync_all(server, mirrors, tmp_path)  # both seen open: their resolution will be observed

    sim.add_message(voice, "inbound", speaker="ai")
    sim.add_message(voice, "inbound", speaker="caller")
    sim.add_message(chat, "outbound")
    for cid in (voice, chat, open_ids[0]):
        sim.resolve(cid)
    reopened = resolved_ids[0]  # first seen resolved: no first resolution, one reopen
    sim.set_status(reopened, "open", with_message=True)
    item = sim.raise_attention_item(open_ids[1], "escalation")
    sim.resolve_attention_item(item)
    sim.raise_attention_item(open_ids[2], "approval_gate")
    deleted = open_ids[3]
    sim.delete_conversation(deleted)
    # its last message deleted (its list row changes, so the next sync reads it): it counts no more
    edited = open_ids[4]
    gone_message = str(sim.messages(edited)[-1]["id"])
    sim.delete_message(gone_message, conversation_id=edited)
    sync_all(server, mirrors, tmp_path, "--full")

    sqlite_conversations, sqlite_items, sqlite_mirror = facts_of(mirrors["sqlite"])
    pg_conversations, pg_items, pg_mirror = facts_of(mirrors["postgresql"])

    # Each database's views equal the facts computed in Python from its own tables.
    assert sqlite_conversations == expected_conversation_facts(sqlite_mirror)
    assert pg_conversations == expected_conversation_facts(pg_mirror)
    assert sqlite_items == expected_attention_item_facts(sqlite_mirror)
    assert pg_items == expected_attention_item_facts(pg_mirror)

    # The same numbers on both: everything but the moments each run happened to look at.
    def api_facts(facts: dict[str, Any]) -> dict[str, Any]:
        return {
            cid: {k: v for k, v in row.items() if k not in OBSERVED} for cid, row in facts.items()
        }

    assert len(sqlite_conversations) > 40
    assert api_facts(sqlite_conversations) == api_facts(pg_conversations)
    assert sqlite_items == pg_items
    for cid, row in sqlite_conversations.items():
        other = pg_conversations[cid]
        assert (row["first_resolved_at"] is None) == (other["first_resolved_at"] is None), cid

    # And true to the simulator.
    for cid, row in sqlite_conversations.items():
        if not row["is_deleted"]:
            assert row["message_count"] == len(sim.messages(cid)), cid
    voice_counts = [sqlite_conversations[voice][c] for c in ("inbound_count", "outbound_count")]
    assert voice_counts == [2, 1]  # the caller's first turn, the AI's, the caller's again
    assert sqlite_conversations[chat]["outbound_count"] == 1
    for cid in (voice, chat, open_ids[0]):
        assert pg_conversations[cid]["first_resolved_at"] is not None, cid
        assert sqlite_conversations[cid]["resolution_s"] > 0, cid
    assert sqlite_conversations[reopened]["reopen_count"] == 1
    assert sqlite_conversations[reopened]["first_resolved_at"] is None
    assert sqlite_conversations[deleted]["is_deleted"] is True
    for mirror in (sqlite_mirror, pg_mirror):
        kept = next(m for m in mirror.messages if m["id"] == gone_message)
        assert kept["deleted_at"] is not None
    assert sqlite_conversations[open_ids[1]]["attention_item_count"] >= 1
    assert sqlite_items[item]["time_to_resolve_s"] is not None
    live_open = {str(i["id"]) for i in sim.list_attention_items() if i["status"] == "open"}
    mirrored_open = {
        aid
        for aid, row in sqlite_items.items()
        if row["is_open"] and row["conversation_id"] != deleted
    }
    assert mirrored_open == live_open
