"""How fresh the mirror is, per workspace: what ``syncd status`` and ``/metrics`` show.

- refresh: the recent conversations (non-terminal, or last active within
  ``sync.refresh_recent_days``), the oldest refresh among them and its age, and how many were
  never refreshed — the achieved bound of the refresh stream;
- head read: whether the unfiltered list proved newest-first at the last hot pass (per scope:
  a workspace, or ``*`` for the whole key), and why not;
- attachments: conversations whose attachments have not settled (the backoff queue), how many
  of them are due, and when the next re-read is;
- heals: status-count drifts the heal stream found transient (changes in flight) or real, and a
  drift it could not mend (reported rather than walked again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from syncd.config import Settings
from syncd.store import tables
from syncd.sync.refresh import recent
from syncd.sync.state import read_state


@dataclass(frozen=True, slots=True)
class WorkspaceFreshness:
    """One workspace's freshness figures."""

    workspace: str
    recent_conversations: int
    oldest_refresh_at: datetime | None
    oldest_refresh_age_s: float | None
    never_refreshed: int
    unsettled_attachments: int
    attachments_due: int
    next_attachment_check_at: datetime | None
    heals_transient: int
    heals_real: int
    unmended_drift: dict[str, int] | None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values (timestamps as ISO-8601)."""
        data = asdict(self)
        for key in ("oldest_refresh_at", "next_attachment_check_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


@dataclass(frozen=True, slots=True)
class HeadRead:
    """The last head read of a scope."""

    scope: str
    active: bool | None
    reason: str | None
    watermark: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "active": self.active,
            "reason": self.reason,
            "watermark": self.watermark.isoformat() if self.watermark is not None else None,
        }


def workspace_freshness(
    conn: Connection, settings: Settings, now: datetime
) -> list[WorkspaceFreshness]:
    """Per workspace the mirror knows (or that is configured)."""
    sync = settings.sync
    terminal = frozenset(sync.terminal_statuses)
    c = tables.conversations
    never = func.sum(case((c.c.refreshed_at.is_(None), 1), else_=0))
    refresh_rows = conn.execute(
        select(c.c.workspace_id, func.count(), func.min(c.c.refreshed_at), never)
        .where(recent(None, terminal, now, sync.refresh_recent_days))
        .group_by(c.c.workspace_id)
    ).all()
    refreshed = {row[0]: row[1:] for row in refresh_rows}
    is_due = or_(c.c.attachments_check_at.is_(None), c.c.attachments_check_at <= now)
    due = func.sum(case((is_due, 1), else_=0))
    attachment_rows = conn.execute(
        select(c.c.workspace_id, func.count(), due, func.min(c.c.attachments_check_at))
        .where(and_(c.c.deleted_at.is_(None), c.c.attachments_pending.is_(True)))
        .group_by(c.c.workspace_id)
    ).all()
    attachments = {row[0]: row[1:] for row in attachment_rows}
    workspaces = sorted(
        {w for w in (*refreshed, *attachments) if w is not None} | set(sync.workspaces)
    )
    report = []
    for workspace in workspaces:
        count, oldest, unrefreshed = refreshed.get(workspace, (0, None, 0))
        pending, pending_due, next_check = attachments.get(workspace, (0, 0, None))
        heal = read_state(conn, workspace, "heal").state or {}
        counts = heal.get("counts") or {}
        report.append(
            WorkspaceFreshness(
                workspace=workspace,
                recent_conversations=int(count or 0),
                oldest_refresh_at=oldest,
                oldest_refresh_age_s=(
                    round((now - oldest).total_seconds(), 1) if oldest is not None else None
                ),
                never_refreshed=int(unrefreshed or 0),
                unsettled_attachments=int(pending or 0),
                attachments_due=int(pending_due or 0),
                next_attachment_check_at=next_check,
                heals_transient=int(counts.get("transient", 0)),
                heals_real=int(counts.get("real", 0)),
                unmended_drift=heal.get("tried") or None,
            )
        )
    return report


def head_reads(conn: Connection) -> list[HeadRead]:
    """The last head read of every scope that had one."""
    s = tables.sync_state
    rows = conn.execute(
        select(s.c.workspace_id, s.c.state, s.c.watermark)
        .where(s.c.stream == "head")
        .order_by(s.c.workspace_id)
    ).all()
    reads = []
    for scope, state, watermark in rows:
        state = state or {}
        reads.append(HeadRead(scope, state.get("active"), state.get("reason"), watermark))
    return reads
