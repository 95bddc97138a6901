"""Engines: SQLite settings and file privacy, transactions, UTC timestamps and JSON on both."""

from __future__ import annotations

import enum
import json
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.pool import QueuePool

from syncd.store import DEFERRED, create_engine_for
from syncd.store.engine import BUSY_TIMEOUT_MS, compact_json, dumps_json
from syncd.store.tables import UTCDateTime, accounts, context_entries


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


# --- JSON text: the orjson fast path writes exactly what the stdlib encoder writes -------------


def _stdlib_dumps_json(value: Any) -> str:
    """``dumps_json`` as it was written with the stdlib encoder alone (the reference)."""
    text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.JSONEncoder(separators=(",", ":")).encode(value)
    return text


class _Str(str):
    pass


class _Int(int):
    pass


class _Dict(dict[str, Any]):
    pass


class _Level(enum.IntEnum):
    HIGH = 3


class _Colour(enum.Enum):
    RED = "red"


_BIG_INTS = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40, -(10**40)]
_ODD_TEXT = ["\ud800", "a\udfffb", "é", "東京", "\x00", "\x1f\x7f", "\u2028\u2029", "😀", '"\\/']
_FLOATS = [0.0, -0.0, 1e-05, 1e-7, 1.5e16, 1e22, 0.1, 100.0, 5e-324, float("nan"), float("inf")]

# Text of every plane, control characters included; lone surrogates (which UTF-8 cannot hold)
# only in some of the "any value" examples below, or they would send most of these to the
# fallback.
_texts = st.one_of(st.text(), st.text(st.characters(codec="utf-8")), st.sampled_from(_ODD_TEXT[2:]))
_surrogate_texts = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    st.text(max_size=3),
    st.characters(categories=("Cs",)),
    st.text(max_size=3),
)
# What the API hands over (JSON as parsed): the fast path's bread and butter.
_plain_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from([0, -1, 2**53, 2**63 - 1, 2**64 - 1, -(2**63)]),
    _texts,
)
plain_json_values = st.recursive(
    _plain_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_texts, inner, max_size=6),
    ),
    max_leaves=30,
)
_scalars = st.one_of(
    _plain_scalars,
    _surrogate_texts,
    st.sampled_from(_ODD_TEXT[:2]),
    st.integers(),
    st.sampled_from(_BIG_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_FLOATS),
    st.builds(_Str, st.text(max_size=3)),
    st.builds(_Int, st.integers()),
    st.just(_Level.HIGH),
)
_keys = st.one_of(
    st.text(max_size=5),
    st.sampled_from(_ODD_TEXT),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.builds(_Str, st.text(max_size=3)),
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=3).map(_Dict),
    ),
    max_leaves=20,
)


def _outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "text", fn(value)
    except Exception as exc:  # the same failure is part of the contract
        return "error", type(exc)


@settings(max_examples=1500)
@given(plain_json_values)
def test_dumps_json_is_the_stdlib_text_for_plain_json(value: Any) -> None:
    assert dumps_json(value) == _stdlib_dumps_json(value)


@settings(max_examples=1500)
@given(json_values)
def test_dumps_json_is_the_stdlib_text_for_any_value(value: Any) -> None:
    assert _outcome(dumps_json, value) == _outcome(_stdlib_dumps_json, value)


@settings(max_examples=500)
@given(st.one_of(plain_json_values, json_values))
def test_compact_json_is_the_stdlib_text_or_declines(value: Any) -> None:
    text = compact_json(value)
    if text is not None:
        assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "value",
    [
        {"s": "\ud800"},
        {"n": 2**64},
        {"n": -(2**63) - 1},
        {1: "int key"},
        {None: 1, True: 2, 1.5: 3},
        {"f": 1e-05},
        {"f": float("nan")},
        [float("-inf"), 1e16],
        {"e": _Level.HIGH},
        {"s": _Str("sub")},
        _Dict(a=1),
        ("tuple", ["list"], {"dict": None}),
        "\x00\x1f\x7f\u2028 東京 😀",
    ],
)
def test_dumps_json_falls_back_to_the_stdlib_where_orjson_would_differ(value: Any) -> None:
    assert dumps_json(value) == _stdlib_dumps_json(value)


def test_dumps_json_refuses_what_the_stdlib_refuses() -> None:
    for value in ({"c": _Colour.RED}, {"d": datetime(2024, 1, 1, tzinfo=UTC)}, {("a",): 1}):
        with pytest.raises(TypeError):
            dumps_json(value)
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        dumps_json(cycle)
    deep: Any = "leaf"
    for _ in range(300):  # deeper than orjson nests: the stdlib path writes it
        deep = [deep]
    assert dumps_json(deep) == _stdlib_dumps_json(deep)


# --- SQLite timestamp text: the fast bind processor writes what the generic one wrote -----------

_OFFSETS = st.sampled_from(
    [
        UTC,
        timezone(timedelta(0)),
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-9, minutes=-30)),
        timezone(timedelta(hours=14)),
    ]
)


class _DateTime(datetime):
    pass


@settings(max_examples=500)
@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_OFFSETS
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
)
def test_sqlite_timestamp_text_is_the_generic_isoformat(
    moments: list[datetime], as_subclass: bool
) -> None:
    process = UTCDateTime().bind_processor(sqlite.dialect())
    assert process is not None
    if as_subclass:
        moments = [_DateTime.fromisoformat(moment.isoformat()) for moment in moments]
    moments = moments + moments[::-1]  # the same objects again, in the processor's cache too
    for moment in moments:
        expected = moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        assert process(moment) == expected
    assert process(None) is None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2024, 1, 1))
