"""Property: after the refresh window, every table equals the simulator and the outbox holds
exactly the events the change calls for — for every kind of change, none needing a reconcile.

Random steps of simulator mutations — including what no list row shows (assignment, outcome,
summary, context entries, contact and account fields), moves between terminal statuses, replies
to terminal conversations, attention items created acknowledged or opened and closed between
two polls, attachment changes after settling, late attachments, message edits and deletions,
deletions — each followed by the passes of one refresh window (``syncd sync`` every poll
interval, ``SyncContext.clock`` stepped), in both list orders, on SQLite and PostgreSQL.
Every conversation counts as recent, so the refresh stream covers all of them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_support import (
    PLAIN,
    PRIVATE,
    PRIVATE_SETTINGS,
    STATUSES,
    TERMINAL,
    assert_mirror_equals_truth,
    expected_events,
    mirror,
    property_settings,
    property_simulator,
    read_events,
    reset,
)
from sync_support import StepClock

from syncd.config import Settings
from syncd.sim import SimServer, Simulator
from syncd.store.engine import create_engine_for
from syncd.sync.runner import sync_once
from syncd.sync.session import open_sync

POLL_S = 30.0
REFRESH_S = 120.0
WINDOW = 5  # syncs after a step: more than REFRESH_S / POLL_S, so every conversation is refreshed

pick = st.integers(0, 999)
mutation = st.one_of(
    st.tuples(st.just("new_conversation"), pick, st.sampled_from(["email", "chat", "voice"])),
    st.tuples(st.just("created_and_closed"), pick, st.sampled_from(sorted(TERMINAL))),
    st.tuples(st.just("message"), pick, st.sampled_from(["inbound", "outbound", "ai"])),
    st.tuples(st.just("status"), pick, st.sampled_from(STATUSES)),
    st.tuples(st.just("assign"), pick, st.booleans()),
    st.tuples(st.just("outcome"), pick, st.sampled_from([None, "refund issued", "no action"])),
    st.tuples(st.just("summary"), pick, st.text("abc xyz", max_size=12)),
    st.tuples(st.just("context"), pick, st.integers(0, 2)),
    st.tuples(st.just("contact"), pick, st.text("Zoë Ann", min_size=1, max_size=6)),
    st.tuples(st.just("account"), pick, st.text("Acme Co", min_size=1, max_size=6)),
    st.tuples(st.just("edit_message"), pick, st.text("edited", min_size=1, max_size=8)),
    st.tuples(st.just("delete_message"), pick),
    st.tuples(st.just("late_attachment"), pick, st.sampled_from(["pending", "ready"])),
    st.tuples(st.just("attachment_changed"), pick, st.sampled_from(["failed", "rename"])),
    st.tuples(
        st.just("raise_attention"),
        pick,
        st.sampled_from(["open", "acknowledged"]),
        st.booleans(),  # closed again before any pass (resolved between two polls)
    ),
    st.tuples(st.just("attention_status"), pick, st.sampled_from(["acknowledged", "dismissed"])),
    st.tuples(st.just("delete"), pick),
)


def apply(sim: Simulator, op: tuple[Any, ...]) -> None:
    """Apply one mutation to a conversation (or object) picked by ``op[1]``."""
    kind, n = op[0], op[1]
    workspaces = sim.workspace_ids()
    if kind == "new_conversation":
        sim.add_conversation(workspaces[n % len(workspaces)], channel_type=op[2])
        return
    if kind == "created_and_closed":
        cid = sim.add_conversation(workspaces[n % len(workspaces)])
        sim.set_status(cid, op[2])
        return
    live = sorted(sim.conversation_ids())
    if not live:
        return
    cid = live[n % len(live)]
    with sim.lock:
        conversation = sim.conversation(cid)
        voice = conversation.channel_type == "voice"
        message_ids = [m.id for m in conversation.messages]
        attachment_ids = sorted(a.id for a in conversation.attachments)
        item_ids = sorted(conversation.attention_ids)
        contact_id, account_id = conversation.contact_id, conversation.account_id
    if kind == "message":
        if op[2] == "ai" or (voice and op[2] == "outbound"):
            sim.add_message(
                cid, "inbound" if voice else "outbound", speaker="ai" if voice else None
            )
        else:
            sim.add_message(cid, op[2], speaker="caller" if voice else None)
    elif kind == "status":
        sim.set_status(cid, op[2])
    elif kind == "assign":
        if op[2]:
            sim.assign(cid, f"usr_{n % 7}")
        else:
            sim.unassign(cid)
    elif kind == "outcome":
        sim.set_outcome(cid, op[2])
    elif kind == "summary":
        sim.set_state_summary(cid, op[2])
    elif kind == "context":
        sim.set_context_entries(cid, [{"kind": "note", "n": i} for i in range(op[2])])
    elif kind == "contact":
        sim.update_contact(contact_id, first_name=op[2])
    elif kind == "account" and account_id is not None:
        sim.rename_account(account_id, op[2])
    elif kind == "edit_message" and message_ids:
        sim.edit_message(message_ids[n % len(message_ids)], op[2], conversation_id=cid)
    elif kind == "delete_message" and len(message_ids) > 1:
        sim.delete_message(message_ids[n % len(message_ids)], conversation_id=cid)
    elif kind == "late_attachment" and message_ids:
        sim.add_attachment(cid, message_id=message_ids[0], status=op[2])
    elif kind == "attachment_changed" and attachment_ids:
        attachment = attachment_ids[n % len(attachment_ids)]
        if op[2] == "rename":
            sim.rename_attachment(attachment, f"renamed-{n}.pdf")
        else:
            sim.set_attachment_status(attachment, "failed")
    elif kind == "raise_attention":
        item = sim.raise_attention_item(cid, "escalation", status=op[2])
        if op[3]:
            sim.resolve_attention_item(item)
    elif kind == "attention_status" and item_ids:
        sim.set_attention_item_status(item_ids[n % len(item_ids)], op[2])
    elif kind == "delete":
        sim.delete_conversation(cid)


async def _sync(config: Settings, clock: StepClock) -> list[Any]:
    async with open_sync(config) as ctx:
        ctx.clock = clock
        return await sync_once(ctx)


@pytest.mark.parametrize("private", [False, True], ids=["plain", "private"])
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    order=st.sampled_from(["id", "newest"]),
    steps=st.lists(st.lists(mutation, min_size=1, max_size=4), min_size=1, max_size=3),
)
def test_after_the_refresh_window_the_mirror_equals_the_simulator_and_events_tell_every_change(
    db_url: str, private: bool, seed: int, order: str, steps: list[list[tuple[Any, ...]]]
) -> None:
    """``private``: with ``[privacy]`` on, the model's truth is reduced the same way."""
    privacy = PRIVATE if private else PLAIN
    engine = create_engine_for(db_url)
    clock = StepClock()
    try:
        reset(engine)
        sim = property_simulator(seed, order)
        with SimServer(sim) as server:
            config = property_settings(
                server.base_url,
                db_url,
                poll_interval_s=POLL_S,
                refresh_interval_s=REFRESH_S,
                refresh_recent_days=100_000,  # every conversation is recent
                privacy=PRIVATE_SETTINGS if private else None,
            )
            asyncio.run(_sync(config, clock))  # the backfill
            last_seq = max([e["seq"] for e in read_events(engine, 0)], default=0)
            for index, step in enumerate(steps, start=1):
                for op in step:
                    apply(sim, op)
                before = mirror(engine)
                for _ in range(WINDOW):
                    clock.advance(POLL_S)
                    results = asyncio.run(_sync(config, clock))
                    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
                    assert "reconcile" not in {r.stream for r in results}
                assert_mirror_equals_truth(engine, sim, privacy)
                events = read_events(engine, last_seq)
                if events:
                    last_seq = events[-1]["seq"]
                got = Counter((e["type"], e["subject_id"]) for e in events)
                assert got == expected_events(before, mirror(engine)), f"step {index}: {step}"
                for event in events:
                    envelope = json.loads(event["payload"])
                    assert envelope["backfill"] is False
                    assert len({e["id"] for e in events}) == len(events)
    finally:
        engine.dispose()
