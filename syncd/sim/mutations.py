"""``Mutations``: the simulator's changes, each as the real service would make it (a part of
``Simulator``, working on the ``SimState`` it is given).

Every change to a conversation itself (a message, its status, owner, assignee, outcome) moves its
``updatedAt`` and ``lastActivityAt`` strictly forward, even under a frozen clock. Attachments and
attention items are objects of their own with their own timestamps: adding or changing one leaves
the conversation's ``updatedAt`` alone (the list's ``hasAttention`` filter follows, of course). A
call that changes nothing (the status it already has, a second take-over) is a no-op and leaves
``updatedAt`` alone, as an idempotent API would.
"""

from __future__ import annotations

from collections.abc import Iterable

from syncd.sim import corpus
from syncd.sim.config import DETAIL_PARTS
from syncd.sim.factory import (
    conversation_number,
    is_precise,
    is_stuck,
    make_attachment,
    make_attention_item,
    make_message,
    new_uuid,
    stable_fraction,
    state_summary,
)
from syncd.sim.generator import make_contact
from syncd.sim.listing import BadRequest
from syncd.sim.model import (
    UNSETTLED_ATTACHMENT_STATUSES,
    AttentionItem,
    Contact,
    Conversation,
    JSONObject,
    Workspace,
    advance,
    truncate,
)
from syncd.sim.render import MALFORMED_KINDS
from syncd.sim.state import SimState, UnknownObject


