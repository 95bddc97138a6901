"""``syncd status``: freshness and errors per stream and workspace; outbox state per sink.

``--check`` adds a verdict (exit 0 healthy, 1 not): a stream is failing (its last pass failed)
or stale (no success for 3 of its intervals, ``syncd.freshness``), or a sink is failing, stuck,
disabled or holds dead letters. It only reads: a missing database is an error (exit 2), never
created or migrated (``syncd.store.existing``). The command is ``syncd.commands.status``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from syncd.clock import Clock, utc_now
from syncd.config import Settings
from syncd.events.outbox import outbox_summary
from syncd.events.sink_status import sink_status
from syncd.freshness import stale_after
from syncd.store.existing import database_label
from syncd.store.opening import read
from syncd.sync.freshness import head_reads, workspace_freshness
from syncd.sync.mirror import Mirror


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def stream_status(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """One entry per (scope, stream) of ``sync_state``."""
    entries = []
    for row in Mirror(conn).stream_rows():
        last = row["last_success_at"]
        entries.append(
            {
                "workspace": row["workspace_id"],
                "stream": row["stream"],
                "last_success_at": _iso(last),
                "lag_s": round((now - last).total_seconds(), 1) if last is not None else None,
                "watermark": _iso(row["watermark"]),
                "last_attempt_at": _iso(row["last_attempt_at"]),
                "last_error": row["last_error"],
                "consecutive_failures": row["consecutive_failures"],
                "malformed_rows_skipped": row["skipped_rows"],
                "in_progress": row["cursor"] is not None or row["pass_started_at"] is not None,
                "detail": row["state"],
            }
        )
    return entries


def privacy_status(conn: Connection) -> dict[str, Any]:
    """The suppression list's size and what the purge stream removed so far (all scopes)."""
    mirror = Mirror(conn)
    return {"suppressed": mirror.suppression_size(), "purged_total": mirror.purged_totals()}


def collect_status(engine: Engine, settings: Settings, clock: Clock = utc_now) -> dict[str, Any]:
    """Everything ``syncd status`` shows, as plain data, read in one transaction."""

    def gather(conn: Connection) -> dict[str, Any]:
        now = clock()
        return {
            "database": database_label(settings),
            "streams": stream_status(conn, now),
            "freshness": {
                "workspaces": [item.as_json() for item in workspace_freshness(conn, settings, now)],
                "head_reads": [head.as_json() for head in head_reads(conn)],
                "refresh_interval_s": settings.sync.refresh_interval_s,
            },
            "detail_retries_pending": Mirror(conn).detail_retries_pending(),
            "outbox": outbox_summary(conn),
            "sinks": sink_status(conn, settings),
            "privacy": privacy_status(conn),
        }

    status = read(engine, gather)
    status["problems"] = health_problems(settings, status)
    return status


def health_problems(settings: Settings, status: dict[str, Any]) -> list[str]:
    """Why the install is not healthy (empty when it is), one phrase per problem."""
    problems: list[str] = []
    if not status["streams"]:
        problems.append("no sync has run yet")
    for entry in status["streams"]:
        where = f"{entry['stream']} {entry['workspace']}"
        if entry["last_error"]:
            problems.append(f"{where}: failing ({entry['last_error']})")
            continue
        limit = stale_after(settings, entry["stream"])
        if limit is None:
            continue
        if entry["lag_s"] is None:
            if not entry["in_progress"]:
                problems.append(f"{where}: never succeeded")
        elif entry["lag_s"] > limit and not entry["in_progress"]:
            problems.append(f"{where}: stale, last success {entry['lag_s']:.0f}s ago")
    for sink in status["sinks"]:
        name = f"sink {sink['name']}"
        if sink.get("disabled"):
            problems.append(f"{name}: disabled ({sink.get('disabled_reason')})")
        elif sink.get("stuck"):
            problems.append(f"{name}: stuck ({sink.get('last_error')})")
        elif sink.get("failing_since") is not None:
            problems.append(f"{name}: failing ({sink.get('last_error')})")
        if sink.get("dead_letters"):
            problems.append(f"{name}: {sink['dead_letters']} dead letter(s)")
    return problems


