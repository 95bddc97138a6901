"""``Actions``: the API's POST actions as the real service performs them (a part of ``Simulator``,
working on the ``SimState`` it is given and creating through ``Mutations``).

Each one is recorded in ``SimState.actions`` (``Simulator.actions``: an ``ActionRecord`` per call)
so tests can see that an assign, unassign or approve happened even where no API field shows it.
"""

from __future__ import annotations

from syncd.sim.generator import make_contact
from syncd.sim.listing import BadRequest
from syncd.sim.model import Contact
from syncd.sim.mutations import Mutations
from syncd.sim.state import Conflict, SimState


class Actions:
    """reply, resolve, take-over, release, assign, unassign, approve, compose."""

    def __init__(self, state: SimState, mutations: Mutations) -> None:
        self.state = state
        self.mutations = mutations

    def resolve(self, conversation_id: str, outcome: str | None = None) -> None:
        """``POST .../resolve``: status resolved, with the outcome given."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            before = (conversation.status, conversation.outcome, conversation.auto_resolved)
            if before != ("resolved", outcome, False):
                conversation.status = "resolved"
                conversation.outcome = outcome
                conversation.auto_resolved = False
                self.state.touch(conversation)
            self.state.record("resolve", conversation_id, {"outcome": outcome})

    def take_over(self, conversation_id: str, user_id: str | None = None) -> None:
        """``POST .../take-over``: a human owns it (already owned and no ``user_id``: no-op).

        The owner is ``user_id``, else whoever owns it already, else the API key's user.
        """
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            owner = user_id or conversation.human_user_id or self.state.api_user_id
            if conversation.human_user_id != owner:
                conversation.human_user_id = owner
                self.state.touch(conversation)
            self.state.record("take_over", conversation_id)

    def release(self, conversation_id: str) -> None:
        """``POST .../release``: back to the AI."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.human_user_id is not None:
                conversation.human_user_id = None
                self.state.touch(conversation)
            self.state.record("release", conversation_id)

    def reply(self, conversation_id: str, content: str) -> str:
        """``POST .../reply``: a human message over the conversation's channel."""
        if not isinstance(content, str) or not content.strip():
            raise BadRequest("content is required")
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if self.state.config.strict_reply and conversation.human_user_id is None:
                raise Conflict("conversation must be taken over before replying")
            message_id = self.mutations.add_message(
                conversation_id, "outbound", speaker="ai", body=content
            )
            self.state.record("reply", conversation_id, {"content": content})
            return message_id

    def assign(self, conversation_id: str, user_id: str) -> None:
        """``POST .../assign``: to a user's queue (recorded; no field of the API shows it)."""
        if not isinstance(user_id, str) or not user_id:
            raise BadRequest("userId is required")
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.assigned_user_id != user_id:
                conversation.assigned_user_id = user_id
                self.state.touch(conversation)
            self.state.record("assign", conversation_id, {"userId": user_id})

    def unassign(self, conversation_id: str) -> None:
        """``POST .../unassign``: back to the shared queue."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.assigned_user_id is not None:
                conversation.assigned_user_id = None
                self.state.touch(conversation)
            self.state.record("unassign", conversation_id)

    def approve(self, conversation_id: str) -> None:
        """``POST .../approve``: resolves the open ``approval_gate`` items; the AI resumes."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            attention = self.state.world.attention
            gates = [
                attention[item_id]
                for item_id in conversation.attention_ids
                if attention[item_id].type == "approval_gate"
                and attention[item_id].status == "open"
            ]
            for item in gates:
                self.mutations.close_attention_item(item, "resolved", None)
            conversation.approvals += 1
            if gates:  # nothing waited for approval: nothing changes
                self.state.touch(conversation)
            self.state.record("approve", conversation_id)

    def compose(
        self,
        workspace_id: str,
        channel_id: str,
        content: str,
        *,
        contact_email: str | None = None,
        contact_id: str | None = None,
        contact_phone: str | None = None,
        contact_name: str | None = None,
        subject: str | None = None,
    ) -> str:
        """``POST /api/conversations/compose``: a new outbound conversation; returns its id."""
        if not isinstance(content, str) or not content.strip():
            raise BadRequest("content is required")
        with self.state.lock:
            workspace = self.state.workspace(workspace_id)
            owner, channel_type = self.state.world.channels.get(channel_id, (None, ""))
            if owner != workspace_id:
                raise BadRequest("channelId is not a channel of this workspace")
            contact = self._compose_contact(
                workspace_id, contact_id, contact_email, contact_phone, contact_name
            )
            if channel_type == "email" and not contact.email:
                raise BadRequest("an email channel needs contactEmail")
            conversation_id = self.mutations.open_conversation(
                workspace, channel_type, contact, "awaiting_contact", "outbound", content, subject
            )
            self.state.record("compose", conversation_id, {"workspaceId": workspace_id})
            return conversation_id

    def _compose_contact(
        self,
        workspace_id: str,
        contact_id: str | None,
        email: str | None,
        phone: str | None,
        name: str | None,
    ) -> Contact:
        if contact_id:
            contact = self.mutations.given_contact(contact_id)
            if contact.workspace_id != workspace_id:
                raise BadRequest("contactId is not a contact of this workspace")
            return contact
        address = email or phone
        if not address or not isinstance(address, str):
            raise BadRequest("one of contactEmail, contactId or contactPhone is required")
        found = self.state.world.find_contact(workspace_id, address)
        if found is not None:
            return found
        first, _, last = (name or "").strip().partition(" ")
        contact = make_contact(
            self.state.rng,
            workspace_id,
            first_name=first or None,
            last_name=last or None,
            email=email or None,
            phone=None if email else phone,
        )
        self.state.world.add_contact(contact)
        return contact


__all__ = ["Actions"]
