"""``syncd events list | replay | enable`` (``syncd.events.listing``, ``syncd.events.replay``).

``replay`` rewinds the sink (or requeues its dead letters with ``--dead``), then delivers to it
like ``syncd sync`` does, for at most ``events.drain_timeout_s``; what is left goes on in the
daemon or the next run.
"""

from __future__ import annotations

import asyncio
import json
import sys

from syncd.commands.context import EXIT_FAILED, EXIT_OK, CommandContext, UsageError, time_option
from syncd.config import Settings, SinkSettings
from syncd.events.delivery import deliver_to
from syncd.events.envelope import EVENT_TYPES
from syncd.events.listing import ListedEvent, list_events
from syncd.events.replay import enable_sink, replay
from syncd.events.rules import SinkRule, matches_any_event_type
from syncd.store.existing import database_label
from syncd.store.opening import read


def list_command(ctx: CommandContext) -> int:
    """``syncd events list [--sink NAME] [--status S] [--type T] [--since TIME] [--limit N]
    [--json]``; reads only (a missing database is an error, never created)."""
    args = ctx.args
    settings = ctx.settings()
    types: list[str] = list(getattr(args, "types", None) or [])
    entries = [sink_entry(settings, args.sink)] if args.sink else list(settings.sinks)
    since = time_option("--since", args.since) if getattr(args, "since", None) else None
    unknown = [t for t in types if not matches_any_event_type(t)]
    if unknown:
        raise UsageError(
            f"--type {unknown[0]}: matches no event type (known: {', '.join(EVENT_TYPES)})"
        )
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    rules = [SinkRule.from_settings(entry) for entry in entries]
    listed = read(
        ctx.engine("existing"),
        lambda conn: list_events(
            conn, rules, status=args.status, limit=args.limit, types=types, since=since
        ),
    )
    if args.json:
        print(f"syncd: database {database_label(settings)}", file=sys.stderr)
        print(json.dumps([event.to_json() for event in listed], ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"database: {database_label(settings)}")
    if not listed:
        print("no events" + (f" with status {args.status}" if args.status else ""))
        return EXIT_OK
    print(f"{'SEQ':>8}  {'ID':<36}  {'CREATED':<20}  {'TYPE':<36}  SINK=DELIVERY")
    for event in listed:
        _print_event(event, errors_of_all=bool(args.sink))
    return EXIT_OK


def _print_event(event: ListedEvent, *, errors_of_all: bool) -> None:
    states = "  ".join(
        f"{name}={state.status}" + (f"({state.attempts} attempts)" if state.attempts > 1 else "")
        for name, state in event.sinks.items()
    )
    flag = " backfill" if event.backfill else ""
    when = event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    kind = event.type + flag
    print(f"{event.seq:>8}  {event.id:<36}  {when:<20}  {kind:<36}  {states}".rstrip())
    for name, state in event.sinks.items():
        if state.last_error and (errors_of_all or state.status in ("dead", "pending")):
            print(f"{'':>10}{name}: {state.last_error}")


def replay_command(ctx: CommandContext) -> int:
    """``syncd events replay --sink NAME (--since TIME | --from-id ID | --dead)``: exit 1 when
    the event id given is not stored."""
    args = ctx.args
    settings = ctx.settings()
    entry = sink_entry(settings, args.sink)
    since = time_option("--since", args.since) if args.since else None
    engine = ctx.engine()
    done = replay(engine, entry.name, since=since, event_id=args.from_id, dead=args.dead)
    print(done.message)
    if done.outcome == "no_such_event":
        return EXIT_FAILED
    if done.outcome == "queued":
        print(asyncio.run(deliver_to(engine, settings, entry.name)))
    return EXIT_OK


def enable_command(ctx: CommandContext) -> int:
    """``syncd events enable --sink NAME``: undo the disabling by a 410."""
    settings = ctx.settings()
    entry = sink_entry(settings, ctx.args.sink)
    if enable_sink(ctx.engine(), entry.name):
        print(
            f"sink {entry.name}: enabled; delivery resumes with the next `syncd sync` "
            "or within a minute in a running daemon"
        )
    else:
        print(f"sink {entry.name}: was not disabled; nothing to do")
    return EXIT_OK


def sink_entry(settings: Settings, name: str) -> SinkSettings:
    """The configured sink ``--sink NAME`` names, else a UsageError listing the sinks."""
    for entry in settings.sinks:
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in settings.sinks) or "none"
    raise UsageError(f"--sink {name}: no such sink in the configuration (configured: {known})")
