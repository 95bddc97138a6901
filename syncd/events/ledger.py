"""The dispatcher's bookkeeping: per-sink state (``sink_state``), the attempt log (``deliveries``).

``sink_state.position`` is the ``seq`` of the last event the sink acknowledged or passed over.
Every change of it is a compare-and-set on the value read before, so two dispatchers that ever
run against one sink (a daemon and an explicit ``syncd sync``) can re-send, but never move a
position past an event neither of them delivered.

``deliveries`` rows, by ``outcome``:

- ``delivered``: an accepted attempt; ``failed``: a refused one (``next_attempt_at`` set);
- ``dead``: the last allowed attempt of an unordered sink failed; the event is parked;
- ``queued``: a dead letter sent again by ``syncd events replay --dead``, not yet delivered; the
  row is the replay's own state (``attempt`` counts its attempts) and becomes ``delivered`` or
  ``dead``; the dead row it came from becomes ``requeued`` (history only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from syncd.events.envelope import OutboxEvent
from syncd.events.outbox import last_seq
from syncd.store.tables import UTCDateTime, deliveries, events, sink_state

DELIVERED = "delivered"
FAILED = "failed"
DEAD = "dead"
QUEUED = "queued"
REQUEUED = "requeued"

ERROR_CHARS = 2000
"""Stored error texts are cut to this length."""


@dataclass(frozen=True, slots=True)
class SinkState:
    """One row of ``sink_state`` (defaults for a sink that never ran)."""

    sink: str
    position: int = 0
    head_attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    failing_since: datetime | None = None
    last_delivered_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class QueuedReplay:
    """A dead letter waiting to be sent again."""

    row_id: int
    attempts: int
    event: OutboxEvent


def clip(error: str) -> str:
    """An error text short enough to store."""
    return error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…"


def ensure_states(conn: Connection, names: Sequence[str], *, at_latest: Sequence[str] = ()) -> None:
    """Create the missing ``sink_state`` rows.

    A new sink starts at position 0 (it gets every stored event), or, when it is in
    ``at_latest``, at the newest stored event (it gets what is written from now on).
    """
    if not names:
        return
    newest = last_seq(conn) if at_latest else 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(sink_state).on_conflict_do_nothing(index_elements=["sink"])
    conn.execute(
        statement,
        [{"sink": name, "position": newest if name in at_latest else 0} for name in names],
    )


def read_state(conn: Connection, name: str) -> SinkState:
    """A sink's state; the defaults when it has none yet."""
    row = conn.execute(select(sink_state).where(sink_state.c.sink == name)).mappings().first()
    return SinkState(**row) if row is not None else SinkState(sink=name)


def read_states(conn: Connection) -> dict[str, SinkState]:
    """Every stored sink state by name."""
    return {row["sink"]: SinkState(**row) for row in conn.execute(select(sink_state)).mappings()}


def events_after(conn: Connection, position: int, limit: int) -> list[OutboxEvent]:
    """Up to ``limit`` events with ``seq > position``, in ``seq`` order."""
    query = select(*_EVENT_COLUMNS).where(events.c.seq > position).order_by(events.c.seq)
    return [OutboxEvent(**row) for row in conn.execute(query.limit(limit)).mappings()]


def advance(
    conn: Connection,
    name: str,
    *,
    expected: int,
    position: int,
    delivered: Sequence[tuple[OutboxEvent, int]],
    now: datetime,
) -> bool:
    """Move the position on after delivered/passed-over events; False if someone else moved it."""
    values: dict[str, object] = {"position": position}
    if delivered:
        values.update(
            head_attempts=0,
            next_attempt_at=None,
            last_error=None,
            failing_since=None,
            last_delivered_at=now,
        )
    if not _compare_and_set(conn, name, expected, values):
        return False
    if delivered:
        conn.execute(
            insert(deliveries),
            [_attempt_row(name, event, attempt, now, DELIVERED) for event, attempt in delivered],
        )
    return True


