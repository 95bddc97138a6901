"""A backfill killed at a random page resumes from its checkpoint and ends as if never killed.

``syncd sync`` runs as a subprocess against a simulator started here; it is SIGKILLed once the
page a seeded RNG picked is committed, then run again to completion. The mirror must equal a
reference mirror synced uninterrupted from an identical simulator (same seed), and the outbox must
hold the same events: nothing lost, nothing told twice.
"""

from __future__ import annotations

import random
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SYNCD
from sqlalchemy import Engine, func, select
from sync_support import (
    events,
    mirror_snapshot,
    run_syncd,
    syncd_env,
    wait_for,
    wipe,
)

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.store import tables

CONVERSATIONS = 250  # pages of 100, 100 and 50
PAGES = 3
# With 16 requests in flight, even the last page (50 details, 50 attachment lists) takes 300 ms or
# more: far longer than the poll below takes to notice a commit and kill.
LATENCY_MS = 50.0


def simulator(latency_ms: float = 0.0) -> Simulator:
    return Simulator(
        SimConfig(
            seed=21,
            conversations=CONVERSATIONS,
            messages_per_conversation=2,
            latency_ms=latency_ms,
        )
    )


@dataclass(frozen=True)
class Outcome:
    """What a sync leaves behind, minus when it looked."""

    mirror: dict[str, list[tuple[Any, ...]]]
    events: Counter[tuple[str, str, bool]]


def outcome(engine: Engine) -> Outcome:
    told = events(engine)
    ids = [e["id"] for e in told]
    assert len(set(ids)) == len(ids), "event ids are unique"
    created = Counter((e["type"], e["subject_id"]) for e in told if e["type"].endswith(".created"))
    assert [key for key, n in created.items() if n > 1] == [], "nothing is created twice"
    return Outcome(
        mirror_snapshot(engine),
        Counter((e["type"], e["subject_id"], bool(e["backfill"])) for e in told),
    )


_REFERENCES: dict[str, Outcome] = {}


def reference(engine: Engine, db_url: str, cwd: Path) -> Outcome:
    """The uninterrupted run, once per database kind: synced into ``db_url``, kept, wiped."""
    kind = engine.dialect.name
    if kind not in _REFERENCES:
        with SimServer(simulator()) as server:
            done = run_syncd(["sync"], syncd_env(db_url, server.base_url), cwd)
        assert done.returncode == 0, done.stderr
        _REFERENCES[kind] = outcome(engine)
        wipe(engine)
    return _REFERENCES[kind]


def reconcile_state(engine: Engine) -> dict[str, Any]:
    s = tables.sync_state
    query = select(s).where(s.c.workspace_id == "*", s.c.stream == "reconcile")
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else {}


def conversations_stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(tables.conversations)) or 0)


@pytest.mark.parametrize("seed", [3, 5])  # pick pages 1 and 2
def test_a_killed_backfill_resumes_and_ends_identical_to_an_uninterrupted_one(
    seed: int, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    expected = reference(engine, db_url, tmp_path)
    assert len(expected.mirror["conversations"]) == CONVERSATIONS
    page = random.Random(seed).randint(1, PAGES - 1)  # killed while walking a later page

    sim = simulator(latency_ms=LATENCY_MS)
    with SimServer(sim) as server:
        env = syncd_env(db_url, server.base_url)
        log = tmp_path / "killed.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [*SYNCD, "sync"], env=env, cwd=tmp_path, stdout=output, stderr=output
            )
        try:

            def page_committed() -> bool:
                assert process.poll() is None, f"ended before the kill:\n{log.read_text()}"
                state = reconcile_state(engine)
                return state.get("cursor") is not None and (
                    conversations_stored(engine) >= page * 100
                )

            wait_for(page_committed, timeout=90, what=f"page {page} of the backfill")
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL

        state = reconcile_state(engine)
        assert state["pass_started_at"] is not None, "killed in the middle of the walk"
        assert state["last_success_at"] is None
        stored = conversations_stored(engine)
        assert page * 100 <= stored < CONVERSATIONS
        assert stored % 100 == 0, "a page's rows are committed together"

        sim.faults.latency_ms = 0.0
        server.reset_counts()
        resumed = run_syncd(["sync"], env, tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert '"reconcile_resumed"' in resumed.stderr
        # From the checkpoint on: the pages not committed yet, the details not fetched yet.
        unfiltered = [
            r
            for r in server.request_log
            if r.route == "list_conversations"
            and "status=" not in r.path
            and "contactId=" not in r.path
        ]
        walked = [r for r in unfiltered if "cursor=" in r.path]
        assert len(walked) == PAGES - stored // 100
        # ... and the hot pass's head read: one first page (the list is not newest-first).
        assert len(unfiltered) - len(walked) == 1
        assert server.request_counts["get_conversation"] == CONVERSATIONS - stored

    actual = outcome(engine)
    assert actual.events == expected.events
    for name, rows in expected.mirror.items():
        assert actual.mirror[name] == rows, f"table {name} differs from the uninterrupted run"
