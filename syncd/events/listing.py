"""Stored events with their delivery state per sink (``syncd events list``).

A sink's state of one event: ``skipped`` (its patterns or ``backfill = "skip"`` pass it over),
``dead`` (parked dead letter), ``pending`` (after the sink's position, or a queued replay), else
``delivered``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, and_, select

from syncd.events.envelope import format_timestamp
from syncd.events.ledger import (
    DEAD,
    DELIVERED,
    FAILED,
    QUEUED,
    SinkState,
    read_states,
)
from syncd.events.rules import SinkRule
from syncd.store.tables import deliveries, events

Status = Literal["pending", "delivered", "dead", "skipped"]
_SCAN_PAGE = 1000


@dataclass(slots=True)
class SinkDelivery:
    """One sink's view of one event."""

    status: Status
    attempts: int = 0
    last_attempt_at: datetime | None = None
    last_error: str | None = None


@dataclass(slots=True)
class ListedEvent:
    """An event row and its state at each listed sink."""

    seq: int
    id: str
    type: str
    workspace_id: str | None
    subject_id: str | None
    created_at: datetime
    backfill: bool
    sinks: dict[str, SinkDelivery] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "workspaceId": self.workspace_id,
            "subjectId": self.subject_id,
            "createdAt": format_timestamp(self.created_at),
            "backfill": self.backfill,
            "sinks": {
                name: {
                    "status": state.status,
                    "attempts": state.attempts,
                    "lastAttemptAt": (
                        format_timestamp(state.last_attempt_at) if state.last_attempt_at else None
                    ),
                    "lastError": state.last_error,
                }
                for name, state in self.sinks.items()
            },
        }


def list_events(
    conn: Connection,
    rules: Sequence[SinkRule],
    *,
    status: Status | None = None,
    limit: int = 100,
    types: Sequence[str] = (),
    since: datetime | None = None,
) -> list[ListedEvent]:
    """The newest ``limit`` events (in ``seq`` order) with ``status`` at any of ``rules``' sinks,
    of a type matching one of ``types`` (patterns as in a sink's ``events``; empty: any), created
    at or after ``since``."""
    states = read_states(conn)
    positions = {
        rule.name: (states.get(rule.name) or SinkState(rule.name)).position for rule in rules
    }
    names = [rule.name for rule in rules]
    wanted = SinkRule("types", events=tuple(types)) if types else None
    found: list[ListedEvent] = []
    for page in _candidate_pages(conn, names, positions, status, since):
        page = [e for e in page if wanted is None or wanted.wants(e.type, backfill=False)]
        _attach(conn, page, rules, positions)
        for event in page:
            if status is None or any(d.status == status for d in event.sinks.values()):
                found.append(event)
                if len(found) >= limit:
                    return sorted(found, key=lambda item: item.seq)
    return sorted(found, key=lambda item: item.seq)


def _candidate_pages(
    conn: Connection,
    names: list[str],
    positions: dict[str, int],
    status: Status | None,
    since: datetime | None,
) -> Any:
    """Pages of events, newest first, narrowed where the status allows it."""
    condition: ColumnElement[bool] | None = None
    parked = [DEAD] if status == "dead" else [QUEUED]
    if status in ("dead", "pending"):
        held = select(deliveries.c.event_seq).where(
            and_(deliveries.c.sink.in_(names), deliveries.c.outcome.in_(parked))
        )
        condition = events.c.seq.in_(held)
        if status == "pending" and positions:
            condition = condition | (events.c.seq > min(positions.values()))
    before: int | None = None
    while True:
        query = select(events).order_by(events.c.seq.desc()).limit(_SCAN_PAGE)
        if condition is not None:
            query = query.where(condition)
        if before is not None:
            query = query.where(events.c.seq < before)
        if since is not None:
            query = query.where(events.c.created_at >= since)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return
        before = rows[-1]["seq"]
        yield [
            ListedEvent(
                seq=row["seq"],
                id=row["id"],
                type=row["type"],
                workspace_id=row["workspace_id"],
                subject_id=row["subject_id"],
                created_at=row["created_at"],
                backfill=bool(row["backfill"]),
            )
            for row in rows
        ]


def _attach(
    conn: Connection, page: list[ListedEvent], rules: Sequence[SinkRule], positions: dict[str, int]
) -> None:
    seqs = [event.seq for event in page]
    rows = conn.execute(
        select(deliveries)
        .where(and_(deliveries.c.event_seq.in_(seqs), deliveries.c.sink.in_(list(positions))))
        .order_by(deliveries.c.id)
    ).mappings()
    history: dict[tuple[str, int], list[Any]] = {}
    for row in rows:
        history.setdefault((row["sink"], row["event_seq"]), []).append(row)
    for event in page:
        for rule in rules:
            event.sinks[rule.name] = _state(
                event, rule, positions[rule.name], history.get((rule.name, event.seq), [])
            )


def _state(event: ListedEvent, rule: SinkRule, position: int, rows: list[Any]) -> SinkDelivery:
    outcomes = {row["outcome"] for row in rows}
    attempts = [row for row in rows if row["outcome"] in (DELIVERED, FAILED, DEAD)]
    errors = [row["error"] for row in rows if row["error"]]
    status: Status
    if not rule.wants(event.type, event.backfill):
        status = "skipped"
    elif QUEUED in outcomes:
        status = "pending"
    elif DEAD in outcomes:
        status = "dead"
    elif event.seq > position:
        status = "pending"
    else:
        status = "delivered"
    return SinkDelivery(
        status=status,
        attempts=len(attempts),
        last_attempt_at=max((row["attempted_at"] for row in rows), default=None),
        last_error=errors[-1] if errors and status != "delivered" else None,
    )