def render_text(status: dict[str, Any]) -> str:
    """A plain-text report, one line per stream and per sink."""
    lines = [f"database: {status['database']}", "streams:"] if "database" in status else []
    if not lines:
        lines.append("streams:")
    if not status["streams"]:
        lines.append("  (no sync has run yet)")
    for entry in status["streams"]:
        state = "ok" if not entry["last_error"] else f"ERROR: {entry['last_error']}"
        lag = f"{entry['lag_s']}s ago" if entry["lag_s"] is not None else "never succeeded"
        extra = ", in progress" if entry["in_progress"] else ""
        if entry["malformed_rows_skipped"]:
            extra += f", {entry['malformed_rows_skipped']} malformed rows skipped"
        lines.append(f"  {entry['workspace']:<24} {entry['stream']:<14} {lag}{extra}; {state}")
    if status["detail_retries_pending"]:
        lines.append(
            f"  conversations waiting for a detail retry: {status['detail_retries_pending']}"
        )
    lines.extend(render_freshness(status.get("freshness")))
    privacy = status["privacy"]
    suppressed = privacy["suppressed"]
    purged = privacy["purged_total"]
    lines.append(
        f"privacy: suppression list {sum(suppressed.values())} entries"
        + "".join(f", {n} {kind}" for kind, n in sorted(suppressed.items()))
        + f"; purged {sum(purged.values())} rows"
        + "".join(f", {n} {table}" for table, n in sorted(purged.items()) if n)
    )
    outbox = status["outbox"]
    lines.append(f"outbox: {outbox['events']} events stored, last seq {outbox['last_seq']}")
    lines.append("sinks:")
    if not status["sinks"]:
        lines.append("  (no sinks configured)")
    for sink in status["sinks"]:
        parts = [f"position {sink.get('position')}", f"backlog {sink.get('backlog')}"]
        parts.append(f"dead letters {sink.get('dead_letters')}")
        if sink.get("disabled"):
            parts.append(f"DISABLED: {sink.get('disabled_reason')}")
        if sink.get("last_error"):
            parts.append(f"last error: {sink.get('last_error')}")
        lines.append(f"  {sink.get('name')}: " + ", ".join(str(p) for p in parts))
    return "\n".join(lines)


def render_freshness(freshness: dict[str, Any] | None) -> list[str]:
    """The freshness section: per workspace, and the head read per scope."""
    if not freshness:
        return []
    lines = ["freshness:"]
    bound = freshness.get("refresh_interval_s") or 0
    for item in freshness["workspaces"]:
        age = item["oldest_refresh_age_s"]
        if not bound:
            refresh = "refresh off"
        elif item["never_refreshed"]:
            refresh = f"{item['never_refreshed']} never refreshed"
        elif age is None:
            refresh = "nothing to refresh"
        else:
            refresh = f"oldest refresh {age:.0f}s ago (bound {bound:.0f}s)"
        parts = [f"{item['recent_conversations']} recent conversations, {refresh}"]
        if item["unsettled_attachments"]:
            parts.append(
                f"{item['unsettled_attachments']} with unsettled attachments "
                f"({item['attachments_due']} due)"
            )
        parts.append(f"heals: {item['heals_transient']} transient, {item['heals_real']} real")
        if item["unmended_drift"]:
            parts.append(f"drift no walk could mend: {item['unmended_drift']}")
        lines.append(f"  {item['workspace']:<24} " + "; ".join(parts))
    for head in freshness["head_reads"]:
        if head["active"]:
            state = "active (the list is newest-first)"
        else:
            state = f"inactive: {head['reason'] or 'not read yet'}"
        lines.append(f"  {head['scope']:<24} head read {state}")
    return lines


def render_verdict(problems: list[str]) -> str:
    """The ``--check`` summary: ``OK`` or ``UNHEALTHY`` with one line per problem."""
    if not problems:
        return "check: OK"
    lines = [f"check: UNHEALTHY ({len(problems)} problem(s))"]
    return "\n".join(lines + [f"  {problem}" for problem in problems])
