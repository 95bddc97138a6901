"""``syncd purge --rewrite``: the current ``[privacy]`` applied to what is already stored.

A changed setting applies to new observations; this step applies it to the mirror rows
(their columns and ``raw``) and to the stored events' payloads (``data`` and ``changes``), in
the caller's transaction. Transforms are idempotent, so running it twice changes nothing more.
Turning a setting back *on* cannot restore what was omitted: the next observation of each
object brings it back (a ``syncd sync --deep`` re-reads everything).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from syncd.sync.mirror import Mirror
from syncd.sync.privacy import Privacy

Transform = Callable[[Mapping[str, Any]], dict[str, Any]]
_PAGE = 1000


def _tables(privacy: Privacy) -> tuple[tuple[str, Transform, tuple[str, ...]], ...]:
    """Per table: the object transform and the columns it may change (column ← raw field)."""
    return (
        ("conversations", privacy.conversation, ("last_message_preview", "contact_email")),
        ("contacts", privacy.contact, ("email",)),
        ("messages", privacy.message, ("body", "from_address")),
        ("attention_items", privacy.attention_item, ("context",)),
    )


_FIELDS = {
    "last_message_preview": "lastMessagePreview",
    "contact_email": "contactEmail",
    "email": "email",
    "body": "body",
    "from_address": "fromAddress",
    "context": "context",
}


def rewrite_stored(conn: Connection, privacy: Privacy, now: datetime) -> Counter[str]:
    """Apply ``privacy`` to every stored row and event; rows changed, per table.

    A rewritten row's ``synced_at`` moves to ``now`` (an incremental copy of the mirror then
    picks up the reduced values).
    """
    changed: Counter[str] = Counter()
    if not privacy.active:
        return changed
    mirror = Mirror(conn)
    for table, transform, columns in _tables(privacy):
        last: str | None = None
        while True:
            rows = mirror.raw_page(table, last, _PAGE)
            if not rows:
                break
            last = rows[-1][0]
            for row_id, stored in rows:
                raw = dict(stored)
                new = transform(raw)
                if new == raw:
                    continue
                values: dict[str, Any] = {name: new.get(_FIELDS[name]) for name in columns}
                values["raw"] = new
                values["synced_at"] = now
                mirror.rewrite_row(table, row_id, values)
                changed[table] += 1
    changed["events"] = _rewrite_events(mirror, privacy)
    return changed


def _rewrite_events(mirror: Mirror, privacy: Privacy) -> int:
    changed = 0
    last = 0
    while True:
        rows = mirror.event_payloads(last, _PAGE)
        if not rows:
            return changed
        last = rows[-1][0]
        for seq, payload in rows:
            envelope = json.loads(payload)
            new = private_envelope(envelope, privacy)
            if new == envelope:
                continue
            text = json.dumps(new, ensure_ascii=False, separators=(",", ":"), default=str)
            mirror.rewrite_event_payload(seq, text)
            changed += 1


def private_envelope(envelope: Mapping[str, Any], privacy: Privacy) -> dict[str, Any]:
    """An event envelope with ``privacy`` applied to its ``data`` and ``changes``."""
    kind = str(envelope.get("type", "")).partition(".")[0]
    transform: Transform | None = {
        "conversation": privacy.conversation,
        "message": privacy.message,
        "attention_item": privacy.attention_item,
    }.get(kind)
    out = dict(envelope)
    if transform is None:
        return out
    data = out.get("data")
    if isinstance(data, Mapping):
        out["data"] = transform(data)
    changes = out.get("changes")
    if isinstance(changes, Mapping):
        private: dict[str, Any] = {}
        for name, pair in changes.items():
            if not isinstance(pair, list) or len(pair) != 2:
                private[name] = pair
                continue
            before, after = (transform({name: value}).get(name) for value in pair)
            if before != after:
                private[name] = [before, after]
        out["changes"] = private
    return out
