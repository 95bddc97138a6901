"""kill -9 of ``syncd sync`` in the middle of delivery, 20 times: nothing lost, order kept.

Each round adds activity to the simulator, runs ``syncd sync`` and kills it (SIGKILL) from the
loopback webhook receiver itself when it receives its k-th request of the round (k from a seeded
RNG), then runs ``syncd sync`` again to completion. Three sinks watch: a file, a webhook and a
command. In the end every stored event reached every sink at least once, first deliveries are in
``seq`` order, every re-send restarts at or before the next undelivered event (never skips), and
a duplicate carries the same id and the same bytes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import SYNCD, subprocess_env
from sqlalchemy import Engine, select
from standardwebhooks.webhooks import Webhook

from syncd.sim import EXAMPLE_TOKEN, SimConfig, SimServer, Simulator
from syncd.store.tables import events

ROUNDS = 20
SECRET = "whsec_" + "c3luY2Qta2lsbC10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5"
pytestmark = pytest.mark.slow


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures, records ids, and can kill the sender."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    kill_at: int | None = None
    victim: int | None = None
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, pid: int, after: int) -> None:
        with self.lock:
            self.victim, self.kill_at, self.count = pid, after, 0

    def take(self, headers: dict[str, str], body: bytes) -> bool:
        """Record a request; True when the sender was just killed (no answer then)."""
        Webhook(SECRET).verify(body, headers)
        with self.lock:
            self.count += 1
            if self.victim is not None and self.count == self.kill_at:
                os.kill(self.victim, signal.SIGKILL)
                self.victim = None
                return True
            self.received.append((headers["webhook-id"], body))
            return False


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {key.lower(): value for key, value in self.headers.items()}
            if state.take(headers, body):
                self.close_connection = True
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def write_config(tmp_path: Path, base_url: str, hook_url: str) -> Path:
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[api]\nbase_url = "{base_url}"\ntoken = "{EXAMPLE_TOKEN}"\n\n'
        "[events]\ndrain_timeout_s = 5\n\n"
        f'[[sinks]]\nname = "file"\ntype = "file"\npath = "{tmp_path / "file.jsonl"}"\n\n'
        f'[[sinks]]\nname = "hook"\ntype = "webhook"\nurl = "{hook_url}"\nsecret = "{SECRET}"\n\n'
        '[[sinks]]\nname = "cmd"\ntype = "command"\n'
        # a sender killed before writing stdin leaves it empty: write nothing then
        'argv = ["sh", "-c", \'IFS= read -r line; [ -n "$line" ] || exit 1; '
        'printf "%s\\\\n" "$line" >> "$1"\', '
        f'"sh", "{tmp_path / "cmd.jsonl"}"]\n'
    )
    return config


def run_sync(config: Path, env: dict[str, str], receiver: Receiver, kill_after: int | None) -> int:
    process = subprocess.Popen(
        [*SYNCD, "sync", "-c", str(config)],
        env=env,
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is not None:
        receiver.arm(process.pid, kill_after)
    out, err = process.communicate(timeout=300)
    receiver.arm(0, 0)
    if process.returncode != -signal.SIGKILL:
        assert process.returncode == 0, f"{out}\n{err}"
    return process.returncode


def stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(row.id, row.payload) for row in conn.execute(
            select(events.c.id, events.c.payload).order_by(events.c.seq)
        )]  # fmt: skip


def check_stream(name: str, got: list[tuple[str, bytes]], expected: list[tuple[str, str]]) -> None:
    """Every event, first deliveries in order, re-sends restart without skipping, same bytes."""
    index = {event_id: i for i, (event_id, _) in enumerate(expected)}
    payloads = dict(expected)
    highest, previous = -1, -1
    for event_id, body in got:
        assert event_id in index, f"{name}: received an event that is not stored: {event_id}"
        assert body.decode() == payloads[event_id], f"{name}: a re-send changed {event_id}"
        position = index[event_id]
        assert position <= highest + 1, f"{name}: skipped from #{highest} to #{position}"
        assert position == previous + 1 or position <= previous, f"{name}: out of order"
        highest, previous = max(highest, position), position
    assert highest == len(expected) - 1, f"{name}: {len(expected) - 1 - highest} events missing"


def lines(path: Path) -> list[tuple[str, bytes]]:
    if not path.exists():
        return []
    return [(json.loads(line)["id"], line.encode()) for line in path.read_text().splitlines()]


def test_kill_9_during_delivery_never_loses_reorders_or_alters_an_event(
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    receiver: tuple[Receiver, str],
) -> None:
    state, hook_url = receiver
    rng = random.Random(20240501)
    simulator = Simulator(SimConfig(seed=11, conversations=12, workspaces=1))
    env = subprocess_env(db_url)
    kills = 0
    with SimServer(simulator) as server:
        config = write_config(tmp_path, server.base_url, hook_url)
        for round_ in range(ROUNDS):
            if round_:
                for _ in range(rng.randint(5, 25)):
                    simulator.apply_random_activity(rng)
            kill_after = rng.randint(1, 40 if round_ == 0 else 8)
            if run_sync(config, env, state, kill_after) == -signal.SIGKILL:
                kills += 1
            run_sync(config, env, state, None)
            expected = stored(engine)
            check_stream("file", lines(tmp_path / "file.jsonl"), expected)
            check_stream("cmd", lines(tmp_path / "cmd.jsonl"), expected)
            check_stream("hook", state.received, expected)
    assert kills >= ROUNDS // 2, "too few rounds were actually killed during delivery"
    assert len(expected) > 100