class Mutations:
    """The simulated tenant's own changes, on ``state``; every method takes the lock itself."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    # -- conversations and messages ------------------------------------------------------------

    def add_conversation(
        self,
        workspace_id: str | None = None,
        *,
        channel_type: str = "email",
        status: str = "open",
        contact_id: str | None = None,
        direction: str = "inbound",
        body: str | None = None,
        subject: str | None = None,
    ) -> str:
        """Create a conversation with one first message (a new contact unless ``contact_id``)."""
        with self.state.lock:
            workspace_id = workspace_id or next(iter(self.state.world.workspaces))
            workspace = self.state.workspace(workspace_id)
            if channel_type not in workspace.channels:
                raise BadRequest(f"unknown channel type {channel_type!r}")
            if contact_id is None:
                contact = self.new_contact(workspace_id, channel_type)
            else:
                contact = self.given_contact(contact_id)
            return self.open_conversation(
                workspace, channel_type, contact, status, direction, body, subject
            )

    def add_message(
        self,
        conversation_id: str,
        direction: str = "inbound",
        speaker: str | None = None,
        body: str | None = None,
    ) -> str:
        """Append a message (voice: always inbound, ``speaker`` caller/ai); returns its id."""
        if direction not in ("inbound", "outbound"):
            raise ValueError("direction must be inbound or outbound")
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            contact = self.state.world.contacts[conversation.contact_id]
            message = make_message(
                self.state.rng,
                conversation,
                contact,
                direction=direction,
                speaker=speaker,
                body=body,
                now_ms=self.state.now_ms(),
            )
            self.state.world.append_message(conversation, message)
            number = conversation_number(conversation.id)
            conversation.state_summary = state_summary(number, len(conversation.messages))
            self.state.touch(conversation)
            return message.id

    def set_status(self, conversation_id: str, status: str, with_message: bool = False) -> None:
        """Change the status (any text), optionally with an AI message saying so."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if with_message:
                self.add_message(conversation_id, "outbound", speaker="ai")
            if conversation.status == status:
                return
            if conversation.status == "resolved":
                conversation.outcome = None
                conversation.auto_resolved = False
            conversation.status = status
            self.state.touch(conversation)

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete it: gone from lists, 404 on reads, its attention items gone too."""
        with self.state.lock:
            self.state.world.remove_conversation(self.state.conversation(conversation_id))

    # -- attachments and attention items -------------------------------------------------------

    def add_attachment(
        self, conversation_id: str, *, message_id: str | None = None, status: str = "pending"
    ) -> str:
        """Attach a file to a message (default: the last one, else any older one); its id."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if not conversation.messages:
                raise BadRequest("conversation has no message to attach to")
            message = conversation.messages[-1]
            if message_id is not None:
                matches = [m for m in conversation.messages if m.id == message_id]
                if not matches:
                    raise UnknownObject("message", message_id)
                message = matches[0]
            attachment = make_attachment(
                self.state.rng, conversation, message, status, self.state.now_ms()
            )
            if status in UNSETTLED_ATTACHMENT_STATUSES:
                rate = self.state.config.stuck_attachment_rate
                attachment.stuck = is_stuck(self.state.config.seed, attachment.id, rate)
            self.state.world.add_attachment(
                conversation, attachment
            )  # the conversation is not touched
            return attachment.id

    def set_attachment_status(self, attachment_id: str, status: str) -> None:
        """Move an attachment to any status (``pending``/``processing``/``ready``/``failed`` or
        any text), also one that had settled or is stuck."""
        with self.state.lock:
            attachment = self.state.attachment(attachment_id)
            # An attachment's processing is its own object's life: the conversation's
            # updatedAt stays (syncd reads attachments through their own endpoint).
            attachment.status = status

    def raise_attention_item(
        self,
        conversation_id: str,
        item_type: str = "mcp_failure",
        *,
        status: str = "open",
        reason: str | None = None,
        context: JSONObject | None = None,
    ) -> str:
        """Raise an attention item (context fitting the type unless given); returns its id."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            item = make_attention_item(
                self.state.rng,
                conversation,
                item_type,
                status=status,
                now_ms=self.state.now_ms(),
                reason=reason,
                context=context,
            )
            # Attention items carry their own timestamps; the conversation row is not touched.
            self.state.world.add_attention_item(item)
            return item.id

    def resolve_attention_item(self, item_id: str, reason: str | None = None) -> None:
        """``POST /api/attention-items/{id}/resolve``: status resolved, ``resolvedAt`` now."""
        with self.state.lock:
            item = self.state.attention_item(item_id)
            self.close_attention_item(item, "resolved", reason)
            self.state.record("resolve_attention_item", item_id, {"reason": reason})

    def set_attention_item_status(self, item_id: str, status: str) -> None:
        """Move an attention item to any status (``resolvedAt`` set when it closes)."""
        with self.state.lock:
            item = self.state.attention_item(item_id)
            if item.status == status:
                return
            if status in ("resolved", "dismissed"):
                self.close_attention_item(item, status, None)
            else:
                self.state.world.set_attention_status(item, status)
                item.resolved_ms = None

    def close_attention_item(self, item: AttentionItem, status: str, reason: str | None) -> bool:
        """Close an item (``resolvedAt`` now; lock held); False when it already had that status."""
        if item.status == status:
            return False
        self.state.world.set_attention_status(item, status)
        item.resolved_ms = advance(item.created_ms, self.state.now_ms(), item.precise)
        if reason is not None:
            item.reason = reason
        return True

    # -- test controls -------------------------------------------------------------------------

    def set_malformed(
        self, conversation_id: str, malformed: bool = True, kind: str | None = None
    ) -> None:
        """Break (or mend) the list row (``bad_date``/``missing_id``) and the detail's JSON."""
        if kind is not None and kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}")
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if not malformed:
                conversation.malformed = None
            else:
                conversation.malformed = (
                    kind or MALFORMED_KINDS[int(stable_fraction(conversation_id) * 2)]
                )

    def set_attention_item_malformed(self, item_id: str, malformed: bool = True) -> None:
        """Break (or mend) an attention item's row: no id, a context that is not an object."""
        with self.state.lock:
            self.state.attention_item(item_id).malformed = malformed

    def set_detail_missing(self, conversation_id: str, parts: Iterable[str] | None) -> None:
        """Leave exactly ``parts`` out of the detail (None: back to the random rate)."""
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if parts is None:
                conversation.missing_parts = None
                return
            chosen = frozenset(parts)
            unknown = chosen - set(DETAIL_PARTS)
            if unknown:
                raise ValueError(f"unknown detail parts {sorted(unknown)}; use {DETAIL_PARTS}")
            conversation.missing_parts = chosen

    # -- shared with ``Actions`` (lock held) -----------------------------------------------------

    def given_contact(self, contact_id: str) -> Contact:
        """The contact a request names (lock held); ``BadRequest`` when unknown."""
        contact = self.state.world.contacts.get(contact_id)
        if contact is None:
            raise BadRequest("unknown contactId")
        return contact

    def new_contact(self, workspace_id: str, channel_type: str) -> Contact:
        """A new random contact reachable over ``channel_type`` (lock held)."""
        rng = self.state.rng
        contact = make_contact(
            rng,
            workspace_id,
            first_name=rng.choice(corpus.FIRST_NAMES),
            last_name=rng.choice(corpus.LAST_NAMES) if rng.random() < 0.8 else None,
            email=f"new{rng.randint(1, 10**6)}@{rng.choice(corpus.DOMAINS)}"
            if channel_type in ("email", "chat")
            else None,
            phone=f"+45 {rng.randint(10**7, 10**8 - 1)}" if channel_type != "email" else None,
        )
        self.state.world.add_contact(contact)
        return contact

    def open_conversation(
        self,
        workspace: Workspace,
        channel_type: str,
        contact: Contact,
        status: str,
        direction: str,
        body: str | None,
        subject: str | None,
    ) -> str:
        """A new conversation with its first message (lock held); returns its id."""
        rng = self.state.rng
        precise = is_precise(rng)
        now = truncate(self.state.now_ms(), precise)
        conversation = Conversation(
            id=new_uuid(rng),
            workspace_id=workspace.id,
            channel_id=workspace.channels[channel_type],
            channel_type=channel_type,
            contact_id=contact.id,
            account_id=contact.account_id,
            status=status,
            subject=subject,
            state_summary="",
            created_ms=now,
            updated_ms=now,
            activity_ms=now,
            last_message_ms=now,
            preview="",
            precise=precise,
        )
        message = make_message(
            rng,
            conversation,
            contact,
            direction=direction,
            speaker="ai" if direction == "outbound" else "caller",
            body=body,
            now_ms=now,
            subject_line=subject,
        )
        self.state.world.append_message(conversation, message)
        conversation.state_summary = state_summary(conversation_number(conversation.id), 1)
        conversation.updated_ms = conversation.activity_ms = max(
            now, truncate(message.sent_ms, precise)
        )
        self.state.world.add_conversation(conversation)
        return conversation.id


__all__ = ["Mutations"]
