"""Change-to-sink latency: how long a change in oHallo takes to reach a file sink of `syncd run`.

The simulator runs in this process with live random activity; `syncd run` runs as a subprocess
(its own config: poll and attention interval ``--poll-interval``, a file sink). Once the backfill
is done, a new conversation is made at a known time every ``--spacing`` seconds for
``--duration`` seconds, and the time its ``conversation.created`` line appears in the sink (the
file read every 10 ms) is recorded. A probe that the random activity moved to a terminal status
or deleted before syncd saw it is left out (finding those is the reconcile pass's job). Also
reported: the live message events whose ``sentAt`` has milliseconds, from sending to the sink
(their tail is messages added to terminal conversations, which the hot pass does not list).
Target (the freshness contract, README.md): p95 <= poll interval + 1 s.

    python benchmarks/latency.py [--duration 60] [--poll-interval 1] [--activity 5]
                                 [--conversations 500] [--database-url URL]

Without ``--database-url`` a temporary SQLite file is used; a PostgreSQL URL must name an empty
database (syncd migrates it and leaves its tables behind).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from syncd.sim import SimConfig, SimServer, Simulator

TOKEN = "sf_test_v1_LatencyBenchmarkKey00000000"
TERMINAL = ("resolved", "closed", "abandoned")
START_TIMEOUT_S = 120.0


def write_config(path: Path, base_url: str, db_url: str, sink: Path, poll_s: float) -> None:
    path.write_text(
        f"""[api]
base_url = "{base_url}"
token = "{TOKEN}"
max_requests_per_s = 500

[database]
url = {json.dumps(db_url)}

[sync]
poll_interval_s = {poll_s}
attention_interval_s = {poll_s}
status_counts_interval_s = 30
reconcile_interval_s = 3600

[server]
listen = "127.0.0.1:0"

[logging]
format = "json"

[[sinks]]
name = "file"
type = "file"
path = {json.dumps(str(sink))}
""",
        encoding="utf-8",
    )


def health_port(stderr: Path, process: subprocess.Popen[bytes]) -> int:
    """The health server's port, from the daemon's ``health_server_listening`` log line."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"syncd run exited:\n{stderr.read_text()[-3000:]}")
        for line in stderr.read_text().splitlines():
            if '"health_server_listening"' in line:
                return int(json.loads(line)["port"])
        time.sleep(0.05)
    raise SystemExit("syncd run did not start listening")


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> float:
    """Seconds until ``/readyz`` answers 200 (backfill and first hot pass done)."""
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        if process.poll() is not None:
            raise SystemExit("syncd run exited before it was ready")
        if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit("syncd run was not ready in time")


class Sink:
    """The file sink, read as it grows; each complete line with the time it was first seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.lines: list[tuple[dict[str, Any], float]] = []

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        now = time.time()
        self.offset += len(chunk)
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        self.lines.extend((json.loads(line), now) for line in complete)


def figures(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<28} none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{label:<28} n={len(values):<4} p50 {statistics.median(values):5.2f} s   "
        f"p95 {p95:5.2f} s   max {max(values):5.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of probes")
    parser.add_argument("--spacing", type=float, default=0.73, help="seconds between probes")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--activity", type=float, default=5.0, help="random changes per second")
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()

    sim = Simulator(
        SimConfig(seed=7, conversations=args.conversations, activity_per_s=args.activity)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    with tempfile.TemporaryDirectory(prefix="syncd-latency-") as tmp, SimServer(sim) as server:
        workdir = Path(tmp)
        db_url = args.database_url or f"sqlite:///{workdir / 'latency.db'}"
        sink_path, config, stderr = (
            workdir / "events.jsonl",
            workdir / "syncd.toml",
            workdir / "err",
        )
        write_config(config, server.base_url, db_url, sink_path, args.poll_interval)
        with stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "syncd.cli", "run", "-c", str(config)],
                env=env,
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        try:
            port = health_port(stderr, process)
            ready_s = wait_ready(port, process)
            print(
                f"syncd run ready after {ready_s:.1f} s ({args.conversations} conversations, "
                f"{db_url.partition(':')[0]}); probing for {args.duration:.0f} s with "
                f"{args.activity}/s random activity, poll interval {args.poll_interval} s"
            )
            sink = Sink(sink_path)
            probes: dict[str, float] = {}
            workspaces = sim.workspace_ids()
            started = next_probe = time.monotonic()
            while time.monotonic() - started < args.duration:
                if time.monotonic() >= next_probe:
                    cid = sim.add_conversation(workspaces[len(probes) % len(workspaces)])
                    probes[cid] = time.time()
                    next_probe += args.spacing
                sink.poll()
                time.sleep(0.01)
            drain_until = time.monotonic() + args.poll_interval + 10
            while time.monotonic() < drain_until:
                sink.poll()
                seen = {
                    line["data"]["id"]
                    for line, _ in sink.lines
                    if line["type"] == "conversation.created"
                }
                if all(cid in seen for cid in probes):
                    break
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()

    arrived = {
        line["data"]["id"]: at
        for line, at in sink.lines
        if line["type"] == "conversation.created" and line["data"]["id"] in probes
    }
    latencies = [arrived[cid] - made for cid, made in probes.items() if cid in arrived]
    lost = [cid for cid in probes if cid not in arrived]
    disturbed = [c for c in lost if sim.is_deleted(c) or sim.conversation(c).status in TERMINAL]
    messages = []
    for line, at in sink.lines:
        sent = line["data"].get("sentAt", "") if line["type"].startswith("message.") else ""
        if not line["backfill"] and re.fullmatch(r".*\.\d{3}Z", sent):
            messages.append(at - datetime.fromisoformat(sent).timestamp())
    print(figures("new conversation -> sink", latencies))
    print(figures("live message -> sink", messages))
    print(
        "  (live messages include those added to terminal conversations: by design the hot pass "
        "finds them\n   only when the conversation is hot again, or at the next reconcile)"
    )
    print(
        f"probes: {len(probes)} made, {len(latencies)} arrived, {len(disturbed)} moved out of "
        f"the hot set by activity first, {len(lost) - len(disturbed)} missing; "
        f"syncd run exited {code}"
    )
    target = args.poll_interval + 1
    p95 = sorted(latencies)[round(0.95 * (len(latencies) - 1))] if latencies else float("inf")
    verdict = "ok" if p95 <= target and len(lost) == len(disturbed) and code == 0 else "FAILED"
    print(f"target p95 <= {target:.1f} s: {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
