"""``SimState``: the state every part of the simulator works on, behind one RLock.

The ``World`` (its indexes kept up by ``World``'s own methods), the lock, the clock, the RNG of
live changes, the records of POST actions and the lookups that turn an unknown id into the API's
404. The parts (``Mutations``, ``Actions``, ``Edits``) receive it in their constructor;
``Simulator`` composes them. Lookups and ``touch`` expect the caller to hold ``lock``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from syncd.clock import Clock
from syncd.sim.config import SimConfig
from syncd.sim.factory import new_prefixed_id
from syncd.sim.generator import generate_world
from syncd.sim.model import (
    Account,
    Attachment,
    AttentionItem,
    Contact,
    Conversation,
    JSONObject,
    Workspace,
    to_ms,
)
from syncd.sim.world import World

T = TypeVar("T")


class UnknownObject(KeyError):
    """An id the simulator does not hold (or no longer holds): the API's 404."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(object_id)
        self.kind = kind
        self.object_id = object_id

    def __str__(self) -> str:
        return f"{self.kind} not found"


class Conflict(ValueError):
    """A request the current state refuses (the API's 409)."""


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One POST action the simulator performed."""

    action: str
    target_id: str
    body: JSONObject = field(default_factory=dict)


class SimState:
    """The simulated tenant's data (generated from ``config.seed``) and what changes share."""

    def __init__(self, config: SimConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.world: World = generate_world(config)
        #: Live changes draw from their own seeded RNG: a replayed sequence is identical.
        self.rng = random.Random(f"{config.seed}:live")
        self.actions: list[ActionRecord] = []
        #: The user behind the API key: who takes a conversation over through the HTTP API.
        self.api_user_id = new_prefixed_id(random.Random(f"{config.seed}:user"), "usr")

    def now_ms(self) -> int:
        """The clock's time in epoch milliseconds."""
        return to_ms(self.clock())

    def touch(self, conversation: Conversation) -> None:
        """Move the conversation's ``updatedAt`` = ``lastActivityAt`` strictly forward."""
        self.world.touch(conversation, self.now_ms())

    def record(self, action: str, target_id: str, body: JSONObject | None = None) -> None:
        """Note a POST action in ``actions``."""
        self.actions.append(ActionRecord(action, target_id, dict(body or {})))

    # -- lookups (UnknownObject for an id not held) --------------------------------------------

    def conversation(self, conversation_id: str) -> Conversation:
        """The live conversation."""
        return _held(self.world.conversations, "conversation", conversation_id)

    def workspace(self, workspace_id: str) -> Workspace:
        """The workspace."""
        return _held(self.world.workspaces, "workspace", workspace_id)

    def attention_item(self, item_id: str) -> AttentionItem:
        """The live attention item."""
        return _held(self.world.attention, "attention item", item_id)

    def attachment(self, attachment_id: str) -> Attachment:
        """The live attachment."""
        return _held(self.world.attachments, "attachment", attachment_id)

    def contact(self, contact_id: str) -> Contact:
        """The contact."""
        return _held(self.world.contacts, "contact", contact_id)

    def account(self, account_id: str) -> Account:
        """The account."""
        return _held(self.world.accounts, "account", account_id)


def _held(objects: Mapping[str, T], kind: str, object_id: str) -> T:
    found = objects.get(object_id)
    if found is None:
        raise UnknownObject(kind, object_id)
    return found


__all__ = ["ActionRecord", "Conflict", "SimState", "UnknownObject"]
