"""``syncd status``: freshness and errors per stream and workspace; outbox state per sink."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from syncd.clock import Clock, utc_now
from syncd.config import Settings, load_settings
from syncd.events.sink_status import sink_status
from syncd.store import tables
from syncd.store.engine import create_engine_for
from syncd.store.migrate import ensure_schema
from syncd.sync.suppression import suppression_size


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def stream_status(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """One entry per (scope, stream) of ``sync_state``."""
    s = tables.sync_state
    entries = []
    for row in conn.execute(select(s).order_by(s.c.workspace_id, s.c.stream)).mappings():
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


def outbox_summary(conn: Connection) -> dict[str, Any]:
    """Events stored in the outbox."""
    e = tables.events
    count, newest = conn.execute(select(func.count(), func.max(e.c.seq))).one()
    return {"events": int(count), "last_seq": int(newest or 0)}


def privacy_status(conn: Connection) -> dict[str, Any]:
    """The suppression list's size and what the purge stream removed so far (all scopes)."""
    s = tables.sync_state
    purged: dict[str, int] = {}
    for state in conn.scalars(select(s.c.state).where(s.c.stream == "purge")):
        for table, count in ((state or {}).get("purged_total") or {}).items():
            purged[table] = purged.get(table, 0) + int(count)
    return {"suppressed": suppression_size(conn), "purged_total": purged}


def collect_status(settings: Settings, clock: Clock = utc_now) -> dict[str, Any]:
    """Everything ``syncd status`` shows, as plain data."""
    engine = create_engine_for(settings.database.url.get_secret_value())
    try:
        ensure_schema(settings, engine)
        with engine.connect() as conn:
            c = tables.conversations
            retries = conn.scalar(select(func.count()).where(c.c.detail_error.is_not(None)))
            return {
                "streams": stream_status(conn, clock()),
                "detail_retries_pending": int(retries or 0),
                "outbox": outbox_summary(conn),
                "sinks": sink_status(conn, settings),
                "privacy": privacy_status(conn),
            }
    finally:
        engine.dispose()


def render_text(status: dict[str, Any]) -> str:
    """A plain-text report, one line per stream and per sink."""
    lines = ["streams:"]
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


def status_command(args: argparse.Namespace) -> int:
    """Entry point of ``syncd status``."""
    settings = load_settings(args.config)
    status = collect_status(settings)
    if args.json:
        json.dump(status, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render_text(status))
    return 0
