"""``syncd demo``: the simulator, the daemon, SQLite and a readable stdout sink in one process.

No configuration is read: everything the demo needs is set here. Live (non-backfill) events
print one line each; Ctrl-C (or ``--duration``) prints a summary: rows per table, events per
type, requests made.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from syncd.config import Settings
from syncd.daemon.main import Daemon
from syncd.logging import configure_logging
from syncd.sim import EXAMPLE_TOKEN, SimConfig, SimServer, Simulator
from syncd.store import tables
from syncd.store.engine import create_engine_for

DEMO_ACTIVITY_PER_S = 1.5


def demo_settings(base_url: str, database: Path) -> Settings:
    """The demo's configuration: short intervals, a pretty stdout sink without backfill noise."""
    return Settings(
        api={"base_url": base_url, "token": EXAMPLE_TOKEN, "max_requests_per_s": 200},
        database={"url": f"sqlite:///{database}"},
        sync={
            "poll_interval_s": 2,
            "attention_interval_s": 2,
            "status_counts_interval_s": 10,
            "reconcile_interval_s": 600,
        },
        server={"listen": "127.0.0.1:0"},
        # Errors only: the readable event lines on the terminal are the demo's output, and a
        # JSON warning (a status-count drift while the backfill runs) would land among them.
        logging={"level": "error"},
        sinks=[{"name": "demo", "type": "stdout", "format": "pretty", "backfill": "skip"}],
    )


def _remove_old(database: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()


def summary(database: Path, requests: Counter[str]) -> dict[str, Any]:
    """Rows per mirror table, events per type, requests per API route."""
    engine = create_engine_for(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = {
                table.name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
                for table in tables.MIRROR_TABLES
            }
            e = tables.events
            by_type = {
                str(kind): int(count)
                for kind, count in conn.execute(
                    select(e.c.type, func.count()).group_by(e.c.type).order_by(e.c.type)
                )
            }
    finally:
        engine.dispose()
    return {"rows": rows, "events": by_type, "requests": dict(sorted(requests.items()))}


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


async def run_demo(args: argparse.Namespace, database: Path) -> int:
    """Simulator in a thread, daemon in this loop, until Ctrl-C or the duration."""
    console = Console(stderr=True)
    sim = Simulator(
        SimConfig(
            seed=args.seed,
            conversations=args.conversations,
            activity_per_s=DEMO_ACTIVITY_PER_S,
        )
    )
    with SimServer(sim) as server:
        console.print(
            f"[bold]syncd demo[/]: simulator at {server.base_url}, mirror in {database}; "
            "live events below (Ctrl-C to stop)"
        )
        daemon = Daemon(demo_settings(server.base_url, database))
        stopper = None
        if args.duration is not None:
            stopper = asyncio.get_running_loop().call_later(args.duration, daemon.signals.stop.set)
        try:
            code = await daemon.run()
        finally:
            if stopper is not None:
                stopper.cancel()
        requests = Counter(server.request_counts)
    print_summary(summary(database, requests), console)
    return code


def demo_command(args: argparse.Namespace) -> int:
    """Entry point of ``syncd demo``."""
    configure_logging("error")
    database = Path(args.database).resolve()
    _remove_old(database)
    return asyncio.run(run_demo(args, database))