def record_failure(
    conn: Connection,
    name: str,
    *,
    position: int,
    head: OutboxEvent,
    attempt: int,
    error: str,
    now: datetime,
    next_attempt_at: datetime,
) -> bool:
    """A failed attempt at the head: the sink waits until ``next_attempt_at``."""
    values = {
        "head_attempts": attempt,
        "next_attempt_at": next_attempt_at,
        "last_error": clip(error),
        "failing_since": _since(now),
    }
    if not _compare_and_set(conn, name, position, values):
        return False
    row = _attempt_row(name, head, attempt, now, FAILED, error)
    conn.execute(insert(deliveries), [{**row, "next_attempt_at": next_attempt_at}])
    return True


def record_dead(
    conn: Connection, name: str, *, position: int, head: OutboxEvent, attempt: int, error: str,
    now: datetime,
) -> bool:  # fmt: skip
    """The head's last attempt failed (unordered sink): park it and move past it."""
    values = {
        "position": head.seq,
        "head_attempts": 0,
        "next_attempt_at": None,
        "last_error": clip(error),
        "failing_since": None,
    }
    if not _compare_and_set(conn, name, position, values):
        return False
    conn.execute(insert(deliveries), [_attempt_row(name, head, attempt, now, DEAD, error)])
    return True


def record_gone(
    conn: Connection, name: str, *, position: int, head: OutboxEvent, attempt: int, error: str,
    now: datetime,
) -> bool:  # fmt: skip
    """The receiver is gone (410): disable the sink; its position stays on the head."""
    values = {
        "head_attempts": attempt,
        "next_attempt_at": None,
        "last_error": clip(error),
        "failing_since": _since(now),
        "disabled_at": now,
        "disabled_reason": clip(error),
    }
    if not _compare_and_set(conn, name, position, values):
        return False
    conn.execute(insert(deliveries), [_attempt_row(name, head, attempt, now, FAILED, error)])
    return True


def disable(conn: Connection, name: str, *, error: str, now: datetime) -> None:
    """Disable a sink whose receiver is gone (410), wherever its position is."""
    conn.execute(
        update(sink_state)
        .where(sink_state.c.sink == name)
        .values(last_error=clip(error), disabled_at=now, disabled_reason=clip(error))
    )


def enable(conn: Connection, name: str) -> bool:
    """Re-enable a sink disabled by a 410 (retry its head now); False if it was not disabled."""
    result = conn.execute(
        update(sink_state)
        .where(and_(sink_state.c.sink == name, sink_state.c.disabled_at.is_not(None)))
        .values(disabled_at=None, disabled_reason=None, head_attempts=0, next_attempt_at=None)
    )
    return bool(result.rowcount)


def rewind(conn: Connection, name: str, to_position: int) -> int | None:
    """Move the position back to ``to_position`` (never forward); return the old position."""
    ensure_states(conn, [name])
    state = read_state(conn, name)
    if to_position >= state.position:
        return None
    values = {"position": to_position, "head_attempts": 0, "next_attempt_at": None}
    _compare_and_set(conn, name, state.position, values)
    return state.position


def retry_head_now(conn: Connection, name: str) -> bool:
    """Reset a failing head's attempts so it is tried at once; False when nothing was failing."""
    result = conn.execute(
        update(sink_state)
        .where(and_(sink_state.c.sink == name, sink_state.c.head_attempts > 0))
        .values(head_attempts=0, next_attempt_at=None)
    )
    return bool(result.rowcount)


def requeue_dead(conn: Connection, name: str, now: datetime) -> int:
    """Queue every dead letter of the sink for another round of attempts; return how many."""
    dead = conn.execute(
        select(deliveries.c.id, deliveries.c.event_seq, deliveries.c.event_id)
        .where(and_(deliveries.c.sink == name, deliveries.c.outcome == DEAD))
        .order_by(deliveries.c.event_seq)
    ).all()
    if not dead:
        return 0
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_([row.id for row in dead]))
        .values(outcome=REQUEUED)
    )
    conn.execute(
        insert(deliveries),
        [
            {
                "sink": name,
                "event_seq": row.event_seq,
                "event_id": row.event_id,
                "attempt": 0,
                "attempted_at": now,
                "outcome": QUEUED,
                "error": None,
                "next_attempt_at": now,
            }
            for row in dead
        ],
    )
    return len(dead)


