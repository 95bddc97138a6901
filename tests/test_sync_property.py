"""Property: after every sync the mirror equals the simulator, and the outbox holds exactly the
events that the difference between the mirror before and the truth after calls for.

Random sequences of simulator mutations are interleaved with sync passes, in both list orders,
on SQLite and PostgreSQL. A step whose changes only a reconcile can see (a change inside a
conversation that stays terminal, or its deletion) is followed by ``sync --full``; every other
step by a plain sync (hot, attention and status-count passes).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from syncd.config import Settings
from syncd.sim import SimConfig, SimServer, Simulator
from syncd.sim import render as sim_render
from syncd.store import tables
from syncd.store.engine import create_engine_for
from syncd.sync.runner import sync_once
from syncd.sync.session import open_sync

TERMINAL = {"resolved", "closed", "abandoned"}
STATUSES = ["open", "in_progress", "awaiting_contact", "resolved", "closed", "abandoned"]
BUMP = {"lastMessageAt", "lastMessagePreview", "lastActivityAt", "updatedAt"}
NESTED = {"history", "contextEntries", "attentionItems"}


# -- the world as the API shows it, and as the mirror holds it -------------------------------


@dataclass
class Snapshot:
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)  # live, API-shaped
    deleted: set[str] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → raw
    message_conversation: dict[str, str] = field(default_factory=dict)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    attachment_conversation: dict[str, str] = field(default_factory=dict)
    attention: dict[str, dict[str, Any]] = field(default_factory=dict)
    context: dict[str, list[Any]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def truth(sim: Simulator) -> Snapshot:
    snap = Snapshot()
    with sim.lock:
        world = sim.world
        for cid in sim.conversation_ids():
            conversation = world.conversations[cid]
            detail = sim_render.detail(world, conversation, frozenset())
            snap.conversations[cid] = {
                **sim_render.list_row(world, conversation),
                **{k: v for k, v in detail.items() if k not in NESTED},
            }
            snap.context[cid] = detail.get("contextEntries", [])
            for message in sim.messages(cid):
                snap.messages[message["id"]] = message
                snap.message_conversation[message["id"]] = cid
            for attachment in sim.attachments(cid):
                snap.attachments[attachment["id"]] = attachment
            for item_id in conversation.attention_ids:
                snap.attention[item_id] = sim.attention_item(item_id)
        snap.deleted = set(world.deleted)
        for workspace in sim.workspace_ids():
            snap.counts[workspace] = sim.status_counts(workspace)
    return snap


def mirror(engine: Engine) -> Snapshot:
    snap = Snapshot()
    with engine.connect() as conn:
        c = tables.conversations
        for row in conn.execute(select(c.c.id, c.c.raw, c.c.deleted_at, c.c.fingerprint)):
            if row.deleted_at is not None:
                snap.deleted.add(row.id)
            elif row.fingerprint is not None:
                snap.conversations[row.id] = row.raw
        m = tables.messages
        for row in conn.execute(select(m.c.id, m.c.conversation_id, m.c.raw)):
            snap.messages[row.id] = row.raw
            snap.message_conversation[row.id] = row.conversation_id
        a = tables.attachments
        for row in conn.execute(select(a.c.id, a.c.conversation_id, a.c.raw)):
            snap.attachments[row.id] = row.raw
            snap.attachment_conversation[row.id] = row.conversation_id
        i = tables.attention_items
        snap.attention = {r.id: r.raw for r in conn.execute(select(i.c.id, i.c.raw))}
        e = tables.context_entries
        for row in conn.execute(select(e).order_by(e.c.conversation_id, e.c.position)):
            snap.context.setdefault(row.conversation_id, []).append(row.raw)
        s = tables.status_count_snapshots
        for row in conn.execute(select(s).order_by(s.c.taken_at)):
            snap.counts.setdefault(row.workspace_id, {})
        for workspace in snap.counts:
            taken = max(
                r.taken_at for r in conn.execute(select(s).where(s.c.workspace_id == workspace))
            )
            snap.counts[workspace] = {
                r.status: r.count
                for r in conn.execute(
                    select(s).where(s.c.workspace_id == workspace, s.c.taken_at == taken)
                )
            }
    return snap


def assert_mirror_equals_truth(engine: Engine, sim: Simulator) -> None:
    want, have = truth(sim), mirror(engine)
    assert have.conversations == want.conversations
    # every deletion the mirror could know of is recorded, and nothing else is deleted
    assert have.deleted <= want.deleted
    assert not want.deleted & set(have.conversations)
    live_messages = {
        mid: raw
        for mid, raw in have.messages.items()
        if have.message_conversation[mid] not in have.deleted
    }
    assert live_messages == want.messages
    live_attachments = {
        aid: raw
        for aid, raw in have.attachments.items()
        if have.attachment_conversation[aid] not in have.deleted
    }
    assert live_attachments == want.attachments
    live_attention = {
        aid: raw
        for aid, raw in have.attention.items()
        if raw.get("conversationId") not in have.deleted
    }
    assert live_attention == want.attention
    for cid in want.conversations:
        assert have.context.get(cid, []) == want.context[cid]
    # columns: NULL exactly where the API left an optional field out
    with engine.connect() as conn:
        c = tables.conversations
        for row in conn.execute(select(c).where(c.c.deleted_at.is_(None))).mappings():
            api = want.conversations[row["id"]]
            assert row["status"] == api["status"]
            assert (row["contact_name"] is None) == ("contactName" not in api)
            assert (row["human_managed"] is None) == ("humanManaged" not in api)
            assert row["last_message_at"] is not None and row["last_message_at"].tzinfo


# -- which events the change from mirror-before to truth-after calls for ---------------------


def message_kind(message: dict[str, Any]) -> str:
    sent = message.get("direction") == "outbound" or message.get("speaker") == "ai"
    return "message.sent" if sent else "message.received"


def expected_events(before: Snapshot, after: Snapshot) -> Counter[tuple[str, str]]:
    expected: Counter[tuple[str, str]] = Counter()
    new_message_conversations = set()
    for mid, message in after.messages.items():
        if mid not in before.messages:
            expected[(message_kind(message), mid)] += 1
            new_message_conversations.add(after.message_conversation[mid])
    for cid, now in after.conversations.items():
        old = before.conversations.get(cid)
        if old is None:
            expected[("conversation.created", cid)] += 1
            continue
        moved = {k for k in old.keys() | now.keys() if old.get(k) != now.get(k)}
        if not moved:
            continue
        if "status" in moved:
            kind = (
                "conversation.resolved"
                if now["status"] == "resolved"
                else ("conversation.status_changed")
            )
        elif moved <= BUMP and cid in new_message_conversations:
            continue
        else:
            kind = "conversation.updated"
        expected[(kind, cid)] += 1
    for cid in after.deleted:
        if cid in before.conversations:
            expected[("conversation.deleted", cid)] += 1
    for aid, attachment in after.attachments.items():
        old = before.attachments.get(aid)
        if old is None:
            expected[("attachment.created", aid)] += 1
        elif old != attachment:
            expected[("attachment.updated", aid)] += 1
    for aid, item in after.attention.items():
        old = before.attention.get(aid)
        if old is None:
            expected[("attention_item.created", aid)] += 1
        elif old != item:
            resolved = old.get("status") != item["status"] and item["status"] == "resolved"
            kind = "attention_item.resolved" if resolved else "attention_item.updated"
            expected[(kind, aid)] += 1
    for workspace, counts in after.counts.items():
        previous = before.counts.get(workspace)
        if previous is not None and {k: v for k, v in previous.items() if v} != {
            k: v for k, v in counts.items() if v
        }:
            expected[("status_counts.changed", workspace)] += 1
    return expected


def read_events(engine: Engine, after_seq: int) -> list[dict[str, Any]]:
    e = tables.events
    with engine.connect() as conn:
        rows = conn.execute(select(e).where(e.c.seq > after_seq).order_by(e.c.seq)).mappings()
        return [dict(row) for row in rows]


# -- mutations --------------------------------------------------------------------------------

mutation = st.one_of(
    st.tuples(
        st.just("new_conversation"),
        st.integers(0, 1),
        st.sampled_from(["email", "chat", "voice", "sms", "whatsapp"]),
    ),
    st.tuples(
        st.just("message"), st.integers(0, 99), st.sampled_from(["inbound", "outbound", "ai"])
    ),
    st.tuples(st.just("status"), st.integers(0, 99), st.sampled_from(STATUSES), st.booleans()),
    st.tuples(st.just("take_over"), st.integers(0, 99)),
    st.tuples(st.just("release"), st.integers(0, 99)),
    st.tuples(st.just("attachment"), st.integers(0, 99)),
    st.tuples(st.just("attachment_ready"), st.integers(0, 99)),
    st.tuples(
        st.just("raise_attention"),
        st.integers(0, 99),
        st.sampled_from(["mcp_failure", "escalation", "approval_gate", "human_requested"]),
    ),
    st.tuples(st.just("resolve_attention"), st.integers(0, 99)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
)


def apply(sim: Simulator, op: tuple[Any, ...], raised: set[str]) -> bool:
    """Apply one mutation; True when only a reconcile can see it.

    ``raised``: attention items raised in this step. One raised and resolved between two passes
    was never open for the attention pass to see; only a detail or the whole attention list
    (the reconcile) shows it.
    """
    live = sorted(sim.conversation_ids())
    kind = op[0]
    if kind == "new_conversation":
        workspace = sim.workspace_ids()[op[1] % len(sim.workspace_ids())]
        sim.add_conversation(workspace, channel_type=op[2])
        return False
    if kind in ("attachment_ready", "resolve_attention"):
        with sim.lock:
            if kind == "attachment_ready":
                pending = sorted(
                    a.id
                    for a in sim.world.attachments.values()
                    if a.status in ("pending", "processing") and a.conversation_id in live
                )
                if pending:
                    sim.set_attachment_status(pending[op[1] % len(pending)], "ready")
            else:
                open_items = sim.attention_item_ids(status="open")
                if open_items:
                    item = sorted(open_items)[op[1] % len(open_items)]
                    sim.resolve_attention_item(item)
                    return item in raised
        return False
    if not live:
        return False
    cid = live[op[1] % len(live)]
    conversation = sim.conversation(cid)
    was_terminal = conversation.status in TERMINAL
    if kind == "message":
        voice = conversation.channel_type == "voice"
        if op[2] == "ai" or (voice and op[2] == "outbound"):
            sim.add_message(
                cid, "inbound" if voice else "outbound", speaker="ai" if voice else None
            )
        else:
            sim.add_message(cid, op[2], speaker="caller" if voice else None)
    elif kind == "status":
        sim.set_status(cid, op[2], with_message=op[3])
    elif kind == "take_over":
        sim.take_over(cid)
    elif kind == "release":
        sim.release(cid)
    elif kind == "attachment":
        sim.add_message(
            cid, "inbound", speaker="caller" if conversation.channel_type == "voice" else None
        )
        sim.add_attachment(cid)
    elif kind == "raise_attention":
        raised.add(sim.raise_attention_item(cid, op[2]))
    elif kind == "delete":
        sim.delete_conversation(cid)
        return was_terminal
    still_terminal = sim.conversation(cid).status in TERMINAL
    return (
        was_terminal
        and still_terminal
        and kind in ("message", "status", "take_over", "release", "attachment")
    )


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(delete(table))


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    order=st.sampled_from(["id", "newest"]),
    configured=st.booleans(),
    steps=st.lists(st.lists(mutation, min_size=1, max_size=3), min_size=1, max_size=4),
)
def test_mirror_tracks_the_simulator_and_events_tell_every_change(
    db_url: str, seed: int, order: str, configured: bool, steps: list[list[tuple[Any, ...]]]
) -> None:
    engine = create_engine_for(db_url)
    try:
        reset(engine)
        sim = Simulator(
            SimConfig(
                seed=seed,
                workspaces=2,
                conversations=10,
                messages_per_conversation=3,
                order=order,  # type: ignore[arg-type]
                detail_missing_rate=0.0,
            )
        )
        with SimServer(sim) as server:
            config = Settings(
                api={
                    "base_url": server.base_url,
                    "token": "sf_test_v1_property",
                    "max_requests_per_s": 10_000,
                    "max_attempts": 2,
                },
                database={"url": db_url},
                sync={"workspaces": sim.workspace_ids() if configured else []},
            )
            last_seq = 0
            for index, step in enumerate([[], *steps]):
                needs_full = False
                raised: set[str] = set()
                for op in step:
                    needs_full |= apply(sim, op, raised)
                before = mirror(engine)
                results = asyncio.run(_sync(config, full=needs_full))
                assert all(r.ok for r in results), [r.error for r in results if not r.ok]
                assert_mirror_equals_truth(engine, sim)
                events = read_events(engine, last_seq)
                if events:
                    last_seq = events[-1]["seq"]
                got = Counter((e["type"], e["subject_id"]) for e in events)
                assert got == expected_events(before, mirror(engine)), f"step {index}: {step}"
                for event in events:
                    envelope = json.loads(event["payload"])
                    assert envelope["id"] == event["id"]
                    assert envelope["backfill"] is (index == 0) is event["backfill"]
                    about_new_object = event["type"].endswith((".created", ".deleted")) or (
                        event["type"].startswith("message.")
                    )
                    assert ("changes" in envelope) is not about_new_object
                    if event["type"].startswith("conversation.") and event["type"] != (
                        "conversation.deleted"
                    ):
                        assert envelope["data"] == truth(sim).conversations[event["subject_id"]]
                assert len({e["id"] for e in events}) == len(events)
    finally:
        engine.dispose()


async def _sync(config: Settings, *, full: bool) -> list[Any]:
    async with open_sync(config) as ctx:
        return await sync_once(ctx, full=full)
