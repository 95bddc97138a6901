"""Replaying stored events to a sink, and re-enabling a sink a 410 disabled.

Replay by time or id **rewinds** the sink: its position moves back to just before that event,
and everything from there is delivered again in ``seq`` order, including events it had already
received (same ids). So an ordered sink never sees the replayed events out of order with the rest;
a position is never moved forward. ``dead`` queues an unordered sink's dead letters for a new
round of attempts (they are past its position; order among them is kept) and makes an ordered
sink retry its stuck head now. ``syncd events replay`` then delivers to that sink like
``syncd sync`` does (``syncd.events.delivery.deliver_to``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, Engine, func, select

from syncd.clock import utc_now
from syncd.events import ledger
from syncd.store.opening import write
from syncd.store.tables import events

Outcome = Literal["queued", "nothing", "no_such_event"]


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay did: ``queued`` (events to deliver), ``nothing`` to do, or
    ``no_such_event`` (the id given is not stored); and the line that says so."""

    outcome: Outcome
    message: str


def replay(
    engine: Engine,
    name: str,
    *,
    since: datetime | None = None,
    event_id: str | None = None,
    dead: bool = False,
) -> Replay:
    """Queue sink ``name``'s dead letters (``dead``), or rewind it to ``since`` / ``event_id``."""

    def work(conn: Connection) -> Replay:
        ledger.ensure_states(conn, [name])
        if dead:
            return _replay_dead(conn, name)
        return _rewind(conn, name, since=since, event_id=event_id)

    return write(engine, work)


def enable_sink(engine: Engine, name: str) -> bool:
    """Undo the disabling of sink ``name`` by a 410; False when it was not disabled."""

    def work(conn: Connection) -> bool:
        ledger.ensure_states(conn, [name])
        return ledger.enable(conn, name)

    return write(engine, work)


def _replay_dead(conn: Connection, name: str) -> Replay:
    queued = ledger.requeue_dead(conn, name, utc_now())
    retried = ledger.retry_head_now(conn, name)
    if not queued and not retried:
        return Replay(
            "nothing", f"nothing to replay: sink {name} has no dead letters and no failing event"
        )
    parts = []
    if queued:
        parts.append(f"{queued} dead letter(s) queued")
    if retried:
        parts.append("its failing head event is retried now")
    return Replay("queued", f"sink {name}: " + ", ".join(parts))


def _rewind(conn: Connection, name: str, *, since: datetime | None, event_id: str | None) -> Replay:
    if since is not None:
        seq = conn.scalar(select(func.min(events.c.seq)).where(events.c.created_at >= since))
        what = f"events since {since.isoformat()}"
    else:
        seq = conn.scalar(select(events.c.seq).where(events.c.id == event_id))
        what = f"events from {event_id}"
        if seq is None:
            return Replay(
                "no_such_event",
                f"nothing to replay: no stored event {event_id} (pruned, or never existed?)",
            )
    if seq is None:
        return Replay("nothing", f"nothing to replay: no stored {what}")
    old = ledger.rewind(conn, name, int(seq) - 1)
    if old is None:
        return Replay(
            "nothing",
            f"nothing to replay: sink {name} has not received {what} yet (they are pending)",
        )
    return Replay(
        "queued", f"sink {name}: rewound from position {old} to {int(seq) - 1}; re-sending {what}"
    )
