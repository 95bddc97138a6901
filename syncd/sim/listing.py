"""The conversation list: query parameters, filters, keyset paging and opaque cursors.

Cursors are base64 JSON like the published samples: ``{"lastId": ...}`` in id order, and
``{"lastMessageAt": ..., "lastId": ...}`` newest first (keyset on ``(lastMessageAt, id)``, so a
row that moves between pages is skipped or repeated exactly as a real keyset API would).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from syncd.sim.config import ListOrder
from syncd.sim.index import IndexKey
from syncd.sim.model import Conversation, parse_time, render_time
from syncd.sim.world import World

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class BadRequest(ValueError):
    """A query or body the API would answer with 400."""


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A parsed ``GET /api/conversations`` query."""

    workspace_id: str | None = None
    status: str | None = None
    contact_id: str | None = None
    account_id: str | None = None
    q: str | None = None
    human_managed: bool | None = None
    has_attention: bool | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def index_keys(self) -> list[IndexKey]:
        """The equality filters as index keys (the list scans the smallest of them)."""
        pairs: list[tuple[str, object]] = [
            ("workspaceId", self.workspace_id),
            ("status", self.status),
            ("contactId", self.contact_id),
            ("accountId", self.account_id),
            ("humanManaged", self.human_managed),
            ("hasAttention", self.has_attention),
        ]
        return [(name, value) for name, value in pairs if value is not None]

    def matches(self, world: World, conversation: Conversation) -> bool:
        """Whether a conversation passes every filter."""
        if self.workspace_id is not None and conversation.workspace_id != self.workspace_id:
            return False
        if self.status is not None and conversation.status != self.status:
            return False
        if self.contact_id is not None and conversation.contact_id != self.contact_id:
            return False
        if self.account_id is not None and conversation.account_id != self.account_id:
            return False
        if self.human_managed is not None and self.human_managed != (
            conversation.human_user_id is not None
        ):
            return False
        if self.has_attention is not None and self.has_attention != (
            conversation.open_attention > 0
        ):
            return False
        return self.q is None or matches_text(world, conversation, self.q)


def matches_text(world: World, conversation: Conversation, text: str) -> bool:
    """The ``q`` filter: case-insensitive substring of contact name, email or subject."""
    needle = text.casefold()
    contact = world.contacts[conversation.contact_id]
    haystacks = (contact.full_name, contact.email, conversation.subject)
    return any(needle in hay.casefold() for hay in haystacks if hay)


def parse_bool(name: str, raw: str | None) -> bool | None:
    """``true``/``false`` (also ``1``/``0``); anything else is a 400."""
    if raw is None:
        return None
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadRequest(f"{name} must be true or false")


def parse_limit(raw: str | None) -> int:
    """The page size: an integer from 1 to 100, default 50."""
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw.strip())
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """Validate the query string of ``GET /api/conversations``."""
    return ListQuery(
        workspace_id=params.get("workspaceId") or None,
        status=params.get("status") or None,
        contact_id=params.get("contactId") or None,
        account_id=params.get("accountId") or None,
        q=params.get("q") or None,
        human_managed=parse_bool("humanManaged", params.get("humanManaged")),
        has_attention=parse_bool("hasAttention", params.get("hasAttention")),
        limit=parse_limit(params.get("limit")),
        cursor=params.get("cursor") or None,
    )


def encode_cursor(conversation: Conversation, order: ListOrder) -> str:
    """The opaque cursor pointing just after ``conversation``."""
    payload: dict[str, str] = {"lastId": conversation.id}
    if order == "newest":
        payload = {
            "lastMessageAt": render_time(conversation.last_message_ms, True),
            "lastId": conversation.id,
        }
    text = json.dumps(payload, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode("ascii")


def decode_cursor(cursor: str, order: ListOrder) -> tuple[int, str]:
    """``(lastMessageAt ms, lastId)`` from a cursor (ms is 0 in id order); 400 when unreadable."""
    try:
        # A client that forgot to URL-encode the cursor turns "+" into " ".
        raw = base64.b64decode(cursor.replace(" ", "+"), validate=True)
        payload = json.loads(raw)
        last_id = payload["lastId"]
        if not isinstance(last_id, str):
            raise TypeError("lastId")
        if order == "id":
            return 0, last_id
        return parse_time(payload["lastMessageAt"]), last_id
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise BadRequest("invalid cursor") from None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of conversations and the cursor to the next (None on the last page)."""

    conversations: list[Conversation]
    next_cursor: str | None


def list_page(world: World, query: ListQuery, order: ListOrder) -> Page:
    """The page ``query`` asks for, in ``order``."""
    group = world.index.smallest(query.index_keys())
    candidates: Iterator[str]
    if query.cursor is None:
        candidates = group.after_id(None) if order == "id" else group.before_recency(None)
    else:
        ms, last_id = decode_cursor(query.cursor, order)
        if order == "id":
            candidates = group.after_id(last_id)
        else:
            candidates = group.before_recency((ms, last_id))
    found: list[Conversation] = []
    more = False
    for cid in candidates:
        conversation = world.conversations[cid]
        if not query.matches(world, conversation):
            continue
        if len(found) == query.limit:
            more = True
            break
        found.append(conversation)
    next_cursor = encode_cursor(found[-1], order) if more else None
    return Page(found, next_cursor)
