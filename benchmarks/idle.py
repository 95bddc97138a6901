"""Idle cost against ``syncd sim serve --conversations 2000`` (issue #9's must-show).

The simulator is built exactly as ``syncd sim serve --conversations N --activity-per-s 0`` builds
it (same command-line parser, same defaults), but in this process, so its request counters can
be read. syncd runs as subprocesses with default settings (poll 30 s, attention 15 s, status
counts 300 s, refresh 900 s over 7 recent days) into a temporary SQLite file.

1. ``syncd sync`` twice: the backfill, then a no-change sync. Printed: the no-change sync's
   requests by route against the idle formula of README.md ("How syncd finds changes") — Σ over
   non-terminal statuses max(1, ⌈n/100⌉) list requests + 1 head page + 2 attention requests + 1
   status-counts request per workspace + the refresh share for the time between the two syncs
   (recent conversations x 2 x Δt / refresh_interval_s); conversations whose attachments never
   settle add nothing right after the backfill (their backoff starts at how long they have already
   waited).

2. ``syncd run`` for ``--minutes`` on that mirror, nothing changing. Printed: requests per
   minute against the formula per minute (the same parts at their intervals, plus for each
   conversation with unsettled attachments one read per its current backoff step), and the
   ratio (bound: 1.1).

    python benchmarks/idle.py [--conversations 2000] [--minutes 5]

Exit status 1 when a figure is over its bound.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from syncd.cli import build_parser
from syncd.config import SyncSettings
from syncd.sim import SimServer, Simulator
from syncd.sim.serve import config_from_args
from syncd.sync.plan import hot_statuses

TOKEN = "sf_test_v1_IdleBenchmarkKey000000000000"
BOUND = 1.1


def simulator(conversations: int) -> Simulator:
    """The simulator ``syncd sim serve`` would serve with these options."""
    args = build_parser().parse_args(
        ["sim", "serve", "--conversations", str(conversations), "--activity-per-s", "0"]
    )
    return Simulator(config_from_args(args))


def syncd(args: list[str], config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run(
        [sys.executable, "-m", "syncd.cli", *args, "-c", str(config)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def non_terminal(sim: Simulator, terminal: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for workspace in sim.workspace_ids():
        counts.update({k: v for k, v in sim.status_counts(workspace).items() if v})
    return Counter({s: counts[s] for s in hot_statuses(counts, terminal)})


def backoff_steps(db: Path) -> list[float]:
    """The current backoff step of every conversation with unsettled attachments."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT attachments_backoff_s FROM conversations WHERE attachments_pending"
        ).fetchall()
    return [float(step) for (step,) in rows if step]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=5.0)
    options = parser.parse_args()
    sync = SyncSettings()
    sim = simulator(options.conversations)
    lists = non_terminal(sim, sync.terminal_statuses)
    pages = sum(max(1, math.ceil(n / 100)) for n in lists.values()) + 1  # + the head page
    recent = sum(lists.values())
    workspaces = len(sim.workspace_ids())
    failed = False
    with SimServer(sim) as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "mirror.db"
        config = work / "syncd.toml"
        config.write_text(
            f'[api]\nbase_url = "{server.base_url}"\ntoken = "{TOKEN}"\n'
            f'[database]\nurl = "sqlite:///{db}"\n[server]\nlisten = "127.0.0.1:0"\n'
        )
        started = time.monotonic()
        backfill = syncd(["sync"], config, work)
        assert backfill.returncode == 0, backfill.stderr[-2000:]
        print(
            f"backfill of {options.conversations} conversations: "
            f"{time.monotonic() - started:.1f} s, {sum(server.request_counts.values())} requests"
        )
        between = time.monotonic()
        server.reset_counts()
        again = syncd(["sync"], config, work)
        assert again.returncode == 0, again.stderr[-2000:]
        elapsed = time.monotonic() - between
        used = server.request_counts
        share = recent * 2 * elapsed / sync.refresh_interval_s
        formula = pages + 2 + workspaces + share
        print(f"no-change syncd sync: {sum(used.values())} requests {dict(sorted(used.items()))}")
        print(
            f"  formula: {pages} list pages (head page included) + 2 attention + {workspaces} "
            f"status counts + refresh share {share:.1f} ({recent} recent x 2 x {elapsed:.1f} s "
            f"/ {sync.refresh_interval_s:.0f} s) = {formula:.1f}"
        )
        ok = sum(used.values()) <= formula
        failed |= not ok
        print(f"  {'ok' if ok else 'OVER'}: at most the formula")

        log = (work / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syncd.cli", "run", "-c", str(config)],
            env={k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")},
            cwd=work,
            stdout=log,
            stderr=log,
        )
        try:
            time.sleep(5)  # start-up: the first passes of a daemon on a complete mirror
            server.reset_counts()
            window = time.monotonic()
            time.sleep(options.minutes * 60)
            used = server.request_counts
            minutes = (time.monotonic() - window) / 60
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        steps = backoff_steps(db)
        parts = {
            "status lists + head page": pages * 60 / sync.poll_interval_s,
            "attention": 2 * 60 / sync.attention_interval_s,
            "status counts": workspaces * 60 / sync.status_counts_interval_s,
            "refresh share": recent * 2 * 60 / sync.refresh_interval_s,
            "unsettled attachments": sum(60 / step for step in steps),
        }
        per_minute = sum(used.values()) / minutes
        formula = sum(parts.values())
        print(
            f"idle syncd run, {minutes:.1f} min: {per_minute:.1f} requests/min "
            f"{dict(sorted(used.items()))}"
        )
        for name, value in parts.items():
            print(f"  formula {name}: {value:.1f}/min")
        ratio = per_minute / formula
        ok = ratio <= BOUND
        failed |= not ok
        print(
            f"  {per_minute:.1f} / {formula:.1f} per minute = {ratio:.3f} x the formula "
            f"(<= {BOUND}): {'ok' if ok else 'OVER'}; {len(steps)} conversations with "
            "unsettled attachments"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
