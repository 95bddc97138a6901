"""Reading the mirror for the passes: what is stored for these ids, and what is due."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select

from syncd.store import tables
from syncd.store.upsert import chunked
from syncd.sync.mirror._base import MirrorBase
from syncd.sync.values import RefreshAge, RowMeta, StoredConversation, StoredObject

# The reads by id, built once (an ``IN`` over the ``ids`` list given at execution).
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


def recent(
    workspace_id: str | None, terminal: frozenset[str], now: datetime, recent_days: float
) -> ColumnElement[bool]:
    """The conversations the refresh stream keeps fresh (live, announced, recent)."""
    c = tables.conversations
    since = now - timedelta(days=recent_days)
    last_activity = func.coalesce(c.c.last_activity_at, c.c.last_message_at, c.c.updated_at)
    condition = and_(
        c.c.deleted_at.is_(None),
        c.c.fingerprint.is_not(None),
        or_(c.c.status.is_(None), c.c.status.not_in(sorted(terminal)), last_activity >= since),
    )
    if workspace_id is not None:
        condition = and_(condition, c.c.workspace_id == workspace_id)
    return condition


class Reads(MirrorBase):
    """What the mirror holds, asked by intent."""

    __slots__ = ()

    def load_meta(self, ids: Iterable[str]) -> dict[str, RowMeta]:
        """Fingerprint and retry flags for the given conversation ids."""
        found: dict[str, RowMeta] = {}
        for part in chunked(sorted(set(ids))):
            for row in self.conn.execute(_META, {"ids": part}):
                found[row.id] = RowMeta(
                    fingerprint=row.fingerprint,
                    detail_error=row.detail_error,
                    attachments_pending=bool(row.attachments_pending),
                    deleted=row.deleted_at is not None,
                    status=row.status,
                    attachments_check_at=row.attachments_check_at,
                )
        return found

    def load_stored(self, ids: Iterable[str]) -> dict[str, StoredConversation]:
        """Everything the diff needs about the given conversations (those the mirror has)."""
        conn = self.conn
        base: dict[str, Any] = {}
        messages: dict[str, dict[str, StoredObject]] = {}
        attachments: dict[str, dict[str, StoredObject]] = {}
        items: dict[str, dict[str, StoredObject]] = {}
        for part in chunked(sorted(set(ids))):
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
                items.setdefault(itm.conversation_id, {})[itm.id] = StoredObject(
                    itm.raw, itm.synced_at
                )
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

    def load_attention_items(self, ids: Iterable[str]) -> dict[str, StoredObject]:
        """Stored attention items by id (the payload as last received, and when)."""
        found: dict[str, StoredObject] = {}
        for part in chunked(sorted(set(ids))):
            for row in self.conn.execute(_ITEMS, {"ids": part}):
                found[row.id] = StoredObject(row.raw, row.synced_at)
        return found

    def known_statuses(self, workspace_id: str | None) -> list[str | None]:
        """Statuses of live conversations and of the status-count snapshots."""
        c, s = tables.conversations, tables.status_count_snapshots
        query = select(c.c.status).distinct().where(c.c.deleted_at.is_(None))
        snapshots = select(s.c.status).distinct()
        if workspace_id is not None:
            query = query.where(c.c.workspace_id == workspace_id)
            snapshots = snapshots.where(s.c.workspace_id == workspace_id)
        return [*self.conn.scalars(query), *self.conn.scalars(snapshots)]

    def unsettled_attachments(self, workspace_id: str | None) -> list[tuple[str, datetime | None]]:
        """Live conversations with unsettled attachments: (id, next look) each."""
        c = tables.conversations
        query = select(c.c.id, c.c.attachments_check_at).where(
            and_(c.c.deleted_at.is_(None), c.c.attachments_pending.is_(True))
        )
        if workspace_id is not None:
            query = query.where(c.c.workspace_id == workspace_id)
        return [(row.id, row.attachments_check_at) for row in self.conn.execute(query)]

    def failed_detail_ids(self, workspace_id: str | None) -> set[str]:
        """Live conversations whose last detail read failed."""
        c = tables.conversations
        query = select(c.c.id).where(and_(c.c.deleted_at.is_(None), c.c.detail_error.is_not(None)))
        if workspace_id is not None:
            query = query.where(c.c.workspace_id == workspace_id)
        return set(self.conn.scalars(query))

    def ids_with_status(self, workspace_id: str | None, statuses: list[str]) -> set[str]:
        """Live, announced conversations the mirror holds in one of ``statuses``."""
        c = tables.conversations
        query = select(c.c.id).where(
            and_(c.c.deleted_at.is_(None), c.c.fingerprint.is_not(None), c.c.status.in_(statuses))
        )
        if workspace_id is not None:
            query = query.where(c.c.workspace_id == workspace_id)
        return set(self.conn.scalars(query))

    def unlisted(self, workspace_id: str | None, started: datetime) -> list[str]:
        """Live conversations neither listed nor observed since a walk started: maybe deleted."""
        c = tables.conversations
        query = select(c.c.id).where(
            and_(
                c.c.deleted_at.is_(None),
                or_(c.c.last_listed_at.is_(None), c.c.last_listed_at < started),
                c.c.synced_at < started,
            )
        )
        if workspace_id is not None:
            query = query.where(c.c.workspace_id == workspace_id)
        return list(self.conn.scalars(query))

    def watched_attention_items(
        self, workspace_id: str | None, statuses: Sequence[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        """Items in ``statuses`` of conversations the mirror holds, live: id → (conversation,
        workspace)."""
        i, c = tables.attention_items, tables.conversations
        query = (
            select(i.c.id, i.c.conversation_id, i.c.workspace_id)
            .select_from(i.join(c, c.c.id == i.c.conversation_id))
            .where(and_(i.c.status.in_(statuses), c.c.deleted_at.is_(None)))
        )
        if workspace_id is not None:
            query = query.where(i.c.workspace_id == workspace_id)
        return {row.id: (row.conversation_id, row.workspace_id) for row in self.conn.execute(query)}

    def workspaces_of_conversations(self, conversation_ids: set[str]) -> dict[str, str | None]:
        """The workspace of each stored conversation among these ids."""
        c = tables.conversations
        found: dict[str, str | None] = {}
        for part in chunked(sorted(conversation_ids)):
            query = select(c.c.id, c.c.workspace_id).where(c.c.id.in_(part))
            found.update({row.id: row.workspace_id for row in self.conn.execute(query)})
        return found

    def known_workspaces(self) -> list[str]:
        """Workspaces seen in the mirror's conversations (the API has no list of workspaces)."""
        c = tables.conversations
        query = select(c.c.workspace_id).distinct().where(c.c.workspace_id.is_not(None))
        return sorted(self.conn.scalars(query))

    def latest_snapshot(self, workspace_id: str) -> dict[str, int] | None:
        """The newest stored status-counts snapshot of a workspace, or None."""
        s = tables.status_count_snapshots
        taken = self.conn.scalar(
            select(func.max(s.c.taken_at)).where(s.c.workspace_id == workspace_id)
        )
        if taken is None:
            return None
        query = select(s.c.status, s.c.count).where(
            and_(s.c.workspace_id == workspace_id, s.c.taken_at == taken)
        )
        return {str(status): int(count) for status, count in self.conn.execute(query)}

    def live_status_counts(self, workspace_id: str) -> dict[str, int]:
        """Live, announced conversations of a workspace per status (suppressed ones apart)."""
        c = tables.conversations
        query = (
            select(c.c.status, func.count())
            .where(
                and_(
                    c.c.workspace_id == workspace_id,
                    c.c.deleted_at.is_(None),
                    c.c.fingerprint.is_not(None),
                )
            )
            .group_by(c.c.status)
        )
        return {str(status): int(count) for status, count in self.conn.execute(query)}

    def refresh_age(
        self, workspace_id: str | None, terminal: frozenset[str], now: datetime, days: float
    ) -> RefreshAge:
        """The recent conversations' count, oldest refresh and those never refreshed."""
        c = tables.conversations
        never = func.sum(case((c.c.refreshed_at.is_(None), 1), else_=0))
        query = select(func.count(), func.min(c.c.refreshed_at), never).where(
            recent(workspace_id, terminal, now, days)
        )
        count, oldest, unrefreshed = self.conn.execute(query).one()
        return RefreshAge(int(count or 0), oldest, int(unrefreshed or 0))

    def oldest_refreshed(
        self,
        workspace_id: str | None,
        terminal: frozenset[str],
        now: datetime,
        days: float,
        limit: int,
    ) -> list[str]:
        """Up to ``limit`` recent conversations due for refresh: never refreshed, then oldest."""
        c = tables.conversations
        query = (
            select(c.c.id)
            .where(recent(workspace_id, terminal, now, days))
            .order_by(case((c.c.refreshed_at.is_(None), 0), else_=1), c.c.refreshed_at, c.c.id)
            .limit(limit)
        )
        return list(self.conn.scalars(query))
