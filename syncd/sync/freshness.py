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

from sqlalchemy import Connection

from syncd.config import Settings
from syncd.sync.mirror import Mirror
from syncd.sync.values import RefreshAge, attachments_due


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
    mirror = Mirror(conn)
    refreshed = mirror.refresh_ages(terminal, now, sync.refresh_recent_days)
    attachments: dict[str | None, tuple[int, int, datetime | None]] = {}
    for workspace, check_at in mirror.attachment_checks():
        pending, pending_due, next_check = attachments.get(workspace, (0, 0, None))
        if check_at is not None and (next_check is None or check_at < next_check):
            next_check = check_at
        due = int(attachments_due(True, check_at, now))
        attachments[workspace] = (pending + 1, pending_due + due, next_check)
    workspaces = sorted(
        {w for w in (*refreshed, *attachments) if w is not None} | set(sync.workspaces)
    )
    report = []
    for workspace in workspaces:
        age = refreshed.get(workspace, RefreshAge(0, None, 0))
        count, oldest, unrefreshed = age.recent, age.oldest, age.never
        pending, pending_due, next_check = attachments.get(workspace, (0, 0, None))
        heal = mirror.read_state(workspace, "heal").state or {}
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
    reads = []
    for scope, head in Mirror(conn).stream_states("head"):
        state = head.state or {}
        reads.append(HeadRead(scope, state.get("active"), state.get("reason"), head.watermark))
    return reads
