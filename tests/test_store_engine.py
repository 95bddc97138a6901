"""Engines: SQLite settings and file privacy, transactions, UTC timestamps and JSON on both."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.pool import QueuePool

from syncd.store import DEFERRED, create_engine_for
from syncd.store.engine import BUSY_TIMEOUT_MS, dumps_json
from syncd.store.tables import accounts, context_entries


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sqlite(tmp_path: Path, name: str = "mirror/syncd.db") -> tuple[Engine, Path]:
    path = tmp_path / name
    return create_engine_for(f"sqlite:///{path}"), path


def test_sqlite_file_and_its_new_directory_are_private_to_the_owner(tmp_path: Path) -> None:
    engine, path = _sqlite(tmp_path, "new/dir/syncd.db")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        wal = path.with_name("syncd.db-wal")
        assert wal.exists()
        assert _mode(path) == 0o600
        assert _mode(wal) == 0o600
        assert _mode(path.parent) == 0o700
        assert _mode(path.parent.parent) == 0o700
    finally:
        engine.dispose()


def test_sqlite_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        engine, path = _sqlite(tmp_path)
        with engine.connect():
            pass
        engine.dispose()
    finally:
        os.umask(old)
    assert _mode(path) == 0o600


def test_an_existing_sqlite_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    engine = create_engine_for(f"sqlite:///{path}")
    with engine.connect():
        pass
    engine.dispose()
    assert _mode(path) == 0o640


def test_sqlite_connections_use_wal_busy_timeout_foreign_keys_and_normal_sync(
    tmp_path: Path,
) -> None:
    engine, _ = _sqlite(tmp_path)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        engine.dispose()


def test_sqlite_savepoint_rollback_undoes_only_the_nested_part(tmp_path: Path) -> None:
    engine, _ = _sqlite(tmp_path)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            nested = conn.begin_nested()
            conn.execute(text("INSERT INTO t VALUES (2)"))
            nested.rollback()
            conn.execute(text("INSERT INTO t VALUES (3)"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 3]
    finally:
        engine.dispose()


def test_sqlite_ddl_is_rolled_back_with_its_transaction(tmp_path: Path) -> None:
    engine, _ = _sqlite(tmp_path)
    try:
        with engine.connect() as conn:
            with conn.begin() as transaction:
                conn.execute(text("CREATE TABLE t (x INTEGER)"))
                transaction.rollback()
            tables = conn.execute(text("SELECT name FROM sqlite_master")).scalars().all()
            conn.rollback()
        assert "t" not in tables
    finally:
        engine.dispose()


def test_sqlite_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    engine, _ = _sqlite(tmp_path)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        reader = engine.execution_options(**DEFERRED)
        with engine.begin() as writer:
            writer.execute(text("INSERT INTO t VALUES (2)"))  # holds the write lock
            with reader.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
                conn.rollback()
    finally:
        engine.dispose()


def test_in_memory_sqlite_needs_no_file(tmp_path: Path) -> None:
    engine = create_engine_for("sqlite://")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_postgresql_engine_pings_pooled_connections() -> None:
    engine = create_engine_for("postgresql://user:secret@127.0.0.1:1/db")
    assert engine.dialect.driver == "psycopg"
    assert isinstance(engine.pool, QueuePool)
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    engine.dispose()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 3, 31, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 3, 31, 3, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-11, minutes=-30))),
    ],
)
def test_timestamps_go_in_aware_and_come_out_aware_utc(engine: Engine, moment: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(accounts).values(id="a1", raw={}, synced_at=moment))
    with engine.connect() as conn:
        stored = conn.execute(select(accounts.c.synced_at)).scalar_one()
        later = conn.execute(
            select(accounts.c.id).where(accounts.c.synced_at < moment + timedelta(microseconds=1))
        ).scalar_one_or_none()
    assert stored == moment
    assert stored.tzinfo is UTC
    assert later == "a1"


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(StatementError, match="naive datetime"):
        conn.execute(insert(accounts).values(id="a1", raw={}, synced_at=datetime(2024, 1, 1)))


UNICODE_PAYLOAD = {
    "name": "Zoë Ångström — 東京 🚀",
    "rtl": "שלום",
    "escapes": 'quote " backslash \\ newline \n tab \t nul \x00',
    "nested": [{"emoji": "👩‍💻"}, None, True, 1.5, -(2**53)],
}


def test_json_raw_round_trips_unicode(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(context_entries).values(
                conversation_id="c1", position=0, raw=UNICODE_PAYLOAD, synced_at=datetime.now(UTC)
            )
        )
    with engine.connect() as conn:
        assert conn.execute(select(context_entries.c.raw)).scalar_one() == UNICODE_PAYLOAD
        text_form = conn.execute(text("SELECT CAST(raw AS TEXT) FROM context_entries")).scalar()
    assert "東京" in text_form  # stored readable for BI tools, not as \\u escapes


def test_json_keeps_a_lone_surrogate_as_an_escape() -> None:
    assert dumps_json({"s": "\ud800"}) == '{"s":"\\ud800"}'
    assert dumps_json({"s": "é"}) == '{"s":"é"}'


def test_sqlite_stores_timestamps_as_sortable_utc_text(tmp_path: Path) -> None:
    engine, _ = _sqlite(tmp_path)
    moments = [
        datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    ]
    try:
        with engine.begin() as conn:
            accounts.create(conn)
            for number, moment in enumerate(moments):
                conn.execute(insert(accounts).values(id=f"a{number}", raw={}, synced_at=moment))
            stored = conn.execute(text("SELECT synced_at FROM accounts ORDER BY id")).scalars()
            assert list(stored) == ["0987-06-05 04:03:02.000001", "2024-05-01 12:00:00.000000"]
    finally:
        engine.dispose()
