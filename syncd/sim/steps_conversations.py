"""Random activity on conversations and messages: one function per kind of ``activity.KINDS``.

Each step takes the simulator (lock held) and an RNG, and returns the ``Activity`` it performed.
When nothing qualifies (no terminal conversation for ``terminal_move``, say), a step falls back
to a related kind and says so in ``Activity.kind``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from syncd.sim import corpus
from syncd.sim.factory import (
    context_entries,
    context_entry,
    conversation_number,
    message_body,
    new_user_id,
)
from syncd.sim.model import STATUSES, TERMINAL_STATUSES
from syncd.sim.picking import (
    Activity,
    find,
    new_conversation,
    pick,
    random_conversation,
    with_status,
)

if TYPE_CHECKING:
    from syncd.sim.simulator import Simulator

TERMINAL = sorted(TERMINAL_STATUSES)


def inbound_message(sim: Simulator, rng: random.Random) -> Activity:
    """The contact writes; a terminal conversation reopens half of the time."""
    conversation = random_conversation(sim, rng)
    message_id = sim.add_message(conversation.id, "inbound", speaker="caller")
    if conversation.status in TERMINAL_STATUSES and rng.random() < 0.5:
        sim.set_status(conversation.id, "open")
    return Activity("inbound_message", conversation.id, message_id)


def ai_reply(sim: Simulator, rng: random.Random) -> Activity:
    """The AI answers a conversation no human owns (it sets the routing path)."""
    fallback = random_conversation(sim, rng)
    conversation = pick(sim, rng, lambda c: c.human_user_id is None) or fallback
    conversation.routing_path = rng.choice(corpus.ROUTING_PATHS)
    message_id = sim.add_message(conversation.id, "outbound", speaker="ai")
    return Activity("ai_reply", conversation.id, message_id)


def status_change(sim: Simulator, rng: random.Random) -> Activity:
    """Any other documented status."""
    return _status_change(sim, rng, with_message=False)


def status_change_with_message(sim: Simulator, rng: random.Random) -> Activity:
    """Any other documented status, with an AI message saying so."""
    return _status_change(sim, rng, with_message=True)


def _status_change(sim: Simulator, rng: random.Random, *, with_message: bool) -> Activity:
    conversation = random_conversation(sim, rng)
    status = rng.choice([s for s in STATUSES if s != conversation.status])
    sim.set_status(conversation.id, status, with_message=with_message)
    kind = "status_change_with_message" if with_message else "status_change"
    return Activity(kind, conversation.id)


def deletion(sim: Simulator, rng: random.Random) -> Activity:
    """A conversation is deleted."""
    conversation = random_conversation(sim, rng)
    sim.delete_conversation(conversation.id)
    return Activity("deletion", conversation.id)


def message_edited(sim: Simulator, rng: random.Random) -> Activity:
    """A message's body changes (the last message half of the time: the preview follows)."""
    conversation = find(sim, rng, lambda c: bool(c.messages))
    if conversation is None:
        return new_conversation(sim, rng)
    message = conversation.messages[-1] if rng.random() < 0.5 else rng.choice(conversation.messages)
    number = conversation_number(conversation.id)
    text = message_body(rng, message.channel, message.direction, message.speaker, number)
    body = f"{text} {rng.choice(corpus.EDIT_NOTES)}"
    if body == message.body:
        body = f"{body} {corpus.EDIT_NOTES[0]}"
    sim.edit_message(message.id, body, conversation_id=conversation.id)
    return Activity("message_edited", conversation.id, message.id)


def message_deleted(sim: Simulator, rng: random.Random) -> Activity:
    """A message of a conversation with two or more disappears (the last one half of the time:
    lastMessageAt and the preview go back to the one before)."""
    conversation = find(sim, rng, lambda c: len(c.messages) >= 2) or find(
        sim, rng, lambda c: bool(c.messages)
    )
    if conversation is None:
        return new_conversation(sim, rng)
    message = conversation.messages[-1] if rng.random() < 0.5 else rng.choice(conversation.messages)
    sim.delete_message(message.id, conversation_id=conversation.id)
    return Activity("message_deleted", conversation.id, message.id)


