"""The change-event envelope (DESIGN.md §7), built by pure code and serialised once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from uuid6 import uuid7

EVENT_TYPES = (
    "conversation.created",
    "conversation.resolved",
    "conversation.status_changed",
    "conversation.updated",
    "conversation.deleted",
    "message.received",
    "message.sent",
    "attachment.created",
    "attachment.updated",
    "attention_item.created",
    "attention_item.resolved",
    "attention_item.updated",
    "status_counts.changed",
)


def new_event_id() -> str:
    """A unique id that sorts by creation time: ``evt_`` + a UUIDv7 (monotonic in-process)."""
    return f"evt_{uuid7().hex}"


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, the API's own style."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeEvent:
    """One observed change of one object.

    ``changes`` is None for an object never seen before and for deletions; otherwise a mapping
    of camelCase field name to ``[old, new]``.
    """

    type: str
    workspace_id: str | None
    subject_id: str
    data: dict[str, Any]
    observed_at: datetime
    changes: dict[str, list[Any]] | None = None
    backfill: bool = False
    id: str = field(default_factory=new_event_id)

    def envelope(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict, keys in contract order."""
        envelope: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "timestamp": format_timestamp(self.observed_at),
            "workspaceId": self.workspace_id,
            "data": self.data,
        }
        if self.changes is not None:
            envelope["changes"] = self.changes
        envelope["backfill"] = self.backfill
        return envelope

    def to_json(self) -> str:
        """The envelope serialised once; every sink receives exactly these bytes."""
        return json.dumps(self.envelope(), ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event as stored in the ``events`` outbox and handed to sinks."""

    seq: int
    id: str
    type: str
    workspace_id: str | None
    subject_id: str | None
    created_at: datetime
    backfill: bool
    payload: str
