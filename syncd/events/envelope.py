"""The change-event envelope (docs/events.md), built by pure code and serialised once."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from syncd.store.engine import is_plain_json, plain_json_text

EVENT_TYPES = (
    "conversation.created",
    "conversation.resolved",
    "conversation.status_changed",
    "conversation.updated",
    "conversation.deleted",
    "message.received",
    "message.sent",
    "message.updated",
    "message.deleted",
    "attachment.created",
    "attachment.updated",
    "attention_item.created",
    "attention_item.resolved",
    "attention_item.updated",
    "status_counts.changed",
)


# UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the version (7), 12 bits "rand_a", the
# variant (0b10) and 62 bits "rand_b". The 74 rand bits are random for the first id of a
# millisecond and counted up from there for the next ids of that millisecond (the RFC's
# "monotonic random" method), so the ids made in one process only ever increase. The text is
# kept in two parts: up to rand_a (changes once a millisecond, or when rand_b overflows), and
# the variant with rand_b (counted).
_MS_MASK: Final = (1 << 48) - 1
_RAND_A_MAX: Final = (1 << 12) - 1
_RAND_B_MASK: Final = (1 << 62) - 1
_VARIANT: Final = 0b10 << 62
_LOW_END: Final = _VARIANT + (1 << 62)  # rand_b overflows into the variant
_id_lock = threading.Lock()
_last_ms = 0
_rand_a = 0
_low = 0  # the variant and rand_b, as the id's last 64 bits
_head = ""  # "evt_", the milliseconds, the version and rand_a in hex


def _reset_after_fork() -> None:
    """A forked child draws its own random bits: it must not count on from its parent's."""
    global _id_lock, _last_ms
    _id_lock = threading.Lock()
    _last_ms = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def _start_millisecond(ms: int) -> None:
    """The first id of millisecond ``ms``: fresh random bits (call holding ``_id_lock``)."""
    global _last_ms, _rand_a, _low
    random = int.from_bytes(os.urandom(10)) >> 6  # 74 bits
    _last_ms = ms
    _rand_a = random >> 62
    _low = _VARIANT | random & _RAND_B_MASK
    _set_head()


def _set_head() -> None:
    global _head
    _head = f"evt_{_last_ms & _MS_MASK:012x}7{_rand_a:03x}"


def new_event_id() -> str:
    """A unique id that sorts by creation time: ``evt_`` + a UUIDv7 (monotonic in-process)."""
    global _low, _rand_a
    now_ms = time.time_ns() // 1_000_000
    with _id_lock:
        if now_ms > _last_ms:
            _start_millisecond(now_ms)
        else:  # the same millisecond (or the clock went back): count on
            _low += 1
            if _low == _LOW_END:  # rand_b overflows into rand_a
                if _rand_a == _RAND_A_MAX:  # the millisecond's ids are used up: the next one
                    _start_millisecond(_last_ms + 1)
                else:
                    _rand_a += 1
                    _low = _VARIANT
                    _set_head()
        head, low = _head, _low
    return f"{head}{low:016x}"


_last_timestamp: tuple[datetime | None, str] = (None, "")


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, the API's own style."""
    global _last_timestamp
    last, text = _last_timestamp
    if moment is last:  # the events of one observation share its moment
        return text
    utc = moment.astimezone(UTC)
    if utc.year >= 1000:  # isoformat pads a year to 4 digits; strftime's %Y may not
        text = utc.isoformat(timespec="milliseconds")[:-6] + "Z"
    else:
        text = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if moment.tzinfo is not None and type(moment) is datetime:
        _last_timestamp = (moment, text)
    return text


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
        envelope = self.envelope()
        text = None
        if (  # the same text, faster, for plain JSON values (compact_json, checked by part)
            type(self.id) is str
            and type(self.type) is str
            and (self.workspace_id is None or type(self.workspace_id) is str)
            and type(self.backfill) is bool
            and is_plain_json(self.data)
            and (self.changes is None or is_plain_json(self.changes))
        ):
            text = plain_json_text(envelope)
        if text is None:
            text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str)
        return text


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
