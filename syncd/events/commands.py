"""``syncd events list | replay | enable``.

Replay by time or id **rewinds** the sink: its position moves back to just before that event,
and everything from there is delivered again in ``seq`` order, including events it had already
received (same ids). So an ordered sink never sees the replayed events out of order with the rest;
a position is never moved forward. ``--dead`` queues an unordered sink's dead letters for a new
round of attempts (they are past its position; order among them is kept) and makes an ordered
sink retry its stuck head now. Either way the command then delivers to that sink like
``syncd sync`` does (for at most ``events.drain_timeout_s``); what is left goes on in the daemon
or the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, select

from syncd.clock import utc_now
from syncd.config import Settings, SinkSettings, load_settings, secret_values
from syncd.events import ledger
from syncd.events.delivery import LABEL, build_dispatcher
from syncd.events.envelope import EVENT_TYPES
from syncd.events.listing import list_events
from syncd.events.rules import SinkRule, matches_any_event_type
from syncd.events.sink_status import describe_delivery, sink_status
from syncd.logging import configure_logging
from syncd.store.engine import DEFERRED, create_engine_for
from syncd.store.existing import database_label, open_existing
from syncd.store.migrate import ensure_schema
from syncd.store.tables import events

EXIT_USAGE = 2
_NO_SUCH_EVENT = "nothing to replay: no stored event"


class _Usage(Exception):
    """A bad argument: printed, exit 2."""


def list_command(args: argparse.Namespace) -> int:
    """``syncd events list [--sink NAME] [--status S] [--type T] [--since TIME] [--limit N]
    [--json]``; reads only (a missing database is an error, never created)."""
    settings = _settings(args)
    types: list[str] = list(getattr(args, "types", None) or [])
    try:
        entries = [_sink(settings, args.sink)] if args.sink else list(settings.sinks)
        since = _parse_time(args.since) if getattr(args, "since", None) else None
        unknown = [t for t in types if not matches_any_event_type(t)]
        if unknown:
            raise _Usage(
                f"--type {unknown[0]}: matches no event type (known: {', '.join(EVENT_TYPES)})"
            )
    except _Usage as exc:
        return _usage(str(exc))
    if args.limit < 1:
        return _usage("--limit must be at least 1")
    rules = [SinkRule.from_settings(entry) for entry in entries]
    engine = open_existing(settings)
    try:
        with engine.execution_options(**DEFERRED).connect() as conn, conn.begin():
            listed = list_events(
                conn, rules, status=args.status, limit=args.limit, types=types, since=since
            )
    finally:
        engine.dispose()
    if args.json:
        print(f"syncd: database {database_label(settings)}", file=sys.stderr)
        print(json.dumps([event.to_json() for event in listed], ensure_ascii=False, indent=2))
        return 0
    print(f"database: {database_label(settings)}")
    if not listed:
        print("no events" + (f" with status {args.status}" if args.status else ""))
        return 0
    print(f"{'SEQ':>8}  {'ID':<36}  {'CREATED':<20}  {'TYPE':<36}  SINK=DELIVERY")
    for event in listed:
        states = "  ".join(
            f"{name}={state.status}"
            + (f"({state.attempts} attempts)" if state.attempts > 1 else "")
            for name, state in event.sinks.items()
        )
        flag = " backfill" if event.backfill else ""
        when = event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        kind = event.type + flag
        print(f"{event.seq:>8}  {event.id:<36}  {when:<20}  {kind:<36}  {states}".rstrip())
        for name, state in event.sinks.items():
            if state.last_error and (args.sink or state.status in ("dead", "pending")):
                print(f"{'':>10}{name}: {state.last_error}")
    return 0


def replay_command(args: argparse.Namespace) -> int:
    """``syncd events replay --sink NAME (--since TIME | --from-id ID | --dead)``."""
    settings = _settings(args)
    try:
        entry = _sink(settings, args.sink)
        since = _parse_time(args.since) if args.since else None
    except _Usage as exc:
        return _usage(str(exc))
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            ledger.ensure_states(conn, [entry.name])
            if args.dead:
                message = _replay_dead(conn, entry.name)
            else:
                message = _rewind(conn, entry.name, since=since, event_id=args.from_id)
        print(message)
        if message.startswith("nothing"):
            return 1 if message.startswith(_NO_SUCH_EVENT) else 0
        return asyncio.run(_deliver(engine, settings, entry.name))
    finally:
        engine.dispose()


def enable_command(args: argparse.Namespace) -> int:
    """``syncd events enable --sink NAME``: undo the disabling by a 410."""
    settings = _settings(args)
    try:
        entry = _sink(settings, args.sink)
    except _Usage as exc:
        return _usage(str(exc))
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            ledger.ensure_states(conn, [entry.name])
            enabled = ledger.enable(conn, entry.name)
    finally:
        engine.dispose()
    if enabled:
        print(
            f"sink {entry.name}: enabled; delivery resumes with the next `syncd sync` "
            "or within a minute in a running daemon"
        )
    else:
        print(f"sink {entry.name}: was not disabled; nothing to do")
    return 0


def _replay_dead(conn: Connection, name: str) -> str:
    queued = ledger.requeue_dead(conn, name, utc_now())
    retried = ledger.retry_head_now(conn, name)
    if not queued and not retried:
        return f"nothing to replay: sink {name} has no dead letters and no failing event"
    parts = []
    if queued:
        parts.append(f"{queued} dead letter(s) queued")
    if retried:
        parts.append("its failing head event is retried now")
    return f"sink {name}: " + ", ".join(parts)


def _rewind(conn: Connection, name: str, *, since: datetime | None, event_id: str | None) -> str:
    if since is not None:
        seq = conn.scalar(select(func.min(events.c.seq)).where(events.c.created_at >= since))
        what = f"events since {since.isoformat()}"
    else:
        seq = conn.scalar(select(events.c.seq).where(events.c.id == event_id))
        what = f"events from {event_id}"
        if seq is None:
            return f"{_NO_SUCH_EVENT} {event_id} (pruned, or never existed?)"
    if seq is None:
        return f"nothing to replay: no stored {what}"
    old = ledger.rewind(conn, name, int(seq) - 1)
    if old is None:
        return f"nothing to replay: sink {name} has not received {what} yet (they are pending)"
    return f"sink {name}: rewound from position {old} to {int(seq) - 1}; re-sending {what}"


async def _deliver(engine: Engine, settings: Settings, name: str) -> int:
    dispatcher, broken = build_dispatcher(engine, settings, only=name)
    if broken:
        print(f"syncd: sink {name} cannot be built: {broken[name]}", file=sys.stderr)
        return 1
    async with dispatcher:
        reports = await dispatcher.drain(settings.events.drain_timeout_s)

    def status() -> dict[str, object]:
        with engine.execution_options(**DEFERRED).connect() as conn, conn.begin():
            return next(s for s in sink_status(conn, settings) if s["name"] == name)

    found = await asyncio.to_thread(status)
    print(f"{LABEL:<14} {name}: {describe_delivery(reports[name].delivered, found)}")
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format, secret_values(settings))
    return settings


def _engine(settings: Settings) -> Engine:
    engine = create_engine_for(settings.database.url.get_secret_value())
    ensure_schema(settings, engine)
    return engine


def _sink(settings: Settings, name: str) -> SinkSettings:
    for entry in settings.sinks:
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in settings.sinks) or "none"
    raise _Usage(f"--sink {name}: no such sink in the configuration (configured: {known})")


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Usage(
            f"--since {value!r}: not an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _usage(message: str) -> int:
    print(f"syncd: {message}", file=sys.stderr)
    return EXIT_USAGE
