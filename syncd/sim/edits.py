"""``Edits``: changes inside a conversation that its list row may not show (a part of
``Simulator``, working on the ``SimState`` it is given).

Message edits and deletions, outcome, state summary, context entries, contact and account
fields, attachment renames and stuck attachments. Each change to the conversation itself touches
it (``updatedAt`` = ``lastActivityAt`` move strictly forward); a contact's or an account's change
does not (they are objects of their own), yet the list rows that show them follow at once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from syncd.sim.factory import json_copy
from syncd.sim.listing import BadRequest
from syncd.sim.model import (
    UNSETTLED_ATTACHMENT_STATUSES,
    Contact,
    Conversation,
    JSONObject,
    Message,
)
from syncd.sim.state import SimState, UnknownObject
from syncd.sim.world import preview_of


class Unchanged(enum.Enum):
    """The type of ``UNCHANGED``: a keyword argument left as it was."""

    UNCHANGED = "unchanged"


#: Default of ``update_contact``'s fields: keep the current value (None clears a field).
UNCHANGED = Unchanged.UNCHANGED


class Edits:
    """edit/delete messages, outcome, summary, context entries, contacts, accounts, stuck files."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    # -- messages ------------------------------------------------------------------------------

    def edit_message(
        self, message_id: str, body: str, *, conversation_id: str | None = None
    ) -> None:
        """Change a message's body; the conversation is touched; the preview follows when it
        was the last message (``lastMessageAt`` stays: the message was not sent again).

        ``conversation_id`` only narrows the search (without it every conversation is scanned).
        """
        if not isinstance(body, str):
            raise BadRequest("body must be a string")
        with self.state.lock:
            conversation, message = self._message(message_id, conversation_id)
            if message.body == body:
                return
            message.body = body
            if conversation.messages[-1] is message:
                conversation.preview = preview_of(body)
            self.state.touch(conversation)

    def delete_message(self, message_id: str, *, conversation_id: str | None = None) -> None:
        """Remove a message from ``history`` and ``/messages``; the conversation is touched.

        When it was the last message, ``lastMessageAt`` and the preview are those of the new
        last one (the newest-first index follows; no message left: ``lastMessageAt`` stays and
        the preview is empty). Its attachments stay listed. ``conversation_id``: as for edits.
        """
        with self.state.lock:
            conversation, message = self._message(message_id, conversation_id)
            self.state.world.remove_message(conversation, message)
            self.state.touch(conversation)

    def message_conversation_id(self, message_id: str) -> str:
        """The conversation a live message belongs to."""
        with self.state.lock:
            return self._message(message_id)[0].id

    # -- detail-only fields --------------------------------------------------------------------

    def set_outcome(self, conversation_id: str, outcome: str | None) -> None:
        """Set (None: clear) the outcome, whatever the status; detail only."""
        if outcome is not None and not isinstance(outcome, str):
            raise BadRequest("outcome must be a string")
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.outcome != outcome:
                conversation.outcome = outcome
                self.state.touch(conversation)

    def set_state_summary(self, conversation_id: str, text: str) -> None:
        """Replace the AI's running summary; detail only (the next message rewrites it)."""
        if not isinstance(text, str):
            raise BadRequest("stateSummary must be a string")
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.state_summary != text:
                conversation.state_summary = text
                self.state.touch(conversation)

    def set_context_entries(self, conversation_id: str, entries: Iterable[JSONObject]) -> None:
        """Replace the context entries (JSON objects, copied); detail only."""
        copied = [_entry(entry) for entry in entries]
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.context_entries != copied:
                conversation.context_entries = copied
                self.state.touch(conversation)

    def add_context_entry(self, conversation_id: str, entry: JSONObject) -> None:
        """Append one context entry (a JSON object, copied); detail only."""
        copied = _entry(entry)
        with self.state.lock:
            conversation = self.state.conversation(conversation_id)
            conversation.context_entries.append(copied)
            self.state.touch(conversation)

    # -- contacts and accounts -----------------------------------------------------------------

    def update_contact(
        self,
        contact_id: str,
        *,
        first_name: str | Unchanged | None = UNCHANGED,
        last_name: str | Unchanged | None = UNCHANGED,
        email: str | Unchanged | None = UNCHANGED,
    ) -> None:
        """Change a contact's fields (``UNCHANGED`` keeps one, None clears it).

        The detail's ``contact`` and every list row of its conversations (``contactName``,
        ``contactEmail``, the ``q`` filter) follow; the conversations are not touched.
        """
        with self.state.lock:
            contact = self.state.contact(contact_id)
            if not isinstance(first_name, Unchanged):
                contact.first_name = _text("firstName", first_name)
            if not isinstance(last_name, Unchanged):
                contact.last_name = _text("lastName", last_name)
            if not isinstance(email, Unchanged):
                new = _text("email", email)
                if new != contact.email:
                    self._forget_address(contact, contact.email)
                    contact.email = new
                    self.state.world.add_contact(contact)

    def rename_account(self, account_id: str, name: str) -> None:
        """Rename an account: the detail's ``account`` and the rows' ``accountName`` follow;
        its conversations are not touched."""
        if not isinstance(name, str) or not name:
            raise BadRequest("name is required")
        with self.state.lock:
            self.state.account(account_id).name = name

    # -- attachments ---------------------------------------------------------------------------

    def rename_attachment(self, attachment_id: str, file_name: str) -> None:
        """Change an attachment's ``fileName`` (the conversation is not touched)."""
        if not isinstance(file_name, str) or not file_name:
            raise BadRequest("fileName is required")
        with self.state.lock:
            self.state.attachment(attachment_id).file_name = file_name

    def set_attachment_stuck(self, attachment_id: str, stuck: bool = True) -> None:
        """Mark an attachment as one random activity never settles (or clear the mark)."""
        with self.state.lock:
            self.state.attachment(attachment_id).stuck = stuck

    def stuck_attachment_ids(self) -> list[str]:
        """Live attachments that are pending/processing and never settle by random activity."""
        with self.state.lock:
            return [
                attachment.id
                for attachment in self.state.world.attachments.values()
                if attachment.stuck and attachment.status in UNSETTLED_ATTACHMENT_STATUSES
            ]

    # -- helpers -------------------------------------------------------------------------------

    def _message(
        self, message_id: str, conversation_id: str | None = None
    ) -> tuple[Conversation, Message]:
        """The live message and its conversation (a scan: messages have no index)."""
        if conversation_id is not None:
            conversations = [self.state.conversation(conversation_id)]
        else:
            conversations = list(self.state.world.conversations.values())
        for conversation in conversations:
            for message in conversation.messages:
                if message.id == message_id:
                    return conversation, message
        raise UnknownObject("message", message_id)

    def _forget_address(self, contact: Contact, address: str | None) -> None:
        if address:
            key = (contact.workspace_id, address.casefold())
            if self.state.world.contacts_by_address.get(key) == contact.id:
                del self.state.world.contacts_by_address[key]


def _entry(entry: JSONObject) -> JSONObject:
    if not isinstance(entry, dict):
        raise BadRequest("a context entry must be a JSON object")
    copied: JSONObject = json_copy(entry)
    return copied


def _text(name: str, value: str | None) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string or None")
    return value or None


__all__ = ["UNCHANGED", "Edits", "Unchanged"]
