"""The model of the property tests: the world as the simulator shows it, as the mirror holds
it, and the events that the difference between two such snapshots calls for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, select

from syncd.config import Settings
from syncd.sim import SimConfig, Simulator
from syncd.sim import render as sim_render
from syncd.store import tables
from syncd.sync.privacy import Privacy

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


PRIVATE_SETTINGS = {
    "store_message_bodies": False,
    "hash_contact_emails": True,
    "hash_key": "property-hash-key",
}
"""``[privacy]`` of the property tests' private variant; ``PRIVATE`` is its policy."""
PRIVATE = Privacy(False, True, b"property-hash-key")
PLAIN = Privacy()


def truth(sim: Simulator, privacy: Privacy = PLAIN) -> Snapshot:
    """The simulator's world as a mirror under ``privacy`` must hold it."""
    snap = Snapshot()
    with sim.lock:
        world = sim.world
        for cid in sim.conversation_ids():
            conversation = world.conversations[cid]
            detail = sim_render.detail(world, conversation, frozenset())
            snap.conversations[cid] = privacy.conversation(
                {
                    **sim_render.list_row(world, conversation),
                    **{k: v for k, v in detail.items() if k not in NESTED},
                }
            )
            snap.context[cid] = detail.get("contextEntries", [])
            for message in sim.messages(cid):
                snap.messages[message["id"]] = privacy.message(message)
                snap.message_conversation[message["id"]] = cid
            for attachment in sim.attachments(cid):
                snap.attachments[attachment["id"]] = attachment
            for item_id in conversation.attention_ids:
                snap.attention[item_id] = privacy.attention_item(sim.attention_item(item_id))
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
        live = select(m.c.id, m.c.conversation_id, m.c.raw).where(m.c.deleted_at.is_(None))
        for row in conn.execute(live):
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


def assert_mirror_equals_truth(engine: Engine, sim: Simulator, privacy: Privacy = PLAIN) -> None:
    want, have = truth(sim, privacy), mirror(engine)
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
    message_conversations = set()
    for mid, message in after.messages.items():
        old_message = before.messages.get(mid)
        if old_message is None:
            expected[(message_kind(message), mid)] += 1
        elif old_message != message:
            expected[("message.updated", mid)] += 1
        else:
            continue
        message_conversations.add(after.message_conversation[mid])
    for mid in before.messages.keys() - after.messages.keys():
        # gone from the live messages of a conversation that still exists: deleted
        expected[("message.deleted", mid)] += 1
        message_conversations.add(before.message_conversation[mid])
    new_message_conversations = message_conversations
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


def reset(engine: Engine) -> None:
    """Delete every row (the schema stays)."""
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(delete(table))


def property_simulator(seed: int, order: str) -> Simulator:
    """The small world the property tests mutate: two workspaces, ten conversations."""
    return Simulator(
        SimConfig(
            seed=seed,
            workspaces=2,
            conversations=10,
            messages_per_conversation=3,
            order=order,  # type: ignore[arg-type]
            detail_missing_rate=0.0,
        )
    )


def property_settings(
    base_url: str, db_url: str, *, privacy: dict[str, Any] | None = None, **sync: Any
) -> Settings:
    """Settings for the property tests' syncs (no rate limit, few retries; ``[privacy]``)."""
    return Settings(
        api={
            "base_url": base_url,
            "token": "sf_test_v1_property",
            "max_requests_per_s": 10_000,
            "max_attempts": 2,
        },
        database={"url": db_url},
        sync=sync,
        privacy=privacy or {},
    )
