"""Migrations: the schema they build is the models' schema, on both databases, from the CLI too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import SYNCD, subprocess_env
from sqlalchemy import inspect, text

from syncd.config import load_settings
from syncd.errors import StoreError
from syncd.store import create_engine_for, current_revision, ensure_schema, head_revision, upgrade
from syncd.store.migrate import alembic_config
from syncd.store.tables import metadata

ANALYTICS_VIEWS = ("conversation_facts", "attention_item_facts")


def test_migrating_an_empty_database_matches_the_models(empty_db_url: str) -> None:
    engine = create_engine_for(empty_db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "target_metadata": metadata}
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []  # the views are not tables: autogenerate does not see them


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    engine = create_engine_for(db_url)
    try:
        assert upgrade(engine) == head_revision()
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(db_url: str) -> None:
    engine = create_engine_for(db_url)
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            assert inspect(conn).get_view_names() == []
        upgrade(engine)
        with engine.connect() as conn:
            assert set(metadata.tables) <= set(inspect(conn).get_table_names())
            assert set(inspect(conn).get_view_names()) == set(ANALYTICS_VIEWS)
    finally:
        engine.dispose()


def test_db_commands_migrate_and_report_from_any_directory(
    empty_db_url: str, tmp_path: Path
) -> None:
    env = subprocess_env(empty_db_url)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    def syncd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SYNCD, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
        )

    before = syncd("db", "current")
    assert before.returncode == 1, before.stderr
    assert "no schema yet" in before.stdout

    upgraded = syncd("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"to {head_revision()} (head)" in upgraded.stdout

    again = syncd("db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert f"already at revision {head_revision()} (head)" in again.stdout

    current = syncd("db", "current")
    assert current.returncode == 0, current.stderr
    assert f"revision {head_revision()} (head)" in current.stdout
    assert list(cwd.iterdir()) == []  # nothing written to the working directory


def test_db_commands_never_print_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://syncd:hunter2@127.0.0.1:1/mirror?connect_timeout=1"
    result = subprocess.run(
        [*SYNCD, "db", "current"],
        env=subprocess_env(url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "hunter2" not in result.stdout + result.stderr
    assert "syncd:***@127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_upgrades_at_once_both_succeed(empty_db_url: str, tmp_path: Path) -> None:
    env = subprocess_env(empty_db_url)
    upgrades = [
        subprocess.Popen(
            [*SYNCD, "db", "upgrade"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in upgrades]
    assert [process.returncode for process in upgrades] == [0, 0], outputs
    engine = create_engine_for(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.usefixtures("isolated_config")
def test_ensure_schema_migrates_when_auto_migrate_is_on(empty_db_url: str) -> None:
    settings = load_settings(None, database={"url": empty_db_url, "auto_migrate": True})
    assert ensure_schema(settings) == head_revision()


@pytest.mark.usefixtures("isolated_config")
def test_ensure_schema_refuses_an_unmigrated_database_when_auto_migrate_is_off(
    empty_db_url: str,
) -> None:
    settings = load_settings(None, database={"url": empty_db_url, "auto_migrate": False})
    with pytest.raises(StoreError, match="syncd db upgrade"):
        ensure_schema(settings)


def test_a_database_from_a_newer_syncd_is_reported_not_migrated(
    db_url: str, tmp_path: Path
) -> None:
    engine = create_engine_for(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(StoreError, match="9999"):
            upgrade(engine)
    finally:
        engine.dispose()
    result = subprocess.run(
        [*SYNCD, "db", "current"],
        env=subprocess_env(db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "revision 9999, unknown to this syncd" in result.stdout


def test_downgrading_the_analytics_revision_drops_the_views_and_keeps_the_data(
    db_url: str,
) -> None:
    engine = create_engine_for(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO conversations (id, fingerprint, raw, synced_at) "
                    "VALUES ('c1', '', '{}', '2026-01-01 00:00:00+00')"
                )
            )
        upgrade_to_views = head_revision()
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        with engine.connect() as conn:
            assert inspect(conn).get_view_names() == []
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("messages")}
            assert "ix_messages_synced_at" not in indexes
            assert conn.scalar(text("SELECT count(*) FROM conversations")) == 1
        assert upgrade(engine) == upgrade_to_views
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT conversation_id FROM conversation_facts")) == "c1"
    finally:
        engine.dispose()
