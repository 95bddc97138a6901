"""Two ``syncd run`` on one database, as real processes.

PostgreSQL: the instances share the work by scope (advisory locks); no scope's passes ever run in
both at once, and when the owner of a scope dies (SIGKILL, in the middle of that scope's backfill)
the other takes the scope over within one poll interval and finishes the backfill.
SQLite: a second daemon on the same file refuses to start, saying why; a killed daemon leaves no
stale lock behind.

Which instance ran which pass when comes from the daemons' own ``pass_started`` /
``pass_finished`` debug log lines (JSON on stderr).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_support import Daemon, Processes, wait_for, write_config
from sqlalchemy import Engine, select

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.store import tables

POLL_S = 1.0
JITTER_S = 0.1  # jitter_for(1 s)
SHUTDOWN_S = 5.0


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with Processes(tmp_path) as started:
        yield started


def at(line: dict[str, Any]) -> float:
    """A log line's time as Unix seconds."""
    return datetime.fromisoformat(line["timestamp"]).timestamp()


def pass_intervals(daemon: Daemon, end_of_life: float) -> dict[str, list[tuple[float, float]]]:
    """Per scope, the (start, end) of every pass the daemon ran; a pass still running when the
    process ended (SIGKILL) lasts until ``end_of_life``."""
    open_passes: dict[tuple[str, str], float] = {}
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in daemon.logs():
        key = (line.get("stream", ""), line.get("scope", ""))
        if line["event"] == "pass_started":
            assert key not in open_passes, f"{key} started twice in {daemon.name}"
            open_passes[key] = at(line)
        elif line["event"] == "pass_finished":
            found[key[1]].append((open_passes.pop(key), at(line)))
    for (_, scope), start in open_passes.items():
        found[scope].append((start, end_of_life))
    return found


def reconcile_states(engine: Engine) -> dict[str, dict[str, Any]]:
    s = tables.sync_state
    with engine.connect() as conn:
        rows = conn.execute(select(s).where(s.c.stream == "reconcile")).mappings()
        return {row["workspace_id"]: dict(row) for row in rows}


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_daemons_on_postgresql_never_run_a_scope_at_once_and_take_over_on_death(
    db_url: str, engine: Engine, tmp_path: Path, processes: Processes
) -> None:
    sim = Simulator(
        SimConfig(seed=21, workspaces=2, conversations=160, messages_per_conversation=2)
    )
    with SimServer(sim) as server:
        scopes = sim.workspace_ids()
        config = write_config(
            tmp_path / "syncd.toml",
            base_url=server.base_url,
            db_url=db_url,
            sync={"workspaces": scopes, "status_counts_interval_s": 2},
            # ~350 requests at 60/s: a backfill is still running when its owner is killed.
            api={"max_requests_per_s": 60},
            logging={"level": "debug"},
        )
        daemons = {name: processes.daemon(config, db_url, name=name) for name in ("a", "b")}

        def owner(scope: str) -> Daemon | None:
            runs = [d for d in daemons.values() if d.events("pass_started", scope=scope)]
            assert len(runs) <= 1, f"{scope} run by {[d.name for d in runs]}"
            return runs[0] if runs else None

        def victim() -> tuple[str, Daemon] | None:
            """A scope in the middle of its backfill, once both instances serve."""
            for daemon in daemons.values():
                assert daemon.running, daemon.describe()
                if not daemon.events("daemon_started"):
                    return None
            states = reconcile_states(engine)
            for scope in scopes:
                state = states.get(scope)
                holder = owner(scope)
                if state and state["pass_started_at"] and not state["last_success_at"] and holder:
                    return scope, holder
            return None

        scope, dead = wait_for(victim, 30, "a backfill under way")
        killed_at = time.time()
        dead.kill_group()
        survivor = next(d for d in daemons.values() if d is not dead)

        def taken_over() -> float | None:
            assert survivor.running, survivor.describe()
            starts = [
                at(line)
                for line in survivor.events("pass_started", stream="hot", scope=scope)
                if at(line) >= killed_at
            ]
            return starts[0] if starts else None

        takeover = wait_for(taken_over, 15, f"{survivor.name} to take {scope} over") - killed_at
        print(f"{survivor.name} took {scope} over {takeover:.2f} s after {dead.name} died")
        assert takeover <= POLL_S + JITTER_S + 1.0, f"took over after {takeover:.2f} s"

        def backfilled() -> bool:
            assert survivor.running, survivor.describe()
            states = reconcile_states(engine)
            return all(states.get(s, {}).get("last_success_at") is not None for s in scopes)

        wait_for(backfilled, 45, "every backfill to finish")
        assert survivor.events("reconcile_due_on_takeover", scope=scope)
        code, _ = survivor.stop(timeout=SHUTDOWN_S + 10)
        assert code == 0, survivor.describe()
        assert not survivor.errors(), survivor.errors()

    # Never at the same time: per scope, the passes of the two instances never overlap, and
    # until the owner died only the owner ran any of that scope's passes.
    dead_runs = pass_intervals(dead, end_of_life=killed_at)
    survivor_runs = pass_intervals(survivor, end_of_life=time.time())
    for name in scopes:
        for start, end in survivor_runs.get(name, []):
            for other_start, other_end in dead_runs.get(name, []):
                assert end <= other_start or other_end <= start, (name, (start, end))
        if dead_runs.get(name):
            assert all(start >= killed_at for start, _ in survivor_runs.get(name, [])), name
    assert dead_runs[scope] and survivor_runs[scope]

    # Nothing lost or told twice across the handover.
    c = tables.conversations
    with engine.connect() as conn:
        mirrored = set(conn.scalars(select(c.c.id).where(c.c.deleted_at.is_(None))))
        e = tables.events
        created = Counter(
            (kind, subject)
            for kind, subject in conn.execute(select(e.c.type, e.c.subject_id))
            if kind.endswith(".created") or kind.startswith("message.")
        )
    assert mirrored == set(sim.conversation_ids())
    assert [key for key, n in created.items() if n > 1] == []


def test_a_second_daemon_on_one_sqlite_file_refuses_to_start(
    tmp_path: Path, processes: Processes
) -> None:
    database = tmp_path / "mirror.db"
    db_url = f"sqlite:///{database}"
    sim = Simulator(SimConfig(seed=22, conversations=20, messages_per_conversation=2))
    with SimServer(sim) as server:
        config = write_config(tmp_path / "syncd.toml", base_url=server.base_url, db_url=db_url)
        first = processes.daemon(config, db_url, name="first")
        first.wait_ready()

        second = processes.daemon(config, db_url, name="second")
        assert second.wait_exit(30) == 1
        message = second.stderr()
        assert (
            f"syncd: another syncd run (pid {first.pid}) already serves the SQLite database "
            f"{database}" in message
        ), message
        assert "use PostgreSQL" in message
        assert "Traceback" not in message
        assert first.readiness()[0] == 200, "the first daemon serves on"

        # A killed daemon's lock goes with it: the next one starts.
        first.kill_group()
        third = processes.daemon(config, db_url, name="third")
        third.wait_ready()
        code, _ = third.stop(timeout=SHUTDOWN_S + 10)
    assert code == 0, third.describe()
    assert not third.errors(), third.errors()
