"""Reads for ``syncd status`` and ``/metrics``: the mirror's freshness figures per workspace."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, select

from syncd.store import tables
from syncd.sync.mirror._base import MirrorBase
from syncd.sync.mirror.reads import recent
from syncd.sync.values import RefreshAge


class Report(MirrorBase):
    """Aggregates over the mirror, per workspace."""

    __slots__ = ()

    def refresh_ages(
        self, terminal: frozenset[str], now: datetime, days: float
    ) -> dict[str | None, RefreshAge]:
        """Per workspace: the recent conversations, the oldest refresh, those never refreshed."""
        c = tables.conversations
        never = func.sum(case((c.c.refreshed_at.is_(None), 1), else_=0))
        rows = self.conn.execute(
            select(c.c.workspace_id, func.count(), func.min(c.c.refreshed_at), never)
            .where(recent(None, terminal, now, days))
            .group_by(c.c.workspace_id)
        ).all()
        return {
            workspace: RefreshAge(int(count or 0), oldest, int(unrefreshed or 0))
            for workspace, count, oldest, unrefreshed in rows
        }

    def attachment_checks(self) -> list[tuple[str | None, datetime | None]]:
        """Every live conversation with unsettled attachments: (workspace, next look)."""
        c = tables.conversations
        query = select(c.c.workspace_id, c.c.attachments_check_at).where(
            and_(c.c.deleted_at.is_(None), c.c.attachments_pending.is_(True))
        )
        return [(row.workspace_id, row.attachments_check_at) for row in self.conn.execute(query)]