def due_replays(
    conn: Connection, name: str, *, now: datetime, force: bool, limit: int
) -> list[QueuedReplay]:
    """Queued dead letters whose next attempt is due (all of them with ``force``)."""
    d = deliveries
    query = (
        select(d.c.id.label("row_id"), d.c.attempt, *_EVENT_COLUMNS)
        .join(events, events.c.seq == d.c.event_seq)
        .where(and_(d.c.sink == name, d.c.outcome == QUEUED))
        .order_by(d.c.event_seq)
        .limit(limit)
    )
    if not force:
        query = query.where(or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= now))
    found = []
    for row in conn.execute(query).mappings():
        values = dict(row)
        row_id, attempts = int(values.pop("row_id")), int(values.pop("attempt"))
        found.append(QueuedReplay(row_id=row_id, attempts=attempts, event=OutboxEvent(**values)))
    return found


def finish_replay(
    conn: Connection,
    name: str,
    replay: QueuedReplay,
    *,
    attempt: int,
    now: datetime,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """Record a replay attempt: delivered (no error), failed (a next time) or dead (neither)."""
    if error is None:
        outcome, stored_error = DELIVERED, None
    else:
        outcome = QUEUED if next_attempt_at is not None else DEAD
        stored_error = clip(error)
        failed = _attempt_row(name, replay.event, attempt, now, FAILED, error)
        if outcome == QUEUED:
            conn.execute(insert(deliveries), [{**failed, "next_attempt_at": next_attempt_at}])
    conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.id == replay.row_id, deliveries.c.outcome == QUEUED))
        .values(
            outcome=outcome,
            attempt=attempt,
            attempted_at=now,
            error=stored_error,
            next_attempt_at=next_attempt_at,
        )
    )


def next_replay_at(conn: Connection, name: str) -> datetime | None:
    """When the earliest queued dead letter of the sink is due (None: nothing queued)."""
    d = deliveries
    found: datetime | None = conn.scalar(
        select(func.min(d.c.next_attempt_at)).where(and_(d.c.sink == name, d.c.outcome == QUEUED))
    )
    return found


def next_due(conn: Connection, names: Sequence[str], now: datetime) -> datetime | None:
    """When the earliest pending delivery of the named sinks is due (None: nothing pending).

    Due means: an enabled sink has events after its position (at ``next_attempt_at`` when its
    head is failing, else now), or a queued dead letter's next attempt.
    """
    newest = last_seq(conn)
    states = read_states(conn)
    due: datetime | None = None
    for name in names:
        state = states.get(name) or SinkState(name)
        if state.disabled_at is not None:
            continue
        candidates = [next_replay_at(conn, name)]
        if newest > state.position:
            candidates.append(state.next_attempt_at or now)
        for candidate in candidates:
            if candidate is not None and (due is None or candidate < due):
                due = candidate
    return due


def _since(now: datetime) -> ColumnElement[datetime]:
    """``failing_since`` kept when already set, else ``now``."""
    return func.coalesce(sink_state.c.failing_since, literal(now, UTCDateTime()))


def _compare_and_set(
    conn: Connection, name: str, expected_position: int, values: Mapping[str, object]
) -> bool:
    result = conn.execute(
        update(sink_state)
        .where(and_(sink_state.c.sink == name, sink_state.c.position == expected_position))
        .values(**values)
    )
    return bool(result.rowcount)


def _attempt_row(
    name: str,
    event: OutboxEvent,
    attempt: int,
    now: datetime,
    outcome: str,
    error: str | None = None,
) -> dict[str, object]:
    return {
        "sink": name,
        "event_seq": event.seq,
        "event_id": event.id,
        "attempt": attempt,
        "attempted_at": now,
        "outcome": outcome,
        "error": clip(error) if error is not None else None,
        "next_attempt_at": None,
    }


_EVENT_COLUMNS = (
    events.c.seq,
    events.c.id,
    events.c.type,
    events.c.workspace_id,
    events.c.subject_id,
    events.c.created_at,
    events.c.backfill,
    events.c.payload,
)
