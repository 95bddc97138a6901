"""Upserts: insert, update, and never let an older observation overwrite a newer one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, Table, delete, select
from test_store_engine import plain_json_values

from syncd.store import replace_children, upsert_rows
from syncd.store.tables import context_entries, conversations, events, messages, sink_state
from syncd.store.upsert import (
    _KEEP_ROWCOUNT,
    CHUNK_ROWS,
    _runs_by_keys,
    _storable,
    _upsert_statement,
    insert_rows,
    insert_values,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _message(mid: str, body: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": mid,
        "conversation_id": "c1",
        "body": body,
        "raw": {"id": mid, "body": body},
        "synced_at": at,
        **extra,
    }


def _stored(conn: Connection, mid: str) -> Mapping[str, Any]:
    return conn.execute(select(messages).where(messages.c.id == mid)).mappings().one()


def test_upsert_inserts_new_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        written = upsert_rows(conn, messages, [_message("m1", "hi", T0), _message("m2", "yo", T0)])
        assert written == 2
        assert _stored(conn, "m1")["body"] == "hi"
        assert _stored(conn, "m2")["raw"] == {"id": "m2", "body": "yo"}


def test_upsert_updates_with_a_newer_observation(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_rows(conn, messages, [_message("m1", "draft", T0)])
        written = upsert_rows(conn, messages, [_message("m1", "final", T0 + timedelta(seconds=1))])
        assert written == 1
        row = _stored(conn, "m1")
    assert row["body"] == "final"
    assert row["synced_at"] == T0 + timedelta(seconds=1)


def test_upsert_lets_an_equal_observation_overwrite(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_rows(conn, messages, [_message("m1", "first", T0)])
        assert upsert_rows(conn, messages, [_message("m1", "second", T0)]) == 1
        assert _stored(conn, "m1")["body"] == "second"


def test_upsert_refuses_an_older_observation(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_rows(conn, messages, [_message("m1", "new", T0)])
        written = upsert_rows(conn, messages, [_message("m1", "old", T0 - timedelta(seconds=1))])
        assert written == 0
        row = _stored(conn, "m1")
    assert row["body"] == "new"
    assert row["synced_at"] == T0


def test_upsert_without_guard_always_overwrites(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_rows(conn, sink_state, [{"sink": "out", "position": 5}], guard=None)
        upsert_rows(conn, sink_state, [{"sink": "out", "position": 3}], guard=None)
        assert conn.scalar(select(sink_state.c.position)) == 3


def test_upsert_leaves_columns_the_rows_omit_untouched(engine: Engine) -> None:
    base = {"id": "c1", "status": "open", "raw": {}, "synced_at": T0}
    with engine.begin() as conn:
        upsert_rows(conn, conversations, [{**base, "fingerprint": "fp1"}])
        upsert_rows(conn, conversations, [{**base, "status": "resolved"}])
        row = conn.execute(select(conversations)).mappings().one()
    assert (row["status"], row["fingerprint"]) == ("resolved", "fp1")
    assert row["attachments_pending"] is False  # the column default on insert


def test_upsert_handles_more_rows_than_one_chunk_and_mixed_column_sets(engine: Engine) -> None:
    count = CHUNK_ROWS * 2 + 7
    rows = [_message(f"m{i:05d}", f"body {i}", T0) for i in range(count)]
    rows[10] = {**rows[10], "speaker": "ai"}
    with engine.begin() as conn:
        assert upsert_rows(conn, messages, rows) == count
        assert upsert_rows(conn, messages, rows) == count
        stored = conn.execute(select(messages.c.id, messages.c.speaker)).all()
    assert len(stored) == count
    assert dict(stored)["m00010"] == "ai"


def test_upsert_of_the_same_row_twice_in_one_call_keeps_the_newest(engine: Engine) -> None:
    rows = [_message("m1", "newer", T0 + timedelta(seconds=1)), _message("m1", "older", T0)]
    with engine.begin() as conn:
        upsert_rows(conn, messages, rows)
        assert _stored(conn, "m1")["body"] == "newer"


def test_upsert_rejects_rows_without_the_guard_or_key(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="guard"):
            upsert_rows(conn, messages, [{"id": "m1", "conversation_id": "c1", "raw": {}}])
        with pytest.raises(ValueError, match="primary key"):
            upsert_rows(conn, messages, [{"body": "x", "raw": {}, "synced_at": T0}])
        with pytest.raises(ValueError, match="no column"):
            upsert_rows(conn, messages, [_message("m1", "x", T0, nickname="n")])
        assert upsert_rows(conn, messages, []) == 0


@settings(
    max_examples=40,
    deadline=None,
    # The engine fixture is reused across examples on purpose: every example starts by deleting.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    observations=st.lists(
        st.tuples(st.integers(min_value=0, max_value=5), st.text(max_size=8)),
        min_size=1,
        max_size=12,
    ),
    batch=st.integers(min_value=1, max_value=4),
)
def test_any_sequence_of_observations_ends_with_the_newest(
    engine: Engine, observations: list[tuple[int, str]], batch: int
) -> None:
    rows = [_message("m1", body, T0 + timedelta(seconds=second)) for second, body in observations]
    with engine.begin() as conn:
        conn.execute(delete(messages))
        for start in range(0, len(rows), batch):
            upsert_rows(conn, messages, rows[start : start + batch])
        final = _stored(conn, "m1")
    newest_at = max(row["synced_at"] for row in rows)
    # equal timestamps: the last one written wins
    expected = [row for row in rows if row["synced_at"] == newest_at][-1]
    assert (final["body"], final["synced_at"]) == (_as_stored(engine, expected["body"]), newest_at)


def _as_stored(engine: Engine, text: str) -> str:
    return text.replace("\x00", "\ufffd") if engine.dialect.name == "postgresql" else text


def test_nul_characters_never_fail_a_write(engine: Engine) -> None:
    body = "before\x00after"
    with engine.begin() as conn:
        assert upsert_rows(conn, messages, [_message("m1", body, T0)]) == 1
        row = _stored(conn, "m1")
    assert row["body"] == _as_stored(engine, body)  # PostgreSQL text cannot hold NUL
    assert row["raw"] == {"id": "m1", "body": body}  # the payload keeps it exactly


def _entries(at: datetime, *names: str) -> list[dict[str, Any]]:
    return [
        {"position": position, "raw": {"name": name}, "synced_at": at}
        for position, name in enumerate(names)
    ]


def _stored_entries(conn: Connection, conversation_id: str) -> list[str]:
    query = (
        select(context_entries.c.raw)
        .where(context_entries.c.conversation_id == conversation_id)
        .order_by(context_entries.c.position)
    )
    return [raw["name"] for raw in conn.execute(query).scalars()]


def test_replace_children_replaces_the_parents_rows_whole(engine: Engine) -> None:
    with engine.begin() as conn:
        replace_children(conn, context_entries, "conversation_id", "c1", _entries(T0, "a", "b"))
        replace_children(conn, context_entries, "conversation_id", "c2", _entries(T0, "z"))
        later = T0 + timedelta(seconds=1)
        written = replace_children(
            conn, context_entries, "conversation_id", "c1", _entries(later, "x")
        )
        assert written == 1
        assert _stored_entries(conn, "c1") == ["x"]
        assert _stored_entries(conn, "c2") == ["z"]
        replace_children(conn, context_entries, "conversation_id", "c1", [])
        assert _stored_entries(conn, "c1") == []


def test_replace_children_ignores_an_older_observation(engine: Engine) -> None:
    with engine.begin() as conn:
        replace_children(conn, context_entries, "conversation_id", "c1", _entries(T0, "new"))
        older = T0 - timedelta(seconds=1)
        written = replace_children(
            conn, context_entries, "conversation_id", "c1", _entries(older, "old")
        )
        assert written == 0
        assert _stored_entries(conn, "c1") == ["new"]


def test_replace_children_refuses_rows_of_another_parent(engine: Engine) -> None:
    rows = [{**_entries(T0, "a")[0], "conversation_id": "c2"}]
    with engine.begin() as conn, pytest.raises(ValueError, match="another"):
        replace_children(conn, context_entries, "conversation_id", "c1", rows)


# --- the driver-level execution writes exactly what SQLAlchemy's own execution wrote -----------


def _sqlalchemy_upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """``upsert_rows`` as it was: every chunk through ``conn.execute`` of the statement."""
    keys = tuple(column.name for column in table.primary_key.columns)
    written = 0
    for names, run in _runs_by_keys(_storable(conn, table, rows)):
        statement = _upsert_statement(
            conn.dialect.name, table, keys, tuple(sorted(names)), "synced_at"
        )
        for start in range(0, len(run), CHUNK_ROWS):
            chunk = run[start : start + CHUNK_ROWS]
            written += conn.execute(statement, chunk, execution_options=_KEEP_ROWCOUNT).rowcount
    return written


def _stored_rows(conn: Connection, table: Table) -> list[tuple[Any, ...]]:
    """Every row as the database holds it (on SQLite: the very text and numbers)."""
    keys = ", ".join(f'"{column.name}"' for column in table.primary_key.columns)
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    query = f'SELECT {columns} FROM "{table.name}" ORDER BY {keys}'
    return [tuple(row) for row in conn.exec_driver_sql(query)]


_moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-7))]),
)
_words = st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=6))
_conversation_rows = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["c1", "c2", "c3", "ç4"]),
        "raw": st.dictionaries(st.text(max_size=4), plain_json_values, max_size=4),
        "synced_at": st.sampled_from([T0, T0 + timedelta(seconds=1), T0 - timedelta(days=1)]),
    },
    optional={
        "status": _words,
        "contact_name": _words,
        "last_message_at": st.one_of(st.none(), _moments),
        "created_at": _moments,
        "human_managed": st.one_of(st.none(), st.booleans()),
        "attachments_pending": st.booleans(),  # left out: the column default, by SQLAlchemy
        "fingerprint": st.text(max_size=3),
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(st.lists(_conversation_rows, min_size=1, max_size=6), max_size=4))
def test_upsert_writes_what_sqlalchemy_execution_writes(
    engine: Engine, batches: list[list[dict[str, Any]]]
) -> None:
    with engine.begin() as conn:
        conn.execute(delete(conversations))
        counts = [upsert_rows(conn, conversations, batch) for batch in batches]
        written = _stored_rows(conn, conversations)
        conn.execute(delete(conversations))
        expected_counts = [_sqlalchemy_upsert(conn, conversations, batch) for batch in batches]
        expected = _stored_rows(conn, conversations)
        conn.execute(delete(conversations))
    assert (counts, written) == (expected_counts, expected)


_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=5)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.tuples(
            _texts.filter(bool), st.one_of(st.none(), _texts), _moments, st.booleans(), _texts
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda row: row[0],
    )
)
def test_inserts_write_what_sqlalchemy_execution_writes(
    engine: Engine, rows: list[tuple[Any, ...]]
) -> None:
    # the columns in another order than the table's: insert_values puts them right
    names = ("payload", "id", "created_at", "backfill", "workspace_id", "type", "subject_id")
    values = [(payload, eid, at, flag, ws, "t", "s") for eid, ws, at, flag, payload in rows]
    entries = [
        {"conversation_id": "c1", "position": n, "raw": {"name": row[0]}, "synced_at": row[2]}
        for n, row in enumerate(rows)
    ]
    found = []
    with engine.begin() as conn:
        for fast in (True, False):
            conn.execute(delete(events))
            conn.execute(delete(context_entries))
            if fast:
                insert_values(conn, events, names, values)
                insert_rows(conn, context_entries, entries)
            else:
                conn.execute(events.insert(), [dict(zip(names, v, strict=True)) for v in values])
                conn.execute(context_entries.insert(), entries)
            stored_events = [row[1:] for row in _stored_rows(conn, events)]  # seq counts on
            found.append((stored_events, _stored_rows(conn, context_entries)))
        conn.execute(delete(events))
        conn.execute(delete(context_entries))
    assert found[0] == found[1]
    assert len(found[0][0]) == len(rows)
