"""The dbt package (deploy/dbt/): it declares every mirror table and both analytics views, parses
with dbt, and builds (staging models and tests) on a PostgreSQL mirror synced from the simulator.

dbt runs from its own virtual environment (.venv-dbt, deploy/dbt/requirements.txt; see
tests/tool_venvs.py), never syncd's. Nothing is written into deploy/dbt/: target, logs and the
profile live in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from analytics_support import read_facts
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sync_support import server_fixture, synced
from tool_venvs import ROOT, tool_venv

from syncd.sim import SimServer
from syncd.store import tables
from syncd.store.engine import create_engine_for

PROJECT = ROOT / "deploy" / "dbt"
VIEWS = {"conversation_facts", "attention_item_facts"}

server = server_fixture(seed=5, conversations=30, messages_per_conversation=3)


@pytest.fixture(scope="session")
def dbt_bin() -> Path:
    return tool_venv("dbt", PROJECT / "requirements.txt")


def run_dbt(
    dbt_bin: Path, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``dbt ARGS`` on the package, with the example profile and everything written to tmp."""
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    shutil.copyfile(PROJECT / "profiles.example.yml", profiles / "profiles.yml")
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "SYNCD_"))},
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **env,
    }
    return subprocess.run(
        [
            str(dbt_bin / "dbt"),
            *args,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_package_parses_and_declares_every_mirror_table_and_view(
    dbt_bin: Path, tmp_path: Path
) -> None:
    done = run_dbt(dbt_bin, tmp_path, "parse")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deprecated functionality" not in done.stdout + done.stderr, done.stdout

    manifest: dict[str, Any] = json.loads((tmp_path / "target" / "manifest.json").read_text())
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "syncd"}
    assert set(sources) == {t.name for t in tables.MIRROR_TABLES} | VIEWS
    for name, source in sources.items():
        table = tables.metadata.tables.get(name)
        if table is not None and "synced_at" in table.columns:
            assert source["loaded_at_field"] == "synced_at", name
            assert source["freshness"]["error_after"]["count"], name
    assert sources["status_count_snapshots"]["loaded_at_field"] == "taken_at"
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"stg_syncd__conversation_facts", "stg_syncd__attention_item_facts"} <= models
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    kinds = {n.get("test_metadata", {}).get("name") for n in tests}
    assert {"unique", "not_null", "relationships"} <= kinds


@pytest.mark.postgres
async def test_dbt_build_and_source_freshness_pass_on_a_synced_mirror(
    dbt_bin: Path, server: SimServer, postgres_db_url: str, tmp_path: Path, isolated_config: Path
) -> None:
    async with synced(server, postgres_db_url):
        pass
    url = make_url(postgres_db_url)
    env = {
        "SYNCD_DBT_HOST": str(url.host),
        "SYNCD_DBT_PORT": str(url.port),
        "SYNCD_DBT_USER": str(url.username),
        "SYNCD_DBT_PASSWORD": url.password or "",
        "SYNCD_DBT_DBNAME": str(url.database),
    }

    build = run_dbt(dbt_bin, tmp_path, "build", **env)
    assert build.returncode == 0, build.stdout + build.stderr
    freshness = run_dbt(dbt_bin, tmp_path, "source", "freshness", **env)
    assert freshness.returncode == 0, freshness.stdout + freshness.stderr
    assert "ERROR STALE" not in freshness.stdout

    engine = create_engine_for(postgres_db_url)
    try:
        with engine.connect() as conn:
            facts, _items = read_facts(conn)
            staged = conn.scalar(
                text("SELECT count(*) FROM analytics_syncd_staging.stg_syncd__conversation_facts")
            )
    finally:
        engine.dispose()
    assert staged == len(facts) > 0
