"""The dlt example (deploy/examples/dlt/pipeline.py) copies syncd's PostgreSQL mirror into DuckDB;
a second run after a sync loads only the rows that sync wrote, soft deletes (of a conversation, of
a message) included.

dlt runs from its own virtual environment (.venv-dlt, deploy/examples/dlt/requirements.txt; see
tests/tool_venvs.py), never syncd's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sync_support import conversations_in, server_fixture, sync, synced
from tool_venvs import ROOT, tool_venv

from syncd.sim import SimServer
from syncd.store.engine import create_engine_for

EXAMPLE = ROOT / "deploy" / "examples" / "dlt"
# table → cursor column, as the example reads them
CURSORS = {
    "conversations": "synced_at",
    "contacts": "synced_at",
    "accounts": "synced_at",
    "messages": "synced_at",
    "attachments": "synced_at",
    "attention_items": "synced_at",
    "context_entries": "synced_at",
    "conversation_status_history": "observed_at",
    "status_count_snapshots": "taken_at",
}

server = server_fixture(seed=17, conversations=40, messages_per_conversation=3)


@pytest.fixture(scope="session")
def dlt_bin() -> Path:
    return tool_venv("dlt", EXAMPLE / "requirements.txt")


def in_dlt_venv(dlt_bin: Path, tmp_path: Path, *argv: str) -> str:
    """Run the dlt venv's python with ``argv``; its stdout."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")},
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "HOME": str(tmp_path),  # dlt's global config and data dir stay in the test's directory
    }
    done = subprocess.run(
        [str(dlt_bin / "python"), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def load(dlt_bin: Path, tmp_path: Path, source_url: str) -> dict[str, Any]:
    """One run of the example (no re-read window: the test controls every write)."""
    out = in_dlt_venv(
        dlt_bin,
        tmp_path,
        str(EXAMPLE / "pipeline.py"),
        "--source",
        source_url,
        "--duckdb",
        str(tmp_path / "warehouse.duckdb"),
        "--pipelines-dir",
        str(tmp_path / "dlt"),
        "--lag-s",
        "0",
    )
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def duckdb_scalar(dlt_bin: Path, tmp_path: Path, query: str) -> Any:
    script = (
        "import duckdb, json, sys\n"
        f"conn = duckdb.connect({str(tmp_path / 'warehouse.duckdb')!r}, read_only=True)\n"
        "print(json.dumps(conn.execute(sys.argv[1]).fetchone()[0], default=str))\n"
    )
    return json.loads(in_dlt_venv(dlt_bin, tmp_path, "-c", script, query).strip())


def mirror_counts(url: str, since: dict[str, Any] | None = None) -> dict[str, int]:
    """Rows per table (written after ``since[table]`` when given)."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            counts = {}
            for table, cursor in CURSORS.items():
                where = f" WHERE {cursor} > :since" if since else ""
                query = text(f"SELECT count(*) FROM {table}{where}")
                params = {"since": since[table]} if since else {}
                counts[table] = int(conn.scalar(query, params) or 0)
            return counts
    finally:
        engine.dispose()


def cursors(url: str) -> dict[str, Any]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.scalar(text(f"SELECT max({cursor}) FROM {table}"))
                for table, cursor in CURSORS.items()
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
async def test_the_dlt_example_loads_the_mirror_then_only_what_syncd_wrote_since(
    dlt_bin: Path, server: SimServer, postgres_db_url: str, tmp_path: Path, isolated_config: Path
) -> None:
    sim = server.simulator
    async with synced(server, postgres_db_url) as ctx:
        first = load(dlt_bin, tmp_path, postgres_db_url)
        everything = mirror_counts(postgres_db_url)
        assert first["loaded"] == everything
        assert first["rows"] == everything
        before = cursors(postgres_db_url)

        open_ids = conversations_in(sim, "open")
        replied, resolved, deleted, edited = open_ids[:4]
        message_id = sim.add_message(replied, "outbound")
        gone_message = str(sim.messages(edited)[-1]["id"])  # the last: its list row changes
        sim.delete_message(gone_message, conversation_id=edited)
        sim.resolve(resolved)
        sim.raise_attention_item(replied, "escalation")
        sim.delete_conversation(deleted)
        await sync(ctx, full=True)

    written = mirror_counts(postgres_db_url, since=before)
    second = load(dlt_bin, tmp_path, postgres_db_url)
    assert second["loaded"] == written
    assert 0 < sum(written.values()) < sum(everything.values()) / 4
    assert second["rows"] == mirror_counts(postgres_db_url)  # merged by key: no duplicates

    def warehouse(query: str) -> Any:
        return duckdb_scalar(dlt_bin, tmp_path, query)

    assert warehouse(f"SELECT count(*) FROM syncd.messages WHERE id = '{message_id}'") == 1
    assert warehouse(f"SELECT status FROM syncd.conversations WHERE id = '{resolved}'") == (
        "resolved"
    )
    assert warehouse(f"SELECT deleted_at FROM syncd.conversations WHERE id = '{deleted}'")
    assert warehouse(f"SELECT deleted_at FROM syncd.messages WHERE id = '{gone_message}'")

    third = load(dlt_bin, tmp_path, postgres_db_url)
    assert third["loaded"] == dict.fromkeys(CURSORS, 0)
