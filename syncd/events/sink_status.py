"""Per-sink delivery state for ``syncd status`` and ``syncd sync``'s summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from syncd.clock import utc_now
from syncd.config import Settings
from syncd.events.envelope import format_timestamp
from syncd.events.ledger import DEAD, QUEUED, SinkState, read_states
from syncd.events.outbox import last_seq
from syncd.events.retention import retention_cutoff
from syncd.events.rules import SinkRule
from syncd.store.tables import deliveries, events


def sink_status(
    conn: Connection, settings: Settings, now: datetime | None = None
) -> list[dict[str, Any]]:
    """One dict per configured sink, in config order.

    Keys: ``name``, ``type``, ``ordered``, ``position`` (last seq acknowledged or passed over),
    ``last_seq`` (newest event), ``backlog`` (events after the position the sink wants),
    ``dead_letters``, ``replays_queued``, ``head_attempts``, ``next_attempt_at``, ``last_error``,
    ``failing_since``, ``stuck`` (an ordered sink past ``max_attempts``), ``disabled``,
    ``disabled_at``, ``disabled_reason``, ``last_delivered_at``, ``held_over_retention`` (events
    older than ``retention_days`` kept because this sink has not got them yet). Times are aware
    UTC datetimes or None.
    """
    now = now or utc_now()
    states = read_states(conn)
    newest = last_seq(conn)
    cutoff = retention_cutoff(now, settings.events.retention_days)
    result = []
    for entry in settings.sinks:
        rule = SinkRule.from_settings(entry)
        state = states.get(rule.name) or SinkState(rule.name)
        result.append(
            {
                "name": rule.name,
                "type": entry.type,
                "ordered": rule.ordered,
                "position": state.position,
                "last_seq": newest,
                "backlog": _backlog(conn, rule, state.position),
                "dead_letters": _count_outcome(conn, rule.name, DEAD),
                "replays_queued": _count_outcome(conn, rule.name, QUEUED),
                "head_attempts": state.head_attempts,
                "next_attempt_at": state.next_attempt_at,
                "last_error": state.last_error,
                "failing_since": state.failing_since,
                "stuck": rule.ordered and state.head_attempts >= rule.max_attempts,
                "disabled": state.disabled_at is not None,
                "disabled_at": state.disabled_at,
                "disabled_reason": state.disabled_reason,
                "last_delivered_at": state.last_delivered_at,
                "held_over_retention": _held(conn, rule.name, state.position, cutoff),
            }
        )
    return result


def describe_sink_status(status: dict[str, Any]) -> str:
    """One human line for a ``sink_status`` entry (no secrets: error texts are clean)."""
    parts = [f"position {status['position']}", f"backlog {status['backlog']}"]
    parts.append(f"dead letters {status['dead_letters']}")
    return ", ".join(parts + describe_problems(status))


def describe_delivery(delivered: int, status: dict[str, Any]) -> str:
    """The line ``syncd sync`` prints per sink: delivered now, pending, dead, and any trouble."""
    pending = status["backlog"] + status["replays_queued"]
    parts = [f"delivered {delivered}", f"pending {pending}", f"dead {status['dead_letters']}"]
    return ", ".join(parts + describe_problems(status))


def describe_problems(status: dict[str, Any]) -> list[str]:
    """What is wrong with a sink, as short phrases (empty when healthy)."""
    parts = []
    if status["replays_queued"]:
        parts.append(f"replays queued {status['replays_queued']}")
    if status["disabled"]:
        parts.append(f"DISABLED since {_when(status['disabled_at'])}")
    elif status["stuck"]:
        parts.append(f"STUCK since {_when(status['failing_since'])}")
    elif status["failing_since"] is not None:
        parts.append(
            f"failing since {_when(status['failing_since'])} "
            f"(attempt {status['head_attempts']}, next {_when(status['next_attempt_at'])})"
        )
    if status["held_over_retention"]:
        parts.append(f"{status['held_over_retention']} events kept past retention")
    if status["last_error"] and (status["failing_since"] is not None or status["disabled"]):
        parts.append(f"last error: {status['last_error']}")
    return parts


def _when(moment: datetime | None) -> str:
    return format_timestamp(moment) if moment is not None else "-"


def _backlog(conn: Connection, rule: SinkRule, position: int) -> int:
    query = (
        select(events.c.type, events.c.backfill, func.count())
        .where(events.c.seq > position)
        .group_by(events.c.type, events.c.backfill)
    )
    return sum(
        int(count)
        for event_type, backfill, count in conn.execute(query)
        if rule.wants(event_type, bool(backfill))
    )


def _count_outcome(conn: Connection, sink: str, outcome: str) -> int:
    query = select(func.count()).where(
        and_(deliveries.c.sink == sink, deliveries.c.outcome == outcome)
    )
    return int(conn.scalar(query) or 0)


def _held(conn: Connection, sink: str, position: int, cutoff: datetime) -> int:
    parked = select(deliveries.c.event_seq).where(
        and_(deliveries.c.sink == sink, deliveries.c.outcome.in_([DEAD, QUEUED]))
    )
    query = select(func.count()).where(
        and_(events.c.created_at < cutoff, (events.c.seq > position) | events.c.seq.in_(parked))
    )
    return int(conn.scalar(query) or 0)
