"""The simulator's changes, each as the real service would make it (``Simulator`` mixes this in).

Every change to a conversation (its messages, attachments and attention items included) moves its
``updatedAt`` and ``lastActivityAt`` strictly forward, even under a frozen clock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncd.sim import corpus
from syncd.sim.config import DETAIL_PARTS, SimConfig
from syncd.sim.factory import (
    conversation_number,
    is_precise,
    make_attachment,
    make_attention_item,
    make_message,
    new_user_id,
    new_uuid,
    stable_fraction,
    state_summary,
)
from syncd.sim.generator import make_contact
from syncd.sim.listing import BadRequest
from syncd.sim.model import (
    Attachment,
    AttentionItem,
    Contact,
    Conversation,
    JSONObject,
    Workspace,
    advance,
    truncate,
)
from syncd.sim.render import MALFORMED_KINDS
from syncd.sim.world import World


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


class MutationsMixin:
    """Changes to the simulated state; see ``Simulator``."""

    config: SimConfig
    lock: threading.RLock
    world: World
    actions: list[ActionRecord]
    _rng: random.Random

    def now_ms(self) -> int:  # provided by Simulator
        raise NotImplementedError

    # -- lookups -------------------------------------------------------------------------------

    def _conversation(self, conversation_id: str) -> Conversation:
        conversation = self.world.conversations.get(conversation_id)
        if conversation is None:
            raise UnknownObject("conversation", conversation_id)
        return conversation

    def _workspace(self, workspace_id: str) -> Workspace:
        workspace = self.world.workspaces.get(workspace_id)
        if workspace is None:
            raise UnknownObject("workspace", workspace_id)
        return workspace

    def _attention_item(self, item_id: str) -> AttentionItem:
        item = self.world.attention.get(item_id)
        if item is None:
            raise UnknownObject("attention item", item_id)
        return item

    def _attachment(self, attachment_id: str) -> Attachment:
        attachment = self.world.attachments.get(attachment_id)
        if attachment is None:
            raise UnknownObject("attachment", attachment_id)
        return attachment

    def _touch(self, conversation: Conversation) -> None:
        self.world.touch(conversation, self.now_ms())

    def _record(self, action: str, target_id: str, body: JSONObject | None = None) -> None:
        self.actions.append(ActionRecord(action, target_id, dict(body or {})))

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
        with self.lock:
            workspace_id = workspace_id or next(iter(self.world.workspaces))
            workspace = self._workspace(workspace_id)
            if channel_type not in workspace.channels:
                raise BadRequest(f"unknown channel type {channel_type!r}")
            if contact_id is None:
                contact = self._new_contact(workspace_id, channel_type)
            else:
                contact = self._contact(contact_id)
            return self._open_conversation(
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
        with self.lock:
            conversation = self._conversation(conversation_id)
            contact = self.world.contacts[conversation.contact_id]
            message = make_message(
                self._rng,
                conversation,
                contact,
                direction=direction,
                speaker=speaker,
                body=body,
                now_ms=self.now_ms(),
            )
            self.world.append_message(conversation, message)
            number = conversation_number(conversation.id)
            conversation.state_summary = state_summary(number, len(conversation.messages))
            self._touch(conversation)
            return message.id

    def set_status(self, conversation_id: str, status: str, with_message: bool = False) -> None:
        """Change the status (any text), optionally with an AI message saying so."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            if with_message:
                self.add_message(conversation_id, "outbound", speaker="ai")
            if conversation.status == "resolved" and status != "resolved":
                conversation.outcome = None
                conversation.auto_resolved = False
            conversation.status = status
            self._touch(conversation)

    def resolve(self, conversation_id: str, outcome: str | None = None) -> None:
        """``POST .../resolve``: status resolved, with the outcome given."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            conversation.status = "resolved"
            conversation.outcome = outcome
            conversation.auto_resolved = False
            self._touch(conversation)
            self._record("resolve", conversation_id, {"outcome": outcome})

    def take_over(self, conversation_id: str, user_id: str | None = None) -> None:
        """``POST .../take-over``: a human owns it (``humanManaged`` shows on the list row)."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            conversation.human_user_id = user_id or new_user_id(self._rng)
            self._touch(conversation)
            self._record("take_over", conversation_id)

    def release(self, conversation_id: str) -> None:
        """``POST .../release``: back to the AI."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            conversation.human_user_id = None
            self._touch(conversation)
            self._record("release", conversation_id)

    def reply(self, conversation_id: str, content: str) -> str:
        """``POST .../reply``: a human message over the conversation's channel."""
        if not isinstance(content, str) or not content.strip():
            raise BadRequest("content is required")
        with self.lock:
            conversation = self._conversation(conversation_id)
            if self.config.strict_reply and conversation.human_user_id is None:
                raise Conflict("conversation must be taken over before replying")
            message_id = self.add_message(conversation_id, "outbound", speaker="ai", body=content)
            self._record("reply", conversation_id, {"content": content})
            return message_id

    def assign(self, conversation_id: str, user_id: str) -> None:
        """``POST .../assign``: to a user's queue (recorded; no field of the API shows it)."""
        if not isinstance(user_id, str) or not user_id:
            raise BadRequest("userId is required")
        with self.lock:
            conversation = self._conversation(conversation_id)
            conversation.assigned_user_id = user_id
            self._touch(conversation)
            self._record("assign", conversation_id, {"userId": user_id})

    def unassign(self, conversation_id: str) -> None:
        """``POST .../unassign``: back to the shared queue."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            conversation.assigned_user_id = None
            self._touch(conversation)
            self._record("unassign", conversation_id)

    def approve(self, conversation_id: str) -> None:
        """``POST .../approve``: resolves the open ``approval_gate`` items; the AI resumes."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            for item_id in list(conversation.attention_ids):
                item = self.world.attention[item_id]
                if item.type == "approval_gate" and item.status == "open":
                    self._close_attention_item(item, "resolved", None)
            conversation.approvals += 1
            self._touch(conversation)
            self._record("approve", conversation_id)

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
        with self.lock:
            workspace = self._workspace(workspace_id)
            owner, channel_type = self.world.channels.get(channel_id, (None, ""))
            if owner != workspace_id:
                raise BadRequest("channelId is not a channel of this workspace")
            contact = self._compose_contact(
                workspace_id, contact_id, contact_email, contact_phone, contact_name
            )
            if channel_type == "email" and not contact.email:
                raise BadRequest("an email channel needs contactEmail")
            conversation_id = self._open_conversation(
                workspace, channel_type, contact, "awaiting_contact", "outbound", content, subject
            )
            self._record("compose", conversation_id, {"workspaceId": workspace_id})
            return conversation_id

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete it: gone from lists, 404 on reads, its attention items gone too."""
        with self.lock:
            self.world.remove_conversation(self._conversation(conversation_id))

    # -- attachments and attention items -------------------------------------------------------

    def add_attachment(
        self, conversation_id: str, *, message_id: str | None = None, status: str = "pending"
    ) -> str:
        """Attach a file to a message (default: the last one); returns the attachment id."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            if not conversation.messages:
                raise BadRequest("conversation has no message to attach to")
            message = conversation.messages[-1]
            if message_id is not None:
                matches = [m for m in conversation.messages if m.id == message_id]
                if not matches:
                    raise UnknownObject("message", message_id)
                message = matches[0]
            attachment = make_attachment(self._rng, conversation, message, status, self.now_ms())
            self.world.add_attachment(conversation, attachment)
            self._touch(conversation)
            return attachment.id

    def set_attachment_status(self, attachment_id: str, status: str) -> None:
        """Move an attachment to ``pending``/``processing``/``ready``/``failed`` (or any text)."""
        with self.lock:
            attachment = self._attachment(attachment_id)
            attachment.status = status
            self._touch(self._conversation(attachment.conversation_id))

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
        with self.lock:
            conversation = self._conversation(conversation_id)
            item = make_attention_item(
                self._rng,
                conversation,
                item_type,
                status=status,
                now_ms=self.now_ms(),
                reason=reason,
                context=context,
            )
            self.world.add_attention_item(item)
            self._touch(conversation)
            return item.id

    def resolve_attention_item(self, item_id: str, reason: str | None = None) -> None:
        """``POST /api/attention-items/{id}/resolve``: status resolved, ``resolvedAt`` now."""
        with self.lock:
            item = self._attention_item(item_id)
            self._close_attention_item(item, "resolved", reason)
            self._touch(self._conversation(item.conversation_id))
            self._record("resolve_attention_item", item_id, {"reason": reason})

    def set_attention_item_status(self, item_id: str, status: str) -> None:
        """Move an attention item to any status (``resolvedAt`` set when it closes)."""
        with self.lock:
            item = self._attention_item(item_id)
            if status in ("resolved", "dismissed"):
                self._close_attention_item(item, status, None)
            else:
                self.world.set_attention_status(item, status)
                item.resolved_ms = None
            self._touch(self._conversation(item.conversation_id))

    def _close_attention_item(self, item: AttentionItem, status: str, reason: str | None) -> None:
        if item.status == status:
            return
        self.world.set_attention_status(item, status)
        item.resolved_ms = advance(item.created_ms, self.now_ms(), item.precise)
        if reason is not None:
            item.reason = reason

    # -- test controls -------------------------------------------------------------------------

    def set_malformed(
        self, conversation_id: str, malformed: bool = True, kind: str | None = None
    ) -> None:
        """Break (or mend) the list row (``bad_date``/``missing_id``) and the detail's JSON."""
        if kind is not None and kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}")
        with self.lock:
            conversation = self._conversation(conversation_id)
            if not malformed:
                conversation.malformed = None
            else:
                conversation.malformed = (
                    kind or MALFORMED_KINDS[int(stable_fraction(conversation_id) * 2)]
                )

    def set_attention_item_malformed(self, item_id: str, malformed: bool = True) -> None:
        """Break (or mend) an attention item's row: no id, a context that is not an object."""
        with self.lock:
            self._attention_item(item_id).malformed = malformed

    def set_detail_missing(self, conversation_id: str, parts: Iterable[str] | None) -> None:
        """Leave exactly ``parts`` out of the detail (None: back to the random rate)."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            if parts is None:
                conversation.missing_parts = None
                return
            chosen = frozenset(parts)
            unknown = chosen - set(DETAIL_PARTS)
            if unknown:
                raise ValueError(f"unknown detail parts {sorted(unknown)}; use {DETAIL_PARTS}")
            conversation.missing_parts = chosen

    # -- helpers -------------------------------------------------------------------------------

    def _contact(self, contact_id: str) -> Contact:
        contact = self.world.contacts.get(contact_id)
        if contact is None:
            raise BadRequest("unknown contactId")
        return contact

    def _new_contact(self, workspace_id: str, channel_type: str) -> Contact:
        rng = self._rng
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
        self.world.add_contact(contact)
        return contact

    def _compose_contact(
        self,
        workspace_id: str,
        contact_id: str | None,
        email: str | None,
        phone: str | None,
        name: str | None,
    ) -> Contact:
        if contact_id:
            contact = self._contact(contact_id)
            if contact.workspace_id != workspace_id:
                raise BadRequest("contactId is not a contact of this workspace")
            return contact
        address = email or phone
        if not address or not isinstance(address, str):
            raise BadRequest("one of contactEmail, contactId or contactPhone is required")
        found = self.world.find_contact(workspace_id, address)
        if found is not None:
            return found
        first, _, last = (name or "").strip().partition(" ")
        contact = make_contact(
            self._rng,
            workspace_id,
            first_name=first or None,
            last_name=last or None,
            email=email or None,
            phone=None if email else phone,
        )
        self.world.add_contact(contact)
        return contact

    def _open_conversation(
        self,
        workspace: Workspace,
        channel_type: str,
        contact: Contact,
        status: str,
        direction: str,
        body: str | None,
        subject: str | None,
    ) -> str:
        rng = self._rng
        precise = is_precise(rng)
        now = truncate(self.now_ms(), precise)
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
        self.world.append_message(conversation, message)
        conversation.state_summary = state_summary(conversation_number(conversation.id), 1)
        conversation.updated_ms = conversation.activity_ms = max(
            now, truncate(message.sent_ms, precise)
        )
        self.world.add_conversation(conversation)
        return conversation.id


__all__ = ["ActionRecord", "Conflict", "MutationsMixin", "UnknownObject"]
