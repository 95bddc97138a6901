"""``syncd demo``: the simulator, the daemon, SQLite and a readable stdout sink in one process.

No configuration is read (``syncd.daemon.demo`` sets everything). Live (non-backfill) events
print one line each; Ctrl-C (or ``--duration``) prints a summary: rows per table, events per
type, requests made.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from syncd.commands.context import CommandContext
from syncd.daemon.demo import demo_settings, demo_simulator, remove_old, run_daemon, summary
from syncd.logging import configure_logging
from syncd.sim import SimServer


def demo_command(ctx: CommandContext) -> int:
    """Start afresh (a previous demo's database removed), run, print the summary."""
    configure_logging("error")  # until the demo's settings take over
    database = Path(ctx.args.database).resolve()
    remove_old(database)
    return asyncio.run(_run_demo(ctx, ctx.args, database))


async def _run_demo(ctx: CommandContext, args: argparse.Namespace, database: Path) -> int:
    console = Console(stderr=True)
    with SimServer(demo_simulator(args)) as server:
        console.print(
            f"[bold]syncd demo[/]: simulator at {server.base_url}, mirror in {database}; "
            "live events below (Ctrl-C to stop)"
        )
        ctx.use(demo_settings(server.base_url, database))
        code = await run_daemon(ctx.settings(), args.duration)
        requests = Counter(server.request_counts)
    print_summary(summary(ctx.engine("unchecked"), requests), console)
    return code


def print_summary(data: dict[str, Any], console: Console) -> None:
    """The summary as three small tables."""
    for title, key, label in (
        ("Rows mirrored", "rows", "table"),
        ("Events stored", "events", "type"),
        ("API requests", "requests", "route"),
    ):
        table = Table(title=title)
        table.add_column(label)
        table.add_column("count", justify="right")
        for name, count in data[key].items():
            table.add_row(name, str(count))
        console.print(table)
