"""Reads for ``syncd status`` and ``/metrics``: the streams' records, the mirror's freshness
figures per workspace, what the purge stream removed, the details waiting for a retry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from syncd.store import tables
from syncd.sync.mirror._base import MirrorBase
from syncd.sync.mirror.reads import recent
from syncd.sync.state import BACKFILL
from syncd.sync.values import RefreshAge, StreamRecord


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

    def stream_records(self) -> list[StreamRecord]:
        """Last success and failures of every (scope, stream) in ``sync_state``."""
        s = tables.sync_state
        query = select(s.c.workspace_id, s.c.stream, s.c.last_success_at, s.c.consecutive_failures)
        return [
            StreamRecord(row[0], row[1], row[2], int(row[3] or 0))
            for row in self.conn.execute(query.order_by(s.c.workspace_id, s.c.stream))
        ]

    def stream_rows(self) -> list[Mapping[str, Any]]:
        """Every ``sync_state`` row but the backfill walk's, by scope and stream."""
        s = tables.sync_state
        query = select(s).where(s.c.stream != BACKFILL).order_by(s.c.workspace_id, s.c.stream)
        return [dict(row) for row in self.conn.execute(query).mappings()]

    def purged_totals(self) -> dict[str, int]:
        """Rows the purge stream removed so far, per table, over every scope."""
        s = tables.sync_state
        purged: dict[str, int] = {}
        for state in self.conn.scalars(select(s.c.state).where(s.c.stream == "purge")):
            for table, count in ((state or {}).get("purged_total") or {}).items():
                purged[table] = purged.get(table, 0) + int(count)
        return purged

    def detail_retries_pending(self) -> int:
        """Conversations whose last detail read failed (the next pass reads them again)."""
        c = tables.conversations
        return int(self.conn.scalar(select(func.count()).where(c.c.detail_error.is_not(None))) or 0)

    def table_sizes(self) -> dict[str, int]:
        """Rows per mirror table."""
        return {
            table.name: int(self.conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in tables.MIRROR_TABLES
        }
