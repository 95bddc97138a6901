"""``syncd sync``: one complete pass of every stream, then delivery of pending events."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from sqlalchemy import Engine

from syncd.commands.context import EXIT_FAILED, EXIT_OK, CommandContext
from syncd.config import Settings, StdoutSinkSettings
from syncd.events.delivery import deliver_pending
from syncd.events.report import SinkReport
from syncd.sync.context import SyncContext
from syncd.sync.result import PassResult
from syncd.sync.runner import sync_once
from syncd.sync.session import open_sync


def sync_command(ctx: CommandContext) -> int:
    """``syncd sync [--full] [--deep] [--workspace ID ...]``."""
    args = ctx.args
    settings = ctx.settings()
    settings.api.require_token()  # before the database is opened (and maybe migrated)
    return asyncio.run(
        run_sync(settings, ctx.engine(), full=args.full, deep=args.deep, workspaces=args.workspaces)
    )


async def run_sync(
    settings: Settings,
    engine: Engine,
    *,
    full: bool,
    workspaces: list[str] | None,
    deep: bool = False,
) -> int:
    """Sync, deliver, report; the exit code reflects the sync only."""
    out = report_stream(settings)
    async with open_sync(settings, engine=engine) as ctx:
        results = await sync_once(ctx, full=full, deep=deep, workspaces=workspaces)
        for result in results:
            print(format_result(result), file=out)
        await deliver_after_sync(ctx)
    failed = [result for result in results if not result.ok]
    for result in failed:
        print(f"syncd: {result.stream} {result.scope} failed: {result.error}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def deliver_after_sync(ctx: SyncContext) -> dict[str, SinkReport]:
    """Deliver pending events (``syncd.events.delivery.deliver_pending``), print one line per
    sink; the report per sink."""
    outcome = await deliver_pending(ctx)
    out = report_stream(ctx.settings)
    for line in outcome.lines:
        print(line, file=out)
    return outcome.reports


def report_stream(settings: Settings) -> TextIO:
    """Where ``syncd sync`` prints its summary: stderr when a stdout sink owns stdout."""
    owns_stdout = any(isinstance(sink, StdoutSinkSettings) for sink in settings.sinks)
    return sys.stderr if owns_stdout else sys.stdout


def format_result(result: PassResult) -> str:
    """One line per pass, for people and for grep."""
    if not result.ok:
        return f"{result.stream:<14} {result.scope}: FAILED: {result.error}"
    line = (
        f"{result.stream:<14} {result.scope}: ok, {result.rows_seen} rows, "
        f"{result.details_fetched} fetched, {result.events} events"
    )
    if result.skipped:
        line += f", {result.skipped} malformed rows skipped"
    if result.heal_kind:
        line += f", {result.heal_kind} drift"
    if result.drift:
        line += f", drift {result.drift}"
    if result.purged:
        line += f", purged {sum(result.purged.values())} rows"
    return line
