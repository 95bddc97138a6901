"""The sync engine's value types: what the mirror holds, what a look found, what to write. Pure.

Shared by the pure planning (``observe``, ``plan``, ``diff``) and the I/O side (the passes and
``syncd.sync.mirror``); nothing here reads or writes anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncd.events.envelope import ChangeEvent
from syncd.sync import diff
from syncd.sync.privacy import Privacy

# Attachment statuses after which an attachment no longer changes by itself.
SETTLED_ATTACHMENT_STATUSES = frozenset({"ready", "failed", "rejected", "deleted", "error"})


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A message, attachment or attention item as the mirror holds it."""

    raw: dict[str, Any]
    synced_at: datetime
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class RowMeta:
    """The little a list walk needs to decide whether a listed row must be read again."""

    fingerprint: str | None
    detail_error: str | None
    attachments_pending: bool
    deleted: bool
    status: str | None
    attachments_check_at: datetime | None = None

    def attachments_due(self, now: datetime) -> bool:
        """Unsettled attachments whose backoff has run out (``attachments_due``)."""
        return attachments_due(self.attachments_pending, self.attachments_check_at, now)


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """What the mirror holds about one conversation."""

    data: dict[str, Any]
    fingerprint: str | None
    deleted: bool
    synced_at: datetime
    messages: Mapping[str, StoredObject] = field(default_factory=dict)
    attachments: Mapping[str, StoredObject] = field(default_factory=dict)
    attention_items: Mapping[str, StoredObject] = field(default_factory=dict)
    attachments_check_at: datetime | None = None
    attachments_backoff_s: float | None = None
    refreshed_at: datetime | None = None

    @property
    def message_ids(self) -> frozenset[str]:
        """Every stored message id (deleted ones too: they are known, not new)."""
        return frozenset(self.messages)

    @property
    def attachments_pending(self) -> bool:
        """Whether one of its stored attachments is still settling."""
        return attachments_pending(stored.raw for stored in self.attachments.values())

    @property
    def announced(self) -> bool:
        """Whether a complete observation (with its detail) was ever written and told."""
        return self.fingerprint is not None and not self.deleted


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationObservation:
    """What one look at a conversation found. Every object is API-shaped, already validated.

    ``history_complete``: ``messages`` is the detail's whole ``history`` (no row of it failed
    validation), so a stored message missing from it was deleted.
    """

    conversation_id: str
    observed_at: datetime
    list_row: dict[str, Any] | None = None
    fingerprint: str | None = None
    detail: dict[str, Any] | None = None
    detail_error: str | None = None
    messages: list[dict[str, Any]] | None = None
    history_complete: bool = False
    attachments: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """How a write classifies what it finds.

    ``backfill`` and ``backfill_before``: see ``diff.Observed``. ``recheck_min_s`` and
    ``recheck_max_s`` bound the backoff of unsettled attachments' re-reads. Events are only
    ever made for real differences, whatever ``rewrite`` says. ``privacy``: applied to every
    observed object before it is compared with the mirror (see ``syncd.sync.privacy``).
    """

    backfill: bool = False
    backfill_before: datetime | None = None
    recheck_min_s: float = 30.0
    recheck_max_s: float = 900.0
    rewrite: bool = False
    """Write every observed row, changed or not (``syncd sync --deep``: a repair)."""
    privacy: Privacy = field(default_factory=Privacy)

    def facts(self, workspace_id: str | None, observed_at: datetime) -> diff.Observed:
        """The diff's facts for one observation."""
        return diff.Observed(
            workspace_id=workspace_id,
            observed_at=observed_at,
            backfill=self.backfill,
            backfill_before=self.backfill_before,
        )


@dataclass(frozen=True, slots=True)
class AttachmentState:
    """A conversation's attachments bookkeeping: unsettled ones, and when to look again."""

    pending: bool
    check_at: datetime | None
    backoff_s: float | None


@dataclass(slots=True)
class ChangeSet:
    """Rows per table, status-history rows and events, ready for one transaction."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    replace_context: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    detail_errors: dict[str, str] = field(default_factory=dict)
    deletions: dict[str, datetime] = field(default_factory=dict)
    attachment_states: dict[str, AttachmentState] = field(default_factory=dict)
    events: list[ChangeEvent] = field(default_factory=list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def merge(self, other: ChangeSet) -> None:
        for table, rows in other.rows.items():
            self.rows.setdefault(table, []).extend(rows)
        self.replace_context.update(other.replace_context)
        self.detail_errors.update(other.detail_errors)
        self.deletions.update(other.deletions)
        self.attachment_states.update(other.attachment_states)
        self.events.extend(other.events)


def attachments_pending(attachments: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any attachment is still settling (not in a final status)."""
    return any(str(item.get("status")) not in SETTLED_ATTACHMENT_STATUSES for item in attachments)


def attachments_due(pending: bool, check_at: datetime | None, now: datetime) -> bool:
    """The one "attachments due" rule: unsettled attachments whose backoff has run out
    (never looked at again yet, or their next look is at ``now`` or before)."""
    return pending and (check_at is None or check_at <= now)


@dataclass(slots=True)
class Written:
    """What one ChangeSet wrote: rows per table and events."""

    rows: dict[str, int]
    events: int
    event_types: Counter[str] = field(default_factory=Counter)

    def add(self, other: Written) -> None:
        """Fold another write's counts into this one."""
        for table, count in other.rows.items():
            self.rows[table] = self.rows.get(table, 0) + count
        self.events += other.events
        self.event_types.update(other.event_types)


@dataclass(frozen=True, slots=True)
class StreamState:
    """One row of ``sync_state``."""

    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    watermark: datetime | None = None
    cursor: str | None = None
    pass_started_at: datetime | None = None
    skipped_rows: int = 0
    state: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """The freshness facts of one ``sync_state`` row."""

    workspace: str
    stream: str
    last_success_at: datetime | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class RefreshAge:
    """How fresh the recent conversations are: how many, and the oldest refresh."""

    recent: int
    oldest: datetime | None
    never: int
