"""Random activity: what a busy tenant does between two polls, one step at a time.

``apply_random_activity(sim, rng)`` performs one step and says what it did; ``run_activity``
drives it at ``config.activity_per_s`` inside the server's event loop (the rate is re-read on
every tick, so tests may turn activity on and off while the server runs).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from syncd.sim import corpus
from syncd.sim.model import ATTENTION_TYPES, CHANNEL_TYPES, STATUSES, TERMINAL_STATUSES

if TYPE_CHECKING:
    from collections.abc import Callable

    from syncd.sim.model import Conversation
    from syncd.sim.state import Simulator

log = structlog.get_logger(__name__)

KINDS = (
    "inbound_message",
    "ai_reply",
    "status_change",
    "status_change_with_message",
    "attachment_progress",
    "attention_raised",
    "attention_resolved",
    "new_conversation",
    "deletion",
)
WEIGHTS = (24, 22, 8, 8, 8, 8, 8, 10, 1)
TICK_S = 0.05
MAX_STEPS_PER_TICK = 1000
_TRIES = 20


@dataclass(frozen=True, slots=True)
class Activity:
    """What one step did: its kind, the conversation, and the object it made or changed."""

    kind: str
    conversation_id: str
    object_id: str | None = None


def apply_random_activity(sim: Simulator, rng: random.Random) -> Activity:
    """Perform one random step on ``sim`` (call with ``sim.lock`` held)."""
    kind = rng.choices(KINDS, WEIGHTS)[0]
    if kind == "new_conversation" or not sim.world.conversations:
        return _new_conversation(sim, rng)
    conversation = _random_conversation(sim, rng)
    cid = conversation.id
    if kind == "inbound_message":
        message_id = sim.add_message(cid, "inbound", speaker="caller")
        if conversation.status in TERMINAL_STATUSES and rng.random() < 0.5:
            sim.set_status(cid, "open")
        return Activity(kind, cid, message_id)
    if kind == "ai_reply":
        conversation = _pick(sim, rng, lambda c: c.human_user_id is None) or conversation
        conversation.routing_path = rng.choice(corpus.ROUTING_PATHS)
        message_id = sim.add_message(conversation.id, "outbound", speaker="ai")
        return Activity(kind, conversation.id, message_id)
    if kind in ("status_change", "status_change_with_message"):
        status = rng.choice([s for s in STATUSES if s != conversation.status])
        sim.set_status(cid, status, with_message=kind == "status_change_with_message")
        return Activity(kind, cid)
    if kind == "attachment_progress":
        return _attachment_progress(sim, rng, conversation)
    if kind == "attention_raised":
        item_type = rng.choice(ATTENTION_TYPES)
        reason = rng.choice(corpus.REASONS) if rng.random() < 0.3 else None
        return Activity(kind, cid, sim.raise_attention_item(cid, item_type, reason=reason))
    if kind == "attention_resolved":
        return _attention_resolved(sim, rng)
    sim.delete_conversation(cid)
    return Activity("deletion", cid)


def _random_conversation(sim: Simulator, rng: random.Random) -> Conversation:
    ids = sim.world.index.smallest(()).by_id
    return sim.world.conversations[rng.choice(ids)]


def _pick(
    sim: Simulator, rng: random.Random, wanted: Callable[[Conversation], bool]
) -> Conversation | None:
    """A random conversation passing ``wanted``, within a few draws (None when unlucky)."""
    for _ in range(_TRIES):
        conversation = _random_conversation(sim, rng)
        if wanted(conversation):
            return conversation
    return None


def _new_conversation(sim: Simulator, rng: random.Random) -> Activity:
    workspace_id = rng.choice(sim.workspace_ids())
    channel_type = rng.choice(CHANNEL_TYPES)
    cid = sim.add_conversation(workspace_id, channel_type=channel_type)
    return Activity("new_conversation", cid)


def _attachment_progress(sim: Simulator, rng: random.Random, fallback: Conversation) -> Activity:
    """A pending attachment starts processing, a processing one becomes ready (or fails)."""
    conversation = _pick(
        sim, rng, lambda c: any(a.status in ("pending", "processing") for a in c.attachments)
    )
    if conversation is None:
        attachment_id = sim.add_attachment(fallback.id, status="pending")
        return Activity("attachment_created", fallback.id, attachment_id)
    attachment = next(a for a in conversation.attachments if a.status in ("pending", "processing"))
    if attachment.status == "pending":
        status = "processing"
    else:
        status = "failed" if rng.random() < 0.1 else "ready"
    sim.set_attachment_status(attachment.id, status)
    return Activity(f"attachment_{status}", conversation.id, attachment.id)


def _attention_resolved(sim: Simulator, rng: random.Random) -> Activity:
    conversation = _pick(sim, rng, lambda c: c.open_attention > 0)
    if conversation is not None:
        item_id = next(
            i for i in conversation.attention_ids if sim.world.attention[i].status == "open"
        )
    else:
        open_items = list(sim.world.attention_by_status.get("open", {}))
        if not open_items:
            target = _random_conversation(sim, rng)
            return Activity("attention_raised", target.id, sim.raise_attention_item(target.id))
        item_id = rng.choice(open_items)
    reason = rng.choice(corpus.REASONS) if rng.random() < 0.3 else None
    sim.resolve_attention_item(item_id, reason=reason)
    return Activity("attention_resolved", sim.world.attention[item_id].conversation_id, item_id)


async def run_activity(sim: Simulator, rng: random.Random) -> None:
    """Apply activity at ``sim.config.activity_per_s`` until cancelled."""
    loop = asyncio.get_running_loop()
    started, done, rate = loop.time(), 0, 0.0
    while True:
        await asyncio.sleep(TICK_S)
        current = sim.config.activity_per_s
        if current != rate:  # a new rate restarts the schedule
            started, done, rate = loop.time(), 0, current
        if rate <= 0.0:
            continue
        due = int((loop.time() - started) * rate) - done
        steps = min(due, MAX_STEPS_PER_TICK)
        for _ in range(steps):
            try:
                sim.apply_random_activity(rng)
            except Exception:  # a bug in one step must not stop the server's activity
                log.exception("sim_activity_failed")
        done += due
