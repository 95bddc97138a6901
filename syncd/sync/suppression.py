"""The suppression list's database side: what erased contacts the sync must leave out.

Entries are written by ``syncd purge`` (a contact id, an address's hash, the ids of the
conversations it erased) and by the sync itself when it skips a conversation of a suppressed
contact for the first time (its id, so the attention pass leaves its items out too). A
suppressed conversation keeps its workspace and last listed status here, and only those: the
mirror's status counts include it, so the API's counts still agree with the mirror's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from syncd.store import tables
from syncd.store.upsert import upsert_rows
from syncd.sync.privacy import CONTACT, CONVERSATION, EMAIL, Suppressed

_s = tables.privacy_suppressions


def load_suppressed(conn: Connection) -> Suppressed:
    """The whole suppression list (small: one entry per erased contact and conversation)."""
    found: dict[str, set[str]] = {CONTACT: set(), EMAIL: set(), CONVERSATION: set()}
    for kind, value in conn.execute(select(_s.c.kind, _s.c.value)):
        found.setdefault(kind, set()).add(value)
    return Suppressed(
        contact_ids=frozenset(found[CONTACT]),
        email_hashes=frozenset(found[EMAIL]),
        conversation_ids=frozenset(found[CONVERSATION]),
    )


def suppress(
    conn: Connection,
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
    return upsert_rows(conn, _s, rows, guard=None)


def note_statuses(
    conn: Connection,
    seen: Mapping[str, tuple[str | None, str | None]],
    listed_at: datetime | None = None,
) -> None:
    """Keep the last listed workspace and status of suppressed conversations (for the counts);
    ``listed_at``: the time of the complete list walk that showed them."""
    for conversation_id, (workspace, status) in sorted(seen.items()):
        values: dict[str, Any] = {"workspace_id": workspace, "status": status}
        if listed_at is not None:
            values["listed_at"] = listed_at
        conn.execute(
            update(_s)
            .where(_s.c.kind == CONVERSATION, _s.c.value == conversation_id)
            .values(**values)
        )


def forget_unlisted(conn: Connection, workspace_id: str | None, started: datetime) -> int:
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
    return conn.execute(query).rowcount or 0


def suppressed_counts(conn: Connection, workspace_id: str) -> dict[str, int]:
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
    return {str(status): int(count) for status, count in conn.execute(query)}


def suppression_size(conn: Connection) -> dict[str, int]:
    """Entries per kind, for ``syncd status``."""
    query = select(_s.c.kind, func.count()).group_by(_s.c.kind)
    return {str(kind): int(count) for kind, count in conn.execute(query)}
