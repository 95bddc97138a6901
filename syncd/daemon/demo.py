"""What ``syncd demo`` runs: the simulator, the daemon, SQLite and a readable stdout sink in one
process (the command, its banner and summary tables are ``syncd.commands.demo``).

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

from sqlalchemy import Connection, Engine

from syncd.config import Settings
from syncd.daemon.main import Daemon
from syncd.events.outbox import event_type_counts
from syncd.sim import EXAMPLE_TOKEN, SimConfig, Simulator
from syncd.store.opening import read
from syncd.sync.mirror import Mirror

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


def remove_old(database: Path) -> None:
    """Delete a previous demo's database (and its WAL, shared-memory and lock files)."""
    for suffix in ("", "-wal", "-shm", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()


def summary(engine: Engine, requests: Counter[str]) -> dict[str, Any]:
    """Rows per mirror table, events per type, requests per API route."""

    def gather(conn: Connection) -> dict[str, Any]:
        return {
            "rows": Mirror(conn).table_sizes(),
            "events": event_type_counts(conn),
            "requests": dict(sorted(requests.items())),
        }

    return read(engine, gather)


def demo_simulator(args: argparse.Namespace) -> Simulator:
    """The simulator the demo serves."""
    return Simulator(
        SimConfig(
            seed=args.seed,
            conversations=args.conversations,
            activity_per_s=DEMO_ACTIVITY_PER_S,
        )
    )


async def run_daemon(settings: Settings, duration: float | None) -> int:
    """The daemon in this loop until Ctrl-C or ``duration`` seconds; its exit code."""
    daemon = Daemon(settings)
    stopper = None
    if duration is not None:
        stopper = asyncio.get_running_loop().call_later(duration, daemon.signals.stop.set)
    try:
        return await daemon.run()
    finally:
        if stopper is not None:
            stopper.cancel()
