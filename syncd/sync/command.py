"""``syncd sync``: one complete pass of every stream, then delivery of pending events."""

from __future__ import annotations

import argparse
import asyncio
import sys

from syncd.config import Settings, load_settings
from syncd.events.delivery import deliver_after_sync, report_stream
from syncd.sync.result import PassResult
from syncd.sync.runner import sync_once
from syncd.sync.session import configure_for, open_sync


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


async def run_sync(
    settings: Settings, *, full: bool, workspaces: list[str] | None, deep: bool = False
) -> int:
    """Sync, deliver, report; the exit code reflects the sync only."""
    out = report_stream(settings)
    async with open_sync(settings) as ctx:
        results = await sync_once(ctx, full=full, deep=deep, workspaces=workspaces)
        for result in results:
            print(format_result(result), file=out)
        await deliver_after_sync(ctx)
    failed = [result for result in results if not result.ok]
    for result in failed:
        print(f"syncd: {result.stream} {result.scope} failed: {result.error}", file=sys.stderr)
    return 1 if failed else 0


def sync_command(args: argparse.Namespace) -> int:
    """Entry point of ``syncd sync``."""
    settings = load_settings(args.config)
    configure_for(settings)
    return asyncio.run(
        run_sync(settings, full=args.full, deep=args.deep, workspaces=args.workspaces)
    )
