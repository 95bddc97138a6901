"""Writing to the mirror: one ChangeSet in one go, the listing marks, status-count snapshots.

Every writing transaction first takes syncd's write lock (``BEGIN IMMEDIATE`` on SQLite; a
transaction-scoped advisory lock on PostgreSQL). Writers are therefore serialised, which gives
two guarantees: a change is diffed against the state no other writer is changing at the same
time (no duplicate events from two passes seeing the same change), and outbox ``seq`` values
become visible in commit order (a dispatcher reading ``seq > position`` never skips one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, select, text, update

from syncd.events.envelope import ChangeEvent
from syncd.events.outbox import append_events
from syncd.store import tables
from syncd.store.upsert import chunked, replace_children_many, upsert_rows
from syncd.sync.mirror._base import MirrorBase
from syncd.sync.values import ChangeSet, Written

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

_c, _i = tables.conversations, tables.attention_items
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


class Writes(MirrorBase):
    """The mirror's writes."""

    __slots__ = ()

    def write_changes(self, changes: ChangeSet) -> Written:
        """Write a ChangeSet: mirror rows, context entries, flags, deletions, then its events."""
        conn = self.conn
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

    def mark_listed(self, ids: Iterable[str], listed_at: datetime) -> None:
        """Record that these conversations were seen in a complete list walk (mark-and-sweep)."""
        for part in chunked(sorted(set(ids))):
            self.conn.execute(_MARK_LISTED, {"ids": part, "listed_at": listed_at})

    def write_status_counts(
        self,
        workspace_id: str,
        taken_at: datetime,
        counts: Mapping[str, int],
        events: list[ChangeEvent],
    ) -> Written:
        """A status-counts snapshot of a workspace, with its event (if any)."""
        rows = [
            {"workspace_id": workspace_id, "taken_at": taken_at, "status": status, "count": count}
            for status, count in sorted(counts.items())
        ]
        written = upsert_rows(self.conn, tables.status_count_snapshots, rows, guard=None)
        return Written(
            rows={"status_count_snapshots": written},
            events=append_events(self.conn, events),
            event_types=Counter(e.type for e in events),
        )
