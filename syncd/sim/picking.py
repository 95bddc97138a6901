"""What a step of random activity says it did, and how it picks the objects it changes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from syncd.sim.model import CHANNEL_TYPES

if TYPE_CHECKING:
    from syncd.sim.model import Conversation
    from syncd.sim.simulator import Simulator

TRIES = 20


@dataclass(frozen=True, slots=True)
class Activity:
    """What one step did: its kind, the conversation, and the object it made or changed."""

    kind: str
    conversation_id: str
    object_id: str | None = None


def random_conversation(sim: Simulator, rng: random.Random) -> Conversation:
    """Any live conversation, uniformly (the world must hold one)."""
    ids = sim.world.index.smallest(()).by_id
    return sim.world.conversations[rng.choice(ids)]


def pick(
    sim: Simulator, rng: random.Random, wanted: Callable[[Conversation], bool]
) -> Conversation | None:
    """A random conversation passing ``wanted``, within a few draws (None when unlucky)."""
    for _ in range(TRIES):
        conversation = random_conversation(sim, rng)
        if wanted(conversation):
            return conversation
    return None


def find(
    sim: Simulator, rng: random.Random, wanted: Callable[[Conversation], bool]
) -> Conversation | None:
    """As ``pick``, then a full scan when the draws were unlucky (None: there is none)."""
    found = pick(sim, rng, wanted)
    if found is not None:
        return found
    candidates = [cid for cid in sim.world.index.smallest(()).by_id if wanted(_get(sim, cid))]
    return _get(sim, rng.choice(candidates)) if candidates else None


def with_status(sim: Simulator, rng: random.Random, statuses: Iterable[str]) -> Conversation | None:
    """A random live conversation in one of ``statuses`` (from the index: no scan)."""
    groups = [sim.world.index.smallest([("status", status)]).by_id for status in statuses]
    total = sum(len(group) for group in groups)
    if total == 0:
        return None
    position = rng.randrange(total)
    for group in groups:
        if position < len(group):
            return _get(sim, group[position])
        position -= len(group)
    raise AssertionError("unreachable")


def new_conversation(sim: Simulator, rng: random.Random) -> Activity:
    """A new inbound conversation in a random workspace and channel."""
    workspace_id = rng.choice(sim.workspace_ids())
    channel_type = rng.choice(CHANNEL_TYPES)
    cid = sim.add_conversation(workspace_id, channel_type=channel_type)
    return Activity("new_conversation", cid)


def _get(sim: Simulator, cid: str) -> Conversation:
    return sim.world.conversations[cid]
