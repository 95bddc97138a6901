"""Random activity on attachments and attention items (objects with their own timestamps).

As in ``steps_conversations``: one function per kind, falling back to a related kind (and
saying so) when nothing qualifies. Stuck attachments are never settled here.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from syncd.sim import corpus
from syncd.sim.factory import attachment_file
from syncd.sim.model import ATTENTION_TYPES, UNSETTLED_ATTACHMENT_STATUSES
from syncd.sim.picking import Activity, find, new_conversation, pick, random_conversation

if TYPE_CHECKING:
    from syncd.sim.model import Attachment, Conversation
    from syncd.sim.simulator import Simulator

SETTLED = ("ready", "failed")


def _progressing(attachment: Attachment) -> bool:
    return attachment.status in UNSETTLED_ATTACHMENT_STATUSES and not attachment.stuck


def attachment_progress(sim: Simulator, rng: random.Random) -> Activity:
    """A pending attachment starts processing, a processing one becomes ready (or fails);
    with none to move (stuck ones never move), a new pending one is created."""
    fallback = random_conversation(sim, rng)
    conversation = pick(sim, rng, lambda c: any(_progressing(a) for a in c.attachments))
    if conversation is None:
        attachment_id = sim.add_attachment(fallback.id, status="pending")
        return Activity("attachment_created", fallback.id, attachment_id)
    attachment = next(a for a in conversation.attachments if _progressing(a))
    if attachment.status == "pending":
        status = "processing"
    else:
        status = "failed" if rng.random() < 0.1 else "ready"
    sim.set_attachment_status(attachment.id, status)
    return Activity(f"attachment_{status}", conversation.id, attachment.id)


def attachment_changed(sim: Simulator, rng: random.Random) -> Activity:
    """A settled attachment flips ready ↔ failed (a re-scan) or gets another ``fileName``."""
    conversation = find(sim, rng, lambda c: any(a.status in SETTLED for a in c.attachments))
    if conversation is None:
        target = random_conversation(sim, rng)
        attachment_id = sim.add_attachment(target.id, status="ready")
        return Activity("attachment_created", target.id, attachment_id)
    attachment = rng.choice([a for a in conversation.attachments if a.status in SETTLED])
    if rng.random() < 0.5:
        flipped = "failed" if attachment.status == "ready" else "ready"
        sim.set_attachment_status(attachment.id, flipped)
    else:
        name = attachment_file(rng, conversation.channel_type)[0]
        sim.rename_attachment(attachment.id, f"v{rng.randint(2, 9)}-{name}")
    return Activity("attachment_changed", conversation.id, attachment.id)


def late_attachment(sim: Simulator, rng: random.Random) -> Activity:
    """A new attachment on an older message (not the last: the list row shows nothing)."""
    conversation: Conversation | None = find(sim, rng, lambda c: len(c.messages) >= 2)
    if conversation is None:
        conversation = find(sim, rng, lambda c: bool(c.messages))
        if conversation is None:
            return new_conversation(sim, rng)
        message = conversation.messages[0]
    else:
        message = rng.choice(conversation.messages[:-1])
    status = "pending" if rng.random() < 0.5 else "ready"
    attachment_id = sim.add_attachment(conversation.id, message_id=message.id, status=status)
    return Activity("late_attachment", conversation.id, attachment_id)


def attention_raised(sim: Simulator, rng: random.Random) -> Activity:
    """A new open attention item of a random type."""
    conversation = random_conversation(sim, rng)
    item_type = rng.choice(ATTENTION_TYPES)
    reason = rng.choice(corpus.REASONS) if rng.random() < 0.3 else None
    item_id = sim.raise_attention_item(conversation.id, item_type, reason=reason)
    return Activity("attention_raised", conversation.id, item_id)


def attention_raised_acknowledged(sim: Simulator, rng: random.Random) -> Activity:
    """A new attention item that is ``acknowledged`` from the start."""
    conversation = random_conversation(sim, rng)
    item_id = sim.raise_attention_item(
        conversation.id, rng.choice(ATTENTION_TYPES), status="acknowledged"
    )
    return Activity("attention_raised_acknowledged", conversation.id, item_id)


def attention_resolved(sim: Simulator, rng: random.Random) -> Activity:
    """An open attention item is resolved (none open: one is raised)."""
    item_id = _open_item(sim, rng)
    if item_id is None:
        target = random_conversation(sim, rng)
        return Activity("attention_raised", target.id, sim.raise_attention_item(target.id))
    reason = rng.choice(corpus.REASONS) if rng.random() < 0.3 else None
    sim.resolve_attention_item(item_id, reason=reason)
    return Activity("attention_resolved", sim.world.attention[item_id].conversation_id, item_id)


def attention_acknowledged(sim: Simulator, rng: random.Random) -> Activity:
    """An open attention item becomes ``acknowledged`` (none open: one is raised)."""
    item_id = _open_item(sim, rng)
    if item_id is None:
        target = random_conversation(sim, rng)
        return Activity("attention_raised", target.id, sim.raise_attention_item(target.id))
    sim.set_attention_item_status(item_id, "acknowledged")
    cid = sim.world.attention[item_id].conversation_id
    return Activity("attention_acknowledged", cid, item_id)


def attention_flash(sim: Simulator, rng: random.Random) -> Activity:
    """An attention item raised and resolved in the same step (never seen open by a poll)."""
    conversation = random_conversation(sim, rng)
    item_id = sim.raise_attention_item(conversation.id, rng.choice(ATTENTION_TYPES))
    sim.resolve_attention_item(item_id, reason=rng.choice(corpus.REASONS))
    return Activity("attention_flash", conversation.id, item_id)


def _open_item(sim: Simulator, rng: random.Random) -> str | None:
    """A random open attention item: from a conversation that has one, else from all of them."""
    conversation = pick(sim, rng, lambda c: c.open_attention > 0)
    if conversation is not None:
        attention = sim.world.attention
        return next(i for i in conversation.attention_ids if attention[i].status == "open")
    open_items = list(sim.world.attention_by_status.get("open", {}))
    return rng.choice(open_items) if open_items else None
