"""The simulator's data and the low-level operations that keep its indexes consistent.

Nothing here takes a lock or reads a clock: callers (the generator, ``Simulator``) pass times in.
"""

from __future__ import annotations

from collections.abc import Iterator

from syncd.sim.index import ConversationIndex, IndexKey
from syncd.sim.model import (
    Account,
    Attachment,
    AttentionItem,
    Contact,
    Conversation,
    Message,
    Workspace,
    advance,
)

PREVIEW_CHARS = 64


def preview_of(body: str) -> str:
    """The list preview of a message body: its first characters, ``...`` when cut."""
    flat = " ".join(body.split())
    if len(flat) <= PREVIEW_CHARS:
        return flat
    return flat[:PREVIEW_CHARS].rstrip() + "..."


def index_keys(conversation: Conversation) -> Iterator[IndexKey]:
    """The index keys a conversation is filed under (one per equality filter)."""
    yield ("workspaceId", conversation.workspace_id)
    yield ("status", conversation.status)
    yield ("contactId", conversation.contact_id)
    if conversation.account_id is not None:
        yield ("accountId", conversation.account_id)
    yield ("humanManaged", conversation.human_user_id is not None)
    yield ("hasAttention", conversation.open_attention > 0)


class World:
    """Every object the simulated tenant holds, plus the list index."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.workspaces: dict[str, Workspace] = {}
        self.channels: dict[str, tuple[str, str]] = {}  # channel id -> (workspace id, type)
        self.accounts: dict[str, Account] = {}
        self.contacts: dict[str, Contact] = {}
        self.contacts_by_address: dict[tuple[str, str], str] = {}  # (workspace, email|phone)
        self.conversations: dict[str, Conversation] = {}
        self.attachments: dict[str, Attachment] = {}
        self.attention: dict[str, AttentionItem] = {}
        self.attention_by_status: dict[str, dict[str, None]] = {}
        self.deleted: set[str] = set()
        self.index = ConversationIndex()

    # -- registration --------------------------------------------------------------------------

    def add_workspace(self, workspace: Workspace) -> None:
        """Register a workspace and its channels."""
        self.workspaces[workspace.id] = workspace
        for channel_type, channel_id in workspace.channels.items():
            self.channels[channel_id] = (workspace.id, channel_type)

    def add_contact(self, contact: Contact) -> None:
        """Register a contact, findable by email and phone within its workspace."""
        self.contacts[contact.id] = contact
        for address in (contact.email, contact.phone):
            if address:
                self.contacts_by_address[(contact.workspace_id, address.casefold())] = contact.id

    def find_contact(self, workspace_id: str, address: str) -> Contact | None:
        """The contact with this email or phone in the workspace, if any."""
        cid = self.contacts_by_address.get((workspace_id, address.casefold()))
        return None if cid is None else self.contacts[cid]

    def add_conversation(self, conversation: Conversation, *, indexed: bool = True) -> None:
        """Register a conversation (``indexed=False`` in bulk generation: see ``reindex_all``)."""
        self.conversations[conversation.id] = conversation
        for attachment in conversation.attachments:
            self.attachments[attachment.id] = attachment
        if indexed:
            self.reindex(conversation)

    def reindex_all(self) -> None:
        """Build the list index from scratch (after bulk generation)."""
        self.index = ConversationIndex()
        self.index.load(
            (c.id, list(index_keys(c)), c.last_message_ms) for c in self.conversations.values()
        )

    def reindex(self, conversation: Conversation) -> None:
        """Re-file one conversation after its status, owner, attention or last message moved."""
        self.index.put(conversation.id, index_keys(conversation), conversation.last_message_ms)

    # -- changes -------------------------------------------------------------------------------

    def append_message(self, conversation: Conversation, message: Message) -> None:
        """Add a message at the end; the list row's lastMessageAt and preview follow it."""
        conversation.messages.append(message)
        conversation.last_message_ms = message.sent_ms
        conversation.preview = preview_of(message.body)
        if conversation.subject is None and message.subject:
            conversation.subject = message.subject

    def remove_message(self, conversation: Conversation, message: Message) -> None:
        """Take a message out; when it was the last, lastMessageAt and the preview follow the
        new last one (no message left: lastMessageAt stays, the preview is empty).

        Its attachments stay. The caller touches the conversation, which re-indexes it.
        """
        messages = conversation.messages
        position = next(i for i, m in enumerate(messages) if m is message)
        del messages[position]
        if position < len(messages):
            return
        if conversation.messages:
            last = conversation.messages[-1]
            conversation.last_message_ms = last.sent_ms
            conversation.preview = preview_of(last.body)
        else:
            conversation.preview = ""

    def touch(self, conversation: Conversation, now_ms: int) -> None:
        """Record a change: updatedAt and lastActivityAt move strictly forward; re-index."""
        latest = max(conversation.updated_ms, conversation.activity_ms)
        moved = advance(latest, now_ms, conversation.precise)
        conversation.updated_ms = moved
        conversation.activity_ms = moved
        conversation.version += 1
        self.reindex(conversation)

    def add_attachment(self, conversation: Conversation, attachment: Attachment) -> None:
        """Attach a file to a conversation."""
        conversation.attachments.append(attachment)
        self.attachments[attachment.id] = attachment

    def add_attention_item(self, item: AttentionItem) -> None:
        """Register an attention item with its conversation."""
        self.attention[item.id] = item
        self.attention_by_status.setdefault(item.status, {})[item.id] = None
        conversation = self.conversations[item.conversation_id]
        conversation.attention_ids.append(item.id)
        if item.status == "open":
            conversation.open_attention += 1
            self._refile(conversation)

    def set_attention_status(self, item: AttentionItem, status: str) -> None:
        """Move an attention item to another status."""
        if item.status == status:
            return
        del self.attention_by_status[item.status][item.id]
        self.attention_by_status.setdefault(status, {})[item.id] = None
        conversation = self.conversations[item.conversation_id]
        if item.status == "open":
            conversation.open_attention -= 1
        if status == "open":
            conversation.open_attention += 1
        item.status = status
        self._refile(conversation)

    def _refile(self, conversation: Conversation) -> None:
        """Keep the ``hasAttention`` filter right (bulk generation indexes everything later)."""
        if conversation.id in self.index:
            self.reindex(conversation)

    def remove_conversation(self, conversation: Conversation) -> None:
        """Delete a conversation and everything nested in it; its id stays known as deleted."""
        self.index.discard(conversation.id)
        del self.conversations[conversation.id]
        self.deleted.add(conversation.id)
        for attachment in conversation.attachments:
            self.attachments.pop(attachment.id, None)
        for item_id in conversation.attention_ids:
            item = self.attention.pop(item_id)
            del self.attention_by_status[item.status][item_id]
