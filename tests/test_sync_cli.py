"""``syncd sync`` as users run it: a rejected key, one workspace, and ``syncd sim serve``.

Each test runs ``syncd`` as a subprocess (SYNCD_* environment, no config file) against a simulator
on 127.0.0.1 and the test's database.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import SYNCD
from sqlalchemy import Engine
from sqlalchemy import select as sql_select
from sync_support import (
    TOKEN,
    count_rows,
    event_count,
    mirror_status_counts,
    run_syncd,
    syncd_env,
)

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.store import tables
from syncd.store.engine import create_engine_for
from syncd.store.migrate import current_revision, head_revision

REJECTED_TOKEN = "not-an-ohallo-key-5d1e9b7c3a"


@pytest.fixture
def server() -> Iterator[SimServer]:
    with SimServer(
        Simulator(SimConfig(seed=4, conversations=40, messages_per_conversation=2))
    ) as s:
        yield s


def test_a_rejected_key_fails_the_sync_in_one_line_without_the_key(
    server: SimServer, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    env = syncd_env(db_url, server.base_url, token=REJECTED_TOKEN)
    done = run_syncd(["sync"], env, tmp_path)

    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert REJECTED_TOKEN not in output
    assert "Traceback" not in output
    # Log lines are JSON; the failure itself is told in exactly one plain line.
    plain = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert len(plain) == 1, done.stderr
    assert plain[0].startswith("syncd: ") and "401" in plain[0], plain
    assert sum(server.request_counts.values()) == 1, "a 401 is never retried"

    status = run_syncd(["status", "--json"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert REJECTED_TOKEN not in status.stdout + status.stderr
    streams = json.loads(status.stdout)["streams"]
    failed = [s for s in streams if s["last_error"]]
    assert [(s["workspace"], s["stream"]) for s in failed] == [("*", "reconcile")]
    assert "401" in failed[0]["last_error"]
    assert failed[0]["last_success_at"] is None
    assert failed[0]["consecutive_failures"] == 1


def test_sync_of_one_workspace_touches_only_that_workspace_and_migrates_itself(
    server: SimServer, empty_db_url: str, tmp_path: Path
) -> None:
    sim = server.simulator
    chosen, other = sim.workspace_ids()
    env = syncd_env(empty_db_url, server.base_url)
    done = run_syncd(["sync", "--workspace", chosen], env, tmp_path)  # no `syncd db upgrade`
    assert done.returncode == 0, done.stderr

    engine = create_engine_for(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
        c, s = tables.conversations, tables.sync_state
        with engine.connect() as conn:
            workspaces = Counter(conn.scalars(sql_select(c.c.workspace_id)))
            scopes = set(conn.scalars(sql_select(s.c.workspace_id)))
        assert workspaces == {chosen: len(sim.conversation_ids(workspace_id=chosen))}
        assert scopes == {chosen}
        assert count_rows(engine, "status_count_snapshots", workspace_id=other) == 0
    finally:
        engine.dispose()

    for record in server.request_log:
        query = parse_qs(urlsplit(record.path).query)
        if record.route in ("list_conversations", "list_attention_items"):
            assert query.get("workspaceId") == [chosen], record.path
        elif record.route == "status_counts":
            assert chosen in record.path, record.path
        else:
            assert record.route in ("get_conversation", "get_attachments", "get_messages")


# --- against `syncd sim serve` ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def sim_serve(tmp_path: Path) -> Iterator[str]:
    """``syncd sim serve --conversations 2000`` in a subprocess; yields its base URL."""
    port = free_port()
    still = ["--activity-per-s", "0"]  # the counts are compared exactly
    process = subprocess.Popen(
        [
            *SYNCD,
            "sim",
            "serve",
            "--conversations",
            "2000",
            "--seed",
            "6",
            "--port",
            str(port),
            *still,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + 60
        banner = ""
        while not banner:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and process.poll() is None, "syncd sim serve did not start"
            ready, _, _ = select.select([process.stdout], [], [], remaining)
            if ready:
                banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner, banner
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
            process.stdout.close()


@pytest.mark.slow
def test_sync_against_sim_serve_matches_its_status_counts_and_stays_quiet_when_idle(
    sim_serve: str, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    env = syncd_env(db_url, sim_serve)
    first = run_syncd(["sync"], env, tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr

    with engine.connect() as conn:
        workspaces = sorted(
            conn.scalars(sql_select(tables.conversations.c.workspace_id).distinct())
        )
    assert len(workspaces) == 2
    headers = {"Authorization": f"Bearer {TOKEN}"}
    total = 0
    with httpx.Client(base_url=sim_serve, headers=headers, timeout=10) as api:
        for workspace in workspaces:
            response = api.get(f"/api/workspaces/{workspace}/conversations/status-counts")
            response.raise_for_status()
            counts = Counter({k: v for k, v in response.json().items() if v})
            assert mirror_status_counts(engine, workspace) == counts, workspace
            total += sum(counts.values())
    assert total == 2000

    before = event_count(engine)
    second = run_syncd(["sync"], env, tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "reconcile" not in second.stdout, "no reconcile due, no drift to heal"
    assert event_count(engine) == before
