"""The simulator's records (internal, snake_case) and the time arithmetic they share.

Times are integer milliseconds since the Unix epoch. An object is either *precise* (its times
render with milliseconds) or not (its times are kept and rendered in whole seconds), which is how
the simulator reproduces the API's inconsistent timestamp formats without ever losing ordering.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

JSONObject = dict[str, Any]

CHANNEL_TYPES = ("email", "chat", "sms", "whatsapp", "voice")
STATUSES = ("open", "in_progress", "awaiting_contact", "resolved", "closed", "abandoned")
TERMINAL_STATUSES = frozenset({"resolved", "closed", "abandoned"})
ATTENTION_TYPES = (
    "validation_failed",
    "approval_gate",
    "escalation",
    "mcp_failure",
    "auth_failure",
    "customer_reply_pending",
    "expiry_warning",
    "human_requested",
)
ATTENTION_STATUSES = ("open", "acknowledged", "resolved", "dismissed")
ATTACHMENT_STATUSES = ("pending", "processing", "ready", "failed")
UNSETTLED_ATTACHMENT_STATUSES = frozenset({"pending", "processing"})

_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime."""
    return (moment - _UNIX) // _MS


def truncate(ms: int, precise: bool) -> int:
    """The timestamp as the object keeps it: whole seconds unless the object is precise."""
    return ms if precise else ms - ms % 1000


def advance(previous: int, now: int, precise: bool) -> int:
    """A time strictly after ``previous`` and not before ``now`` (frozen clocks included)."""
    if precise:
        return max(now, previous + 1)
    return max(truncate(now, False), (previous // 1000 + 1) * 1000)


@functools.lru_cache(maxsize=65_536)
def render_time(ms: int, precise: bool) -> str:
    """ISO-8601 UTC with ``Z``; milliseconds only for precise objects."""
    # gmtime and an f-string: a third faster than datetime.strftime, and list pages render many.
    t = time.gmtime(ms // 1000)
    text = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
    return f"{text}.{ms % 1000:03d}Z" if precise else f"{text}Z"


def parse_time(text: str) -> int:
    """Milliseconds of a timestamp as rendered by ``render_time``; ValueError otherwise."""
    if not text.endswith("Z"):
        raise ValueError("timestamp must end with Z")
    return to_ms(datetime.fromisoformat(text[:-1] + "+00:00"))


@dataclass(slots=True)
class Workspace:
    """A workspace and its channels (one per channel type)."""

    id: str
    support_address: str
    channels: dict[str, str]


@dataclass(slots=True)
class Account:
    """A customer company."""

    id: str
    name: str


@dataclass(slots=True)
class Contact:
    """A customer person; name, email and phone are each optional."""

    id: str
    workspace_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    account_id: str | None

    @property
    def full_name(self) -> str | None:
        """First and last name joined, or None when the contact has neither."""
        parts = [part for part in (self.first_name, self.last_name) if part]
        return " ".join(parts) if parts else None


@dataclass(slots=True)
class Message:
    """One message of a conversation."""

    id: str
    direction: str
    speaker: str | None
    body: str
    sent_ms: int
    channel: str
    from_address: str | None
    subject: str | None
    precise: bool


@dataclass(slots=True)
class Attachment:
    """A file attached to a message."""

    id: str
    conversation_id: str
    message_id: str
    file_name: str
    mime_type: str
    size_bytes: int
    status: str
    created_ms: int
    precise: bool
    #: Never settled by random activity (not rendered; explicit status changes still apply).
    stuck: bool = False


@dataclass(slots=True)
class AttentionItem:
    """A flag raised by the AI pipeline for human review."""

    id: str
    conversation_id: str
    workspace_id: str
    type: str
    status: str
    context: JSONObject
    created_ms: int
    resolved_ms: int | None
    turn_id: str | None
    assigned_to_user_id: str | None
    reason: str | None
    precise: bool
    malformed: bool = False


@dataclass(slots=True)
class Conversation:
    """A conversation with everything nested in it."""

    id: str
    workspace_id: str
    channel_id: str
    channel_type: str
    contact_id: str
    account_id: str | None
    status: str
    subject: str | None
    state_summary: str
    created_ms: int
    updated_ms: int
    activity_ms: int
    last_message_ms: int
    preview: str
    precise: bool
    outcome: str | None = None
    human_user_id: str | None = None
    assigned_user_id: str | None = None
    form_type: str | None = None
    auto_resolved: bool = False
    routing_path: str | None = None
    approvals: int = 0
    messages: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    attention_ids: list[str] = field(default_factory=list)
    open_attention: int = 0
    context_entries: list[JSONObject] = field(default_factory=list)
    #: Bumped on every change; part of the seed for which detail parts are missing.
    version: int = 0
    #: ``None`` or how its list row is broken (``"bad_date"``, ``"missing_id"``).
    malformed: str | None = None
    #: ``None``: missing detail parts are drawn at random; else exactly these parts are missing.
    missing_parts: frozenset[str] | None = None
