"""Erasing personal data from the mirror and the outbox: the SQL behind ``syncd purge``.

Every function works in the caller's transaction and returns what it removed, per table. A
conversation is erased with everything that hangs off it: messages, attachments' metadata,
attention items, context entries, status history, and every stored event whose subject is one
of those objects (with the delivery records of those events). Events already delivered to a
sink cannot be recalled; what is erased here is syncd's own copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Table, delete, func, or_, select

from syncd.store import tables
from syncd.store.upsert import chunked
from syncd.sync.privacy import Privacy, normalise_email

Removed = Counter[str]
"""Rows removed, per table name."""

_CHILDREN: tuple[Table, ...] = (
    tables.messages,
    tables.attachments,
    tables.attention_items,
    tables.context_entries,
    tables.conversation_status_history,
)


def _ids(conn: Connection, table: Table, column: str, values: Sequence[str]) -> list[str]:
    """Ids of ``table`` rows whose ``column`` is one of ``values``."""
    found: list[str] = []
    for part in chunked(values):
        found += conn.scalars(select(table.c.id).where(table.c[column].in_(part)))
    return found


def _delete_in(conn: Connection, table: Table, column: str, values: Sequence[str]) -> int:
    removed = 0
    for part in chunked(values):
        removed += conn.execute(delete(table).where(table.c[column].in_(part))).rowcount or 0
    return removed


def erase_events(
    conn: Connection, subject_ids: Iterable[str], *, naming: Iterable[str] = ()
) -> int:
    """Stored events about these objects (by subject id), or whose payload contains one of
    the ``naming`` strings (a contact id, an address, its hash); their delivery records too."""
    e, d = tables.events, tables.deliveries
    subjects = sorted(set(subject_ids))
    seqs: set[int] = set()
    for part in chunked(subjects):
        seqs.update(conn.scalars(select(e.c.seq).where(e.c.subject_id.in_(part))))
    for text in sorted({t for t in naming if t}):
        pattern = "%" + _escape_like(text.lower()) + "%"
        query = select(e.c.seq).where(func.lower(e.c.payload).like(pattern, escape="\\"))
        seqs.update(conn.scalars(query))
    ordered = sorted(seqs)
    for part in chunked(ordered):
        conn.execute(delete(d).where(d.c.event_seq.in_(part)))
        conn.execute(delete(e).where(e.c.seq.in_(part)))
    return len(ordered)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def erase_conversations(
    conn: Connection, conversation_ids: Iterable[str], *, naming: Iterable[str] = ()
) -> Removed:
    """Erase conversations (stored or not: attention items may precede their conversation)
    and everything about them; ``naming``: see ``erase_events``."""
    ids = sorted(set(conversation_ids))
    removed: Removed = Counter()
    subjects = list(ids)
    for table in (tables.messages, tables.attachments, tables.attention_items):
        subjects += _ids(conn, table, "conversation_id", ids)
    removed["events"] = erase_events(conn, subjects, naming=naming)
    for table in _CHILDREN:
        removed[table.name] = _delete_in(conn, table, "conversation_id", ids)
    removed["conversations"] = _delete_in(conn, tables.conversations, "id", ids)
    return removed


def contact_ids_for_email(conn: Connection, address: str, privacy: Privacy) -> set[str]:
    """Contacts (by id) whose address, clear or hashed, is ``address``."""
    clear, hashed = normalise_email(address), privacy.hash_email(address)
    k, c = tables.contacts, tables.conversations
    found = set(
        conn.scalars(select(k.c.id).where(or_(func.lower(k.c.email) == clear, k.c.email == hashed)))
    )
    query = select(c.c.contact_id).where(
        or_(func.lower(c.c.contact_email) == clear, c.c.contact_email == hashed),
        c.c.contact_id.is_not(None),
    )
    found.update(str(value) for value in conn.scalars(query))
    return found


def conversations_of_contacts(
    conn: Connection, contact_ids: Iterable[str]
) -> dict[str, tuple[str | None, str | None, bool]]:
    """Conversations of these contacts: id → (workspace, status, deleted)."""
    c = tables.conversations
    found: dict[str, tuple[str | None, str | None, bool]] = {}
    for part in chunked(sorted(set(contact_ids))):
        query = select(c.c.id, c.c.workspace_id, c.c.status, c.c.deleted_at).where(
            c.c.contact_id.in_(part)
        )
        for row in conn.execute(query):
            found[row.id] = (row.workspace_id, row.status, row.deleted_at is not None)
    return found


def conversations_by_email(
    conn: Connection, address: str, privacy: Privacy
) -> dict[str, tuple[str | None, str | None, bool]]:
    """Conversations whose list row names the address (clear or hashed), whoever the contact."""
    clear, hashed = normalise_email(address), privacy.hash_email(address)
    c = tables.conversations
    query = select(c.c.id, c.c.workspace_id, c.c.status, c.c.deleted_at).where(
        or_(func.lower(c.c.contact_email) == clear, c.c.contact_email == hashed)
    )
    return {
        row.id: (row.workspace_id, row.status, row.deleted_at is not None)
        for row in conn.execute(query)
    }


def erase_contacts(conn: Connection, contact_ids: Iterable[str]) -> int:
    """The contacts' own rows."""
    return _delete_in(conn, tables.contacts, "id", sorted(set(contact_ids)))


def deleted_before(
    conn: Connection, cutoff: datetime, workspace_id: str | None = None
) -> list[str]:
    """Conversations confirmed deleted before ``cutoff`` (of one workspace, or all)."""
    c = tables.conversations
    query = select(c.c.id).where(c.c.deleted_at.is_not(None), c.c.deleted_at < cutoff)
    if workspace_id is not None:
        query = query.where(c.c.workspace_id == workspace_id)
    return sorted(conn.scalars(query))


def trim_before(
    conn: Connection, table: Table, column: str, cutoff: datetime, workspace_id: str | None = None
) -> int:
    """Rows of one of syncd's growing tables older than ``cutoff`` (retention)."""
    query = delete(table).where(table.c[column] < cutoff)
    if workspace_id is not None:
        query = query.where(table.c.workspace_id == workspace_id)
    return conn.execute(query).rowcount or 0
