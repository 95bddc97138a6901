"""Records → the API's JSON shapes: camelCase, optional fields only when they carry a signal."""

from __future__ import annotations

from collections.abc import Collection

from syncd.sim.factory import json_copy
from syncd.sim.model import (
    STATUSES,
    Attachment,
    AttentionItem,
    Conversation,
    JSONObject,
    Message,
    render_time,
)
from syncd.sim.world import World

MALFORMED_KINDS = ("bad_date", "missing_id")


def list_row(world: World, conversation: Conversation) -> JSONObject:
    """The conversation as ``GET /api/conversations`` lists it."""
    row: JSONObject = {
        "id": conversation.id,
        "workspaceId": conversation.workspace_id,
        "channelId": conversation.channel_id,
        "contactId": conversation.contact_id,
        "status": conversation.status,
        "lastMessagePreview": conversation.preview,
        "lastMessageAt": render_time(conversation.last_message_ms, conversation.precise),
    }
    contact = world.contacts[conversation.contact_id]
    if contact.full_name:
        row["contactName"] = contact.full_name
    if contact.email:
        row["contactEmail"] = contact.email
    if conversation.account_id is not None:
        row["accountName"] = world.accounts[conversation.account_id].name
    if conversation.human_user_id is not None:
        row["humanManaged"] = True
    if conversation.form_type is not None:
        row["formType"] = conversation.form_type
    if conversation.auto_resolved:
        row["autoResolved"] = True
    if conversation.routing_path is not None:
        row["lastTurnRoutingPath"] = conversation.routing_path
    return row


def malformed_row(world: World, conversation: Conversation, kind: str) -> JSONObject:
    """A list row broken the way ``kind`` says: ``bad_date`` or ``missing_id``."""
    row = list_row(world, conversation)
    if kind == "missing_id":
        del row["id"]
    else:
        row["lastMessageAt"] = "not-a-date"
    return row


def detail(world: World, conversation: Conversation, missing: Collection[str]) -> JSONObject:
    """The conversation as ``GET /api/conversations/{id}`` returns it, minus ``missing`` parts."""
    precise = conversation.precise
    body: JSONObject = {
        "id": conversation.id,
        "tenantId": world.tenant_id,
        "workspaceId": conversation.workspace_id,
        "channelId": conversation.channel_id,
        "channelType": conversation.channel_type,
        "contactId": conversation.contact_id,
        "accountId": conversation.account_id,
        "status": conversation.status,
        "stateSummary": conversation.state_summary,
        "outcome": conversation.outcome,
        "humanManagingUserId": conversation.human_user_id,
        "lastActivityAt": render_time(conversation.activity_ms, precise),
        "createdAt": render_time(conversation.created_ms, precise),
        "updatedAt": render_time(conversation.updated_ms, precise),
    }
    if "contact" not in missing:
        contact = world.contacts[conversation.contact_id]
        body["contact"] = {
            "id": contact.id,
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "email": contact.email,
        }
    if "account" not in missing and conversation.account_id is not None:
        account = world.accounts[conversation.account_id]
        body["account"] = {"id": account.id, "name": account.name}
    if "history" not in missing:
        body["history"] = [message(m) for m in conversation.messages]
    if "contextEntries" not in missing:
        body["contextEntries"] = json_copy(conversation.context_entries)
    if "attentionItems" not in missing:
        body["attentionItems"] = [
            attention_item(world, world.attention[item_id])
            for item_id in conversation.attention_ids
        ]
    return body


def message(record: Message) -> JSONObject:
    """One message of ``/messages`` or ``history``."""
    body: JSONObject = {
        "id": record.id,
        "direction": record.direction,
        "speaker": record.speaker,
        "body": record.body,
        "sentAt": render_time(record.sent_ms, record.precise),
        "channel": record.channel,
    }
    if record.from_address is not None:
        body["fromAddress"] = record.from_address
    if record.subject is not None:
        body["subject"] = record.subject
    return body


def attachment(record: Attachment) -> JSONObject:
    """One attachment of ``/attachments``."""
    return {
        "id": record.id,
        "messageId": record.message_id,
        "fileName": record.file_name,
        "mimeType": record.mime_type,
        "sizeBytes": record.size_bytes,
        "status": record.status,
        "createdAt": render_time(record.created_ms, record.precise),
    }


def attention_item(world: World, record: AttentionItem) -> JSONObject:
    """One attention item; ``reason`` only when it has one."""
    body: JSONObject = {
        "id": record.id,
        "tenantId": world.tenant_id,
        "conversationId": record.conversation_id,
        "type": record.type,
        "status": record.status,
        "context": json_copy(record.context),
        "createdAt": render_time(record.created_ms, record.precise),
        "resolvedAt": None
        if record.resolved_ms is None
        else render_time(record.resolved_ms, record.precise),
        "turnId": record.turn_id,
        "assignedToUserId": record.assigned_to_user_id,
    }
    if record.reason is not None:
        body["reason"] = record.reason
    return body


def malformed_attention_item(world: World, record: AttentionItem) -> JSONObject:
    """An attention item without its id and with a context that is not an object."""
    body = attention_item(world, record)
    del body["id"]
    body["context"] = "not-an-object"
    return body


def status_counts(world: World, workspace_id: str) -> dict[str, int]:
    """Counts per status for a workspace: the six documented ones always, others when present."""
    counts = dict.fromkeys(STATUSES, 0)
    for conversation in world.conversations.values():
        if conversation.workspace_id == workspace_id:
            counts[conversation.status] = counts.get(conversation.status, 0) + 1
    return counts
