"""``[privacy]`` against the simulator, on SQLite and PostgreSQL: what a full sync stores with
each setting on, erasure by contact and the suppression list, the age of the deleted-conversation
purge, retention of syncd's own tables, and ``--rewrite`` of what was stored before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from privacy_support import KEY, PRIVATE, bodies, emails, leaks, stored_text
from sqlalchemy import Engine, select
from sync_support import (
    API_LIMITS,
    TOKEN,
    StepClock,
    count_rows,
    events,
    find_conversation,
    server_fixture,
    sync,
)

from syncd.clock import utc_now
from syncd.commands.sync import deliver_after_sync
from syncd.config import Settings, load_settings
from syncd.sim import SimServer
from syncd.store import tables
from syncd.sync.mirror import take_write_lock
from syncd.sync.privacy import Privacy
from syncd.sync.purge import erase_contact
from syncd.sync.rewrite import rewrite_stored
from syncd.sync.session import open_sync

pytestmark = pytest.mark.usefixtures("isolated_config")

server = server_fixture(seed=21, conversations=30, messages_per_conversation=3)


def settings_for(
    server: SimServer, db_url: str, privacy: dict[str, Any], sinks: list[dict[str, Any]] = ()
) -> Settings:
    return load_settings(
        api={"base_url": server.base_url, "token": TOKEN, **API_LIMITS},
        database={"url": db_url},
        sync={"refresh_interval_s": 0},
        privacy=privacy,
        sinks=list(sinks),
    )


def digest(address: str) -> str:
    return hmac.new(KEY.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()


SETTINGS = [
    pytest.param({"store_message_bodies": False}, id="no-bodies"),
    pytest.param({"hash_contact_emails": True, "hash_key": KEY}, id="hashed-emails"),
    pytest.param(PRIVATE, id="both"),
]


@pytest.mark.parametrize("privacy", SETTINGS)
async def test_with_a_privacy_setting_on_nothing_it_covers_is_stored_or_sent(
    server: SimServer, db_url: str, engine: Engine, tmp_path: Path, privacy: dict[str, Any]
) -> None:
    sim = server.simulator
    out = tmp_path / "events.jsonl"
    sink = {"name": "file", "type": "file", "path": str(out)}
    async with open_sync(settings_for(server, db_url, privacy, [sink])) as ctx:
        await sync(ctx, full=True)
        # Live activity too: a new message, an edit, a new conversation.
        conversation_id = sim.conversation_ids()[0]
        message_id = sim.add_message(conversation_id, "inbound")
        sim.edit_message(message_id, "An edited message that must stay private 4711")
        sim.add_conversation(channel_type="email")
        await sync(ctx)
        before = len(events(engine))
        await sync(ctx, full=True)
        assert len(events(engine)) == before, "an unchanged account emits no events"
        await deliver_after_sync(ctx)

    text = stored_text(engine)
    sent = out.read_text(encoding="utf-8").lower()
    assert sent
    omitted = not privacy.get("store_message_bodies", True)
    hashed = privacy.get("hash_contact_emails", False)
    private = bodies(sim) | {"An edited message that must stay private 4711"}
    addresses = emails(sim)
    assert private and addresses
    if omitted:
        assert leaks(text, private) == []
        assert leaks(sent, private) == []
    else:
        assert leaks(text, private), "the check finds bodies when they are stored"
    if hashed:
        assert leaks(text, addresses) == []
        assert leaks(sent, addresses) == []
    else:
        assert leaks(text, addresses), "the check finds addresses when they are stored"

    with engine.connect() as conn:
        m, k = tables.messages, tables.contacts
        stored_bodies = list(conn.scalars(select(m.c.body)))
        contacts = conn.execute(select(k.c.id, k.c.email, k.c.raw)).all()
    assert (set(stored_bodies) == {None}) == omitted
    with sim.lock:
        truth = {c.id: c.email for c in sim.world.contacts.values()}
    for contact_id, email, raw in contacts:
        expected = truth[contact_id]
        if hashed and expected is not None:
            expected = digest(expected)  # the same address always gives the same hash
        assert email == expected
        assert raw.get("email") == expected
    for event in events(engine):
        payload = json.loads(event["payload"])
        if event["type"].startswith("message."):
            assert (payload["data"].get("bodyOmitted") is True) == omitted
            assert (payload["data"]["body"] is None) == omitted
        if event["type"].startswith("conversation.") and omitted:
            assert "lastMessagePreview" not in payload["data"]
            assert "lastMessagePreview" not in payload.get("changes", {})


async def test_purge_by_contact_removes_every_row_naming_it_and_syncs_keep_it_out(
    server: SimServer, db_url: str, engine: Engine
) -> None:
    sim = server.simulator
    settings = settings_for(server, db_url, {})
    async with open_sync(settings) as ctx:
        await sync(ctx, full=True)
        with sim.lock:
            contact_id = next(
                c.contact_id
                for c in sim.world.conversations.values()
                if sim.world.contacts[c.contact_id].email and c.messages
            )
        mine = [
            cid for cid in sim.conversation_ids() if sim.conversation(cid).contact_id == contact_id
        ]
        item_id = sim.raise_attention_item(mine[0], "human_requested")
        await sync(ctx)
        with sim.lock:
            message_ids = [m.id for cid in mine for m in sim.conversation(cid).messages]
        assert find_conversation(engine, mine[0]) is not None

        with engine.begin() as conn:
            take_write_lock(conn)
            removed = erase_contact(conn, contact_id, ctx.clock())
        assert removed["conversations"] == len(mine)
        assert removed["contacts"] == 1
        assert removed["messages"] >= len(message_ids) > 0
        assert removed["attention_items"] >= 1
        assert removed["events"] > 0

        names = {contact_id, item_id, *mine, *message_ids} | emails(sim, [contact_id])
        assert leaks(stored_text(engine, exclude=("privacy_suppressions",)), names) == []

        # The API still serves it, and more: a new message, a new conversation, a new item.
        count = len(events(engine))
        sim.add_message(mine[0], "inbound")
        sim.raise_attention_item(mine[0], "escalation")
        new_id = sim.add_conversation(contact_id=contact_id, channel_type="email")
        await sync(ctx)
        results = await sync(ctx, full=True)
        assert all(not r.drift for r in results), "suppressed rows still count as listed"
        told = {e["type"] for e in events(engine)[count:]}
        assert told <= {"status_counts.changed"}, "nothing about the erased contact is told"
        names.add(new_id)
        assert leaks(stored_text(engine, exclude=("privacy_suppressions",)), names) == []
        assert count_rows(engine, "conversations", contact_id=contact_id) == 0
        assert (
            count_rows(engine, "conversations", deleted_at=None)
            == len(sim.conversation_ids()) - len(mine) - 1
        ), "the rest is mirrored, none of it deleted"

        # Deleted in oHallo too (as operators are told to): a complete walk that no longer
        # shows it stops counting it, so the status counts agree again.
        sim.delete_conversation(mine[0])
        await sync(ctx, full=True)
        results = await sync(ctx, full=True)
        assert all(not r.drift for r in results)
        assert count_rows(engine, "conversations", id=mine[0]) == 0


async def test_deleted_conversations_are_purged_only_once_old_enough(
    server: SimServer, db_url: str, engine: Engine
) -> None:
    sim = server.simulator
    clock = StepClock()
    settings = settings_for(server, db_url, {"purge_deleted_after_days": 2})
    async with open_sync(settings, clock=clock) as ctx:
        await sync(ctx, full=True)
        gone = sim.conversation_ids()[0]
        with sim.lock:
            message_ids = [m.id for m in sim.conversation(gone).messages]
        sim.delete_conversation(gone)
        await sync(ctx, full=True)
        row = find_conversation(engine, gone)
        assert row is not None and row["deleted_at"] is not None

        clock.advance(timedelta(days=1, hours=23).total_seconds())
        await sync(ctx, full=True)
        assert find_conversation(engine, gone) is not None, "younger than two days: kept"

        clock.advance(timedelta(hours=2).total_seconds())
        results = await sync(ctx, full=True)
        assert find_conversation(engine, gone) is None
        [purge] = [r for r in results if r.stream == "purge"]
        assert purge.purged["conversations"] == 1
        assert count_rows(engine, "messages", conversation_id=gone) == 0
        assert count_rows(engine, "conversation_status_history", conversation_id=gone) == 0
        subjects = {e["subject_id"] for e in events(engine)}
        assert subjects.isdisjoint({gone, *message_ids})
        assert len(sim.conversation_ids()) == count_rows(engine, "conversations")


async def test_retention_trims_status_history_and_snapshots_by_age_only(
    server: SimServer, db_url: str, engine: Engine
) -> None:
    clock = StepClock()
    privacy = {"status_history_retention_days": 3, "status_snapshots_retention_days": 1}
    async with open_sync(settings_for(server, db_url, privacy), clock=clock) as ctx:
        await sync(ctx, full=True)
        history = count_rows(engine, "conversation_status_history")
        snapshots = count_rows(engine, "status_count_snapshots")
        assert history and snapshots
        clock.advance(timedelta(days=2).total_seconds())
        await sync(ctx)
        assert count_rows(engine, "conversation_status_history") == history
        assert count_rows(engine, "status_count_snapshots") == snapshots  # today's: same size
        clock.advance(timedelta(days=2).total_seconds())
        await sync(ctx)
        assert count_rows(engine, "conversation_status_history") == 0
        assert count_rows(engine, "status_count_snapshots") == snapshots


async def test_rewrite_applies_the_settings_to_what_was_stored_before(
    server: SimServer, db_url: str, engine: Engine
) -> None:
    sim = server.simulator
    async with open_sync(settings_for(server, db_url, {})) as ctx:
        await sync(ctx, full=True)
    assert leaks(stored_text(engine), emails(sim))
    with engine.begin() as conn:
        take_write_lock(conn)
        changed = rewrite_stored(conn, Privacy(False, True, KEY.encode()), utc_now())
    assert changed["messages"] and changed["events"] and changed["contacts"]
    text = stored_text(engine)
    assert leaks(text, bodies(sim) | emails(sim)) == []
    with engine.begin() as conn:
        assert rewrite_stored(conn, Privacy(False, True, KEY.encode()), utc_now()).total() == 0

    count = len(events(engine))
    async with open_sync(settings_for(server, db_url, PRIVATE)) as ctx:
        await sync(ctx, full=True)
    assert len(events(engine)) == count, "the rewritten mirror equals what the settings store"


async def test_with_hashed_addresses_a_refresh_reads_no_list_row_when_nothing_moved(
    server: SimServer, db_url: str, engine: Engine
) -> None:
    clock = StepClock()
    settings = load_settings(
        api={"base_url": server.base_url, "token": TOKEN, **API_LIMITS},
        database={"url": db_url},
        sync={"poll_interval_s": 30, "refresh_interval_s": 60, "refresh_recent_days": 100_000},
        privacy=PRIVATE,
    )
    async with open_sync(settings, clock=clock) as ctx:
        await sync(ctx, full=True)
        count = len(events(engine))
        server.reset_counts()
        for _ in range(3):
            clock.advance(30)
            await sync(ctx)
        refreshed = [r for r in server.request_log if r.route == "get_conversation"]
        assert refreshed, "the refresh read details"
        by_contact = [r.path for r in server.request_log if "contactId=" in r.path]
        assert by_contact == [], "a stored (hashed) contact equals the detail's, reduced"
        assert len(events(engine)) == count
