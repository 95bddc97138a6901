"""The sync engine's database side: read what the mirror holds, write a ChangeSet in one go.

Every writing transaction first takes syncd's write lock (``BEGIN IMMEDIATE`` on SQLite; a
transaction-scoped advisory lock on PostgreSQL). Writers are therefore serialised, which gives
two guarantees: a change is diffed against the state no other writer is changing at the same
time (no duplicate events from two passes seeing the same change), and outbox ``seq`` values
become visible in commit order (a dispatcher reading ``seq > position`` never skips one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, text, update

from syncd.events.outbox import append_events
from syncd.store import tables
from syncd.store.upsert import chunked, replace_children_many, upsert_rows
from syncd.sync.observe import ChangeSet, RowMeta, StoredConversation, StoredObject

WRITE_LOCK_KEY = 0x73796E6364  # "syncd"

# Tables in write order, with the upsert guard of each.
_UPSERT_ORDER: tuple[tuple[str, str | None], ...] = (
    ("contacts", "synced_at"),
    ("accounts", "synced_at"),
    ("conversations", "synced_at"),
    ("messages", "synced_at"),
    ("attachments", "synced_at"),
    ("attention_items", "synced_at"),
    ("conversation_status_history", None),
    ("status_count_snapshots", None),
)


# The reads and the listing update, built once (an ``IN`` over the ``ids`` list given at execution).
_c, _m, _a, _i = tables.conversations, tables.messages, tables.attachments, tables.attention_items
_META = select(
    _c.c.id,
    _c.c.fingerprint,
    _c.c.detail_error,
    _c.c.attachments_pending,
    _c.c.deleted_at,
    _c.c.status,
    _c.c.attachments_check_at,
).where(_c.c.id.in_(bindparam("ids", expanding=True)))
_STORED = select(
    _c.c.id,
    _c.c.raw,
    _c.c.fingerprint,
    _c.c.deleted_at,
    _c.c.synced_at,
    _c.c.attachments_check_at,
    _c.c.attachments_backoff_s,
    _c.c.refreshed_at,
).where(_c.c.id.in_(bindparam("ids", expanding=True)))
_STORED_MESSAGES = select(
    _m.c.id, _m.c.conversation_id, _m.c.raw, _m.c.synced_at, _m.c.deleted_at
).where(_m.c.conversation_id.in_(bindparam("ids", expanding=True)))
_STORED_ATTACHMENTS = select(_a.c.id, _a.c.conversation_id, _a.c.raw, _a.c.synced_at).where(
    _a.c.conversation_id.in_(bindparam("ids", expanding=True))
)
_STORED_ITEMS = select(_i.c.id, _i.c.conversation_id, _i.c.raw, _i.c.synced_at).where(
    _i.c.conversation_id.in_(bindparam("ids", expanding=True))
)
_ITEMS = select(_i.c.id, _i.c.raw, _i.c.synced_at).where(
    _i.c.id.in_(bindparam("ids", expanding=True))
)
_ITEM_WORKSPACES = (
    update(_i)
    .where(_i.c.workspace_id.is_(None))
    .where(_i.c.conversation_id.in_(bindparam("ids", expanding=True)))
    .values(
        workspace_id=select(_c.c.workspace_id)
        .where(_c.c.id == _i.c.conversation_id)
        .scalar_subquery()
    )
)
_LISTED_AT = bindparam("listed_at", type_=_c.c.last_listed_at.type)
# Rows that hold the value already (written in this very transaction, mostly) are not rewritten.
_MARK_LISTED = (
    update(_c)
    .where(_c.c.id.in_(bindparam("ids", expanding=True)))
    .where(_c.c.last_listed_at.is_distinct_from(_LISTED_AT))
    .values(last_listed_at=_LISTED_AT)
)


def take_write_lock(conn: Connection) -> None:
    """Serialise writers (SQLite's BEGIN IMMEDIATE already does; PostgreSQL needs a lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})


def load_meta(conn: Connection, ids: Iterable[str]) -> dict[str, RowMeta]:
    """Fingerprint and retry flags for the given conversation ids."""
    found: dict[str, RowMeta] = {}
    for part in chunked(sorted(set(ids))):
        for row in conn.execute(_META, {"ids": part}):
            found[row.id] = RowMeta(
                fingerprint=row.fingerprint,
                detail_error=row.detail_error,
                attachments_pending=bool(row.attachments_pending),
                deleted=row.deleted_at is not None,
                status=row.status,
                attachments_check_at=row.attachments_check_at,
            )
    return found


def load_stored(conn: Connection, ids: Iterable[str]) -> dict[str, StoredConversation]:
    """Everything the diff needs about the given conversations (those the mirror has)."""
    wanted = sorted(set(ids))
    base: dict[str, Any] = {}
    messages: dict[str, dict[str, StoredObject]] = {}
    attachments: dict[str, dict[str, StoredObject]] = {}
    items: dict[str, dict[str, StoredObject]] = {}
    for part in chunked(wanted):
        for found in conn.execute(_STORED, {"ids": part}):
            base[found.id] = found
        for msg in conn.execute(_STORED_MESSAGES, {"ids": part}):
            messages.setdefault(msg.conversation_id, {})[msg.id] = StoredObject(
                msg.raw, msg.synced_at, msg.deleted_at is not None
            )
        for att in conn.execute(_STORED_ATTACHMENTS, {"ids": part}):
            attachments.setdefault(att.conversation_id, {})[att.id] = StoredObject(
                att.raw, att.synced_at
            )
        for itm in conn.execute(_STORED_ITEMS, {"ids": part}):
            items.setdefault(itm.conversation_id, {})[itm.id] = StoredObject(itm.raw, itm.synced_at)
    return {
        cid: StoredConversation(
            data=dict(row.raw),
            fingerprint=row.fingerprint,
            deleted=row.deleted_at is not None,
            synced_at=row.synced_at,
            messages=messages.get(cid, {}),
            attachments=attachments.get(cid, {}),
            attention_items=items.get(cid, {}),
            attachments_check_at=row.attachments_check_at,
            attachments_backoff_s=row.attachments_backoff_s,
            refreshed_at=row.refreshed_at,
        )
        for cid, row in base.items()
    }


def load_attention_items(conn: Connection, ids: Iterable[str]) -> dict[str, StoredObject]:
    """Stored attention items by id (the payload as last received, and when)."""
    found: dict[str, StoredObject] = {}
    for part in chunked(sorted(set(ids))):
        for row in conn.execute(_ITEMS, {"ids": part}):
            found[row.id] = StoredObject(row.raw, row.synced_at)
    return found


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


def apply_changes(conn: Connection, changes: ChangeSet) -> Written:
    """Write a ChangeSet: mirror rows, context entries, flags, deletions, then its events."""
    counts: dict[str, int] = {}
    for name, guard in _UPSERT_ORDER:
        rows = changes.rows.get(name)
        if rows:
            counts[name] = upsert_rows(conn, tables.metadata.tables[name], rows, guard=guard)
    if changes.replace_context:
        counts["context_entries"] = replace_children_many(
            conn, tables.context_entries, "conversation_id", changes.replace_context
        )
    c = tables.conversations
    written = [row["id"] for row in changes.rows.get("conversations", ())]
    for part in chunked(sorted(set(written))):
        # Attention items the attention pass stored before their conversation was known
        # have no workspace yet: they take their conversation's.
        conn.execute(_ITEM_WORKSPACES, {"ids": part})
    for conversation_id, error in changes.detail_errors.items():
        conn.execute(update(c).where(c.c.id == conversation_id).values(detail_error=error))
    for conversation_id, state in changes.attachment_states.items():
        conn.execute(
            update(c)
            .where(c.c.id == conversation_id)
            .values(
                attachments_pending=state.pending,
                attachments_check_at=state.check_at,
                attachments_backoff_s=state.backoff_s,
            )
        )
    for conversation_id, when in changes.deletions.items():
        conn.execute(
            update(c)
            .where(and_(c.c.id == conversation_id, c.c.deleted_at.is_(None)))
            .values(deleted_at=when, synced_at=when)
        )
        counts["conversations"] = counts.get("conversations", 0) + 1
    return Written(
        rows=counts,
        events=append_events(conn, changes.events),
        event_types=Counter(event.type for event in changes.events),
    )


def mark_listed(conn: Connection, ids: Iterable[str], listed_at: datetime) -> None:
    """Record that these conversations were seen in a complete list walk (mark-and-sweep)."""
    for part in chunked(sorted(set(ids))):
        conn.execute(_MARK_LISTED, {"ids": part, "listed_at": listed_at})