def assignment(sim: Simulator, rng: random.Random) -> Activity:
    """Assigned to a user's queue, or back to the shared queue; object: the user (or None)."""
    conversation = random_conversation(sim, rng)
    if conversation.assigned_user_id is not None and rng.random() < 0.6:
        sim.unassign(conversation.id)
        return Activity("assignment", conversation.id, None)
    user_id = new_user_id(rng)
    sim.assign(conversation.id, user_id)
    return Activity("assignment", conversation.id, user_id)


def outcome_change(sim: Simulator, rng: random.Random) -> Activity:
    """The outcome of a resolved conversation (any conversation when none is) changes."""
    conversation = with_status(sim, rng, ["resolved"]) or random_conversation(sim, rng)
    choices = [o for o in (*corpus.OUTCOMES, None) if o != conversation.outcome]
    sim.set_outcome(conversation.id, rng.choice(choices))
    return Activity("outcome_change", conversation.id)


def summary_change(sim: Simulator, rng: random.Random) -> Activity:
    """The AI rewrites its state summary."""
    conversation = random_conversation(sim, rng)
    text = rng.choice(corpus.SUMMARY_NOTES).format(n=conversation_number(conversation.id))
    if text == conversation.state_summary:
        text = f"{text} {corpus.EDIT_NOTES[0]}"
    sim.set_state_summary(conversation.id, text)
    return Activity("summary_change", conversation.id)


def context_change(sim: Simulator, rng: random.Random) -> Activity:
    """A context entry is added (half of the time), or the entries are replaced or cleared."""
    conversation = random_conversation(sim, rng)
    draw = rng.random()
    if draw < 0.3:
        entries = context_entries(rng)
        if entries != conversation.context_entries:
            sim.set_context_entries(conversation.id, entries)
            return Activity("context_change", conversation.id)
    elif draw < 0.5 and conversation.context_entries:
        sim.set_context_entries(conversation.id, [])
        return Activity("context_change", conversation.id)
    sim.add_context_entry(conversation.id, context_entry(rng))
    return Activity("context_change", conversation.id)


def contact_change(sim: Simulator, rng: random.Random) -> Activity:
    """The contact of a conversation gets another first name, last name or email address."""
    conversation = random_conversation(sim, rng)
    contact = sim.world.contacts[conversation.contact_id]
    field = rng.choice(("first_name", "last_name", "email"))
    if field == "email":
        local, domain = rng.choice(corpus.EMAIL_LOCALS), rng.choice(corpus.DOMAINS)
        sim.update_contact(contact.id, email=f"{local}{rng.randint(100_000, 999_999)}@{domain}")
    elif field == "first_name":
        names = [n for n in corpus.FIRST_NAMES if n != contact.first_name]
        sim.update_contact(contact.id, first_name=rng.choice(names))
    else:
        names = [n for n in corpus.LAST_NAMES if n != contact.last_name]
        sim.update_contact(contact.id, last_name=rng.choice(names))
    return Activity("contact_change", conversation.id, contact.id)


def terminal_move(sim: Simulator, rng: random.Random) -> Activity:
    """A terminal conversation moves to another terminal status (resolved → closed, ...)."""
    conversation = with_status(sim, rng, TERMINAL)
    if conversation is None:  # nothing terminal: make one terminal instead
        conversation = random_conversation(sim, rng)
        sim.set_status(conversation.id, rng.choice(TERMINAL))
        return Activity("status_change", conversation.id)
    status = rng.choice([s for s in TERMINAL if s != conversation.status])
    sim.set_status(conversation.id, status)
    return Activity("terminal_move", conversation.id)


def reply_on_terminal(sim: Simulator, rng: random.Random) -> Activity:
    """The contact writes to a terminal conversation, which stays terminal."""
    conversation = with_status(sim, rng, TERMINAL)
    if conversation is None:
        return inbound_message(sim, rng)
    message_id = sim.add_message(conversation.id, "inbound", speaker="caller")
    return Activity("reply_on_terminal", conversation.id, message_id)


def created_and_closed(sim: Simulator, rng: random.Random) -> Activity:
    """A new conversation that reaches a terminal status in the same step."""
    created = new_conversation(sim, rng)
    sim.set_status(created.conversation_id, rng.choice(TERMINAL))
    return Activity("created_and_closed", created.conversation_id)
