"""Privacy in the mirror: the suppression list, erasing, and rewriting what is stored.

Erasing: every method works in the caller's transaction and returns what it removed. A
conversation is erased with everything that hangs off it: messages, attachments' metadata,
attention items, context entries, status history, and every stored event whose subject is one
of those objects (with the delivery records of those events). Events already delivered to a
sink cannot be recalled; what is erased here is syncd's own copy.

The suppression list holds what erased contacts the sync must leave out: entries written by
``syncd purge`` (a contact id, an address's hash, the ids of the conversations it erased) and
by the sync itself when it skips a conversation of a suppressed contact for the first time. A
suppressed conversation keeps its workspace and last listed status here, and only those: the
mirror's status counts include it, so the API's counts still agree with the mirror's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, update

from syncd.store import tables
from syncd.store.upsert import chunked, upsert_rows
from syncd.sync.mirror._base import MirrorBase
from syncd.sync.privacy import CONTACT, CONVERSATION, EMAIL, Privacy, Suppressed, normalise_email

Removed = Counter[str]
"""Rows removed, per table name."""

_s = tables.privacy_suppressions
_CHILDREN: tuple[Table, ...] = (
    tables.messages,
    tables.attachments,
    tables.attention_items,
    tables.context_entries,
    tables.conversation_status_history,
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class PrivacyRecords(MirrorBase):
    """Suppressions, erasure and the privacy rewrite of stored rows and events."""

    __slots__ = ()

    def load_suppressed(self) -> Suppressed:
        """The whole suppression list (small: one entry per erased contact and conversation)."""
        found: dict[str, set[str]] = {CONTACT: set(), EMAIL: set(), CONVERSATION: set()}
        for kind, value in self.conn.execute(select(_s.c.kind, _s.c.value)):
            found.setdefault(kind, set()).add(value)
        return Suppressed(
            contact_ids=frozenset(found[CONTACT]),
            email_hashes=frozenset(found[EMAIL]),
            conversation_ids=frozenset(found[CONVERSATION]),
        )

    def suppress(
        self,
        kind: str,
        values: Iterable[str],
        at: datetime,
        *,
        statuses: Mapping[str, tuple[str | None, str | None]] | None = None,
    ) -> int:
        """Add entries (already present ones are kept); ``statuses``: conversation id →
        (workspace, status) for conversation entries. Returns the number of entries written."""
        rows: list[dict[str, Any]] = []
        for value in sorted(set(values)):
            row: dict[str, Any] = {"kind": kind, "value": value, "created_at": at}
            if statuses is not None and value in statuses:
                row["workspace_id"], row["status"] = statuses[value]
            rows.append(row)
        if not rows:
            return 0
        return upsert_rows(self.conn, _s, rows, guard=None)

    def note_statuses(
        self,
        seen: Mapping[str, tuple[str | None, str | None]],
        listed_at: datetime | None = None,
    ) -> None:
        """Keep the last listed workspace and status of suppressed conversations (for the counts);
        ``listed_at``: the time of the complete list walk that showed them."""
        for conversation_id, (workspace, status) in sorted(seen.items()):
            values: dict[str, Any] = {"workspace_id": workspace, "status": status}
            if listed_at is not None:
                values["listed_at"] = listed_at
            self.conn.execute(
                update(_s)
                .where(_s.c.kind == CONVERSATION, _s.c.value == conversation_id)
                .values(**values)
            )

    def forget_unlisted(self, workspace_id: str | None, started: datetime) -> int:
        """After a complete walk: suppressed conversations it did not show stop being counted
        (deleted in oHallo, most likely; a later listing counts them again)."""
        query = (
            update(_s)
            .where(
                _s.c.kind == CONVERSATION,
                _s.c.status.is_not(None),
                or_(_s.c.listed_at.is_(None), _s.c.listed_at < started),
            )
            .values(status=None)
        )
        if workspace_id is not None:
            query = query.where(_s.c.workspace_id == workspace_id)
        return self.conn.execute(query).rowcount or 0

    def suppressed_counts(self, workspace_id: str) -> dict[str, int]:
        """Suppressed conversations of a workspace per last known status."""
        query = (
            select(_s.c.status, func.count())
            .where(
                _s.c.kind == CONVERSATION,
                _s.c.workspace_id == workspace_id,
                _s.c.status.is_not(None),
            )
            .group_by(_s.c.status)
        )
        return {str(status): int(count) for status, count in self.conn.execute(query)}

    def suppression_size(self) -> dict[str, int]:
        """Entries per kind, for ``syncd status``."""
        query = select(_s.c.kind, func.count()).group_by(_s.c.kind)
        return {str(kind): int(count) for kind, count in self.conn.execute(query)}

    def _ids(self, table: Table, column: str, values: Sequence[str]) -> list[str]:
        """Ids of ``table`` rows whose ``column`` is one of ``values``."""
        found: list[str] = []
        for part in chunked(values):
            found += self.conn.scalars(select(table.c.id).where(table.c[column].in_(part)))
        return found

    def _delete_in(self, table: Table, column: str, values: Sequence[str]) -> int:
        removed = 0
        for part in chunked(values):
            removed += (
                self.conn.execute(delete(table).where(table.c[column].in_(part))).rowcount or 0
            )
        return removed

    def erase_events(self, subject_ids: Iterable[str], *, naming: Iterable[str] = ()) -> int:
        """Stored events about these objects (by subject id), or whose payload contains one of
        the ``naming`` strings (a contact id, an address, its hash); their delivery records too."""
        e, d = tables.events, tables.deliveries
        subjects = sorted(set(subject_ids))
        seqs: set[int] = set()
        for part in chunked(subjects):
            seqs.update(self.conn.scalars(select(e.c.seq).where(e.c.subject_id.in_(part))))
        for text in sorted({t for t in naming if t}):
            pattern = "%" + _escape_like(text.lower()) + "%"
            query = select(e.c.seq).where(func.lower(e.c.payload).like(pattern, escape="\\"))
            seqs.update(self.conn.scalars(query))
        ordered = sorted(seqs)
        for part in chunked(ordered):
            self.conn.execute(delete(d).where(d.c.event_seq.in_(part)))
            self.conn.execute(delete(e).where(e.c.seq.in_(part)))
        return len(ordered)

    def erase_conversations(
        self, conversation_ids: Iterable[str], *, naming: Iterable[str] = ()
    ) -> Removed:
        """Erase conversations (stored or not: attention items may precede their conversation)
        and everything about them; ``naming``: see ``erase_events``."""
        ids = sorted(set(conversation_ids))
        removed: Removed = Counter()
        subjects = list(ids)
        for table in (tables.messages, tables.attachments, tables.attention_items):
            subjects += self._ids(table, "conversation_id", ids)
        removed["events"] = self.erase_events(subjects, naming=naming)
        for table in _CHILDREN:
            removed[table.name] = self._delete_in(table, "conversation_id", ids)
        removed["conversations"] = self._delete_in(tables.conversations, "id", ids)
        return removed

    def contact_ids_for_email(self, address: str, privacy: Privacy) -> set[str]:
        """Contacts (by id) whose address, clear or hashed, is ``address``."""
        clear, hashed = normalise_email(address), privacy.hash_email(address)
        k, c = tables.contacts, tables.conversations
        found = set(
            self.conn.scalars(
                select(k.c.id).where(or_(func.lower(k.c.email) == clear, k.c.email == hashed))
            )
        )
        query = select(c.c.contact_id).where(
            or_(func.lower(c.c.contact_email) == clear, c.c.contact_email == hashed),
            c.c.contact_id.is_not(None),
        )
        found.update(str(value) for value in self.conn.scalars(query))
        return found

    def conversations_of_contacts(
        self, contact_ids: Iterable[str]
    ) -> dict[str, tuple[str | None, str | None, bool]]:
        """Conversations of these contacts: id → (workspace, status, deleted)."""
        c = tables.conversations
        found: dict[str, tuple[str | None, str | None, bool]] = {}
        for part in chunked(sorted(set(contact_ids))):
            query = select(c.c.id, c.c.workspace_id, c.c.status, c.c.deleted_at).where(
                c.c.contact_id.in_(part)
            )
            for row in self.conn.execute(query):
                found[row.id] = (row.workspace_id, row.status, row.deleted_at is not None)
        return found

    def conversations_by_email(
        self, address: str, privacy: Privacy
    ) -> dict[str, tuple[str | None, str | None, bool]]:
        """Conversations whose list row names the address (clear or hashed), whoever the contact."""
        clear, hashed = normalise_email(address), privacy.hash_email(address)
        c = tables.conversations
        query = select(c.c.id, c.c.workspace_id, c.c.status, c.c.deleted_at).where(
            or_(func.lower(c.c.contact_email) == clear, c.c.contact_email == hashed)
        )
        return {
            row.id: (row.workspace_id, row.status, row.deleted_at is not None)
            for row in self.conn.execute(query)
        }

    def erase_contacts(self, contact_ids: Iterable[str]) -> int:
        """The contacts' own rows."""
        return self._delete_in(tables.contacts, "id", sorted(set(contact_ids)))

    def deleted_before(self, cutoff: datetime, workspace_id: str | None = None) -> list[str]:
        """Conversations confirmed deleted before ``cutoff`` (of one workspace, or all)."""
        c = tables.conversations
        query = select(c.c.id).where(c.c.deleted_at.is_not(None), c.c.deleted_at < cutoff)
        if workspace_id is not None:
            query = query.where(c.c.workspace_id == workspace_id)
        return sorted(self.conn.scalars(query))

    def trim_before(
        self, table_name: str, column: str, cutoff: datetime, workspace_id: str | None = None
    ) -> int:
        """Rows of one of syncd's growing tables older than ``cutoff`` (retention)."""
        table = tables.metadata.tables[table_name]
        query = delete(table).where(table.c[column] < cutoff)
        if workspace_id is not None:
            query = query.where(table.c.workspace_id == workspace_id)
        return self.conn.execute(query).rowcount or 0

    def raw_page(self, table_name: str, after: str | None, limit: int) -> list[tuple[str, Any]]:
        """Up to ``limit`` rows of a mirror table after id ``after``: (id, raw), by id."""
        table = tables.metadata.tables[table_name]
        query = select(table.c.id, table.c.raw).order_by(table.c.id).limit(limit)
        if after is not None:
            query = query.where(table.c.id > after)
        return [(row.id, row.raw) for row in self.conn.execute(query)]

    def rewrite_row(self, table_name: str, row_id: str, values: dict[str, Any]) -> None:
        """Overwrite columns of one mirror row."""
        table = tables.metadata.tables[table_name]
        self.conn.execute(update(table).where(table.c.id == row_id).values(**values))

    def event_payloads(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` stored events after ``seq`` ``after``: (seq, payload), by seq."""
        e = tables.events
        query = select(e.c.seq, e.c.payload).where(e.c.seq > after).order_by(e.c.seq).limit(limit)
        return [(row.seq, row.payload) for row in self.conn.execute(query)]

    def rewrite_event_payload(self, seq: int, payload: str) -> None:
        """Overwrite one stored event's payload."""
        e = tables.events
        self.conn.execute(update(e).where(e.c.seq == seq).values(payload=payload))
