"""Writes for the mirror: upserts that never let an older observation overwrite a newer one.

Both dialects speak ``INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col WHERE
excluded.synced_at >= table.synced_at``; the statement is compiled once and run executemany-style,
so each execution binds one row's values only (SQLite's variable limit is never near) and rows go
to the driver in bounded chunks.

PostgreSQL text cannot hold NUL characters, which an API string may carry: on PostgreSQL they are
written as U+FFFD in text columns (``raw`` JSON keeps the exact ``\\u0000``), rather than failing
the whole transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import structlog
from sqlalchemy import Connection, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

CHUNK_ROWS: Final = 1000
"""Rows handed to the driver per executemany call."""
_IN_LIST: Final = 500
"""Values per ``IN (...)`` list (SQLite's default variable limit is far above)."""

_KEEP_ROWCOUNT: Final = {"preserve_rowcount": True}
_NUL: Final = "\x00"
_REPLACEMENT: Final = "\ufffd"

log = structlog.get_logger(__name__)


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    guard: str | None = "synced_at",
) -> int:
    """Insert or update ``rows`` by primary key; return how many were written.

    On conflict every non-key column present in the rows is updated (columns a row leaves out
    keep their stored value), but only when the row's ``guard`` value is not older than the
    stored one: a stale observation is skipped, not counted. ``guard=None`` always overwrites.
    Consecutive rows must share a set of keys to share one executemany batch; mixed key sets
    are split into runs, in order.
    """
    if not rows:
        return 0
    key_names = [column.name for column in table.primary_key.columns]
    if not key_names:
        raise ValueError(f"table {table.name} has no primary key to upsert on")
    if guard is not None and guard not in table.columns:
        raise ValueError(f"table {table.name} has no column {guard!r} to guard the upsert with")
    written = 0
    for names, run in _runs_by_keys(_storable(conn, table, rows)):
        unknown = names.difference(table.columns.keys())
        if unknown:
            raise ValueError(f"table {table.name} has no column(s) {sorted(unknown)}")
        missing_keys = set(key_names).difference(names)
        if missing_keys:
            raise ValueError(f"rows for {table.name} lack primary key column(s) {missing_keys}")
        if guard is not None and guard not in names:
            raise ValueError(f"rows for {table.name} lack the guard column {guard!r}")
        statement = _upsert_statement(
            conn.dialect.name, table, tuple(key_names), tuple(sorted(names)), guard
        )
        for start in range(0, len(run), CHUNK_ROWS):
            chunk = run[start : start + CHUNK_ROWS]
            # An INSERT's cursor is closed before its rowcount is read unless asked to keep it.
            result = conn.execute(statement, chunk, execution_options=_KEEP_ROWCOUNT)
            written += max(result.rowcount, 0)
    return written


def replace_children(
    conn: Connection,
    table: Table,
    parent_column: str,
    parent_id: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    guard: str | None = "synced_at",
) -> int:
    """Replace every row of ``table`` whose ``parent_column`` is ``parent_id`` with ``rows``.

    Returns the number of rows inserted. ``parent_column`` is filled in where a row leaves it
    out. When the stored rows were observed later than the newest of ``rows`` (by ``guard``),
    nothing changes and 0 is returned; an empty ``rows`` always clears the parent's rows.
    """
    return replace_children_many(conn, table, parent_column, {parent_id: rows}, guard=guard)


def replace_children_many(
    conn: Connection,
    table: Table,
    parent_column: str,
    rows_by_parent: Mapping[Any, Sequence[Mapping[str, Any]]],
    *,
    guard: str | None = "synced_at",
) -> int:
    """``replace_children`` for several parents at once, in a few statements rather than three
    per parent (the guard is applied per parent, exactly as ``replace_children`` does).

    Returns the number of rows inserted over all parents.
    """
    column = table.columns[parent_column]
    prepared: dict[Any, Sequence[Mapping[str, Any]]] = {}
    for parent_id, rows in rows_by_parent.items():
        filled = [{**row, parent_column: row.get(parent_column, parent_id)} for row in rows]
        prepared[parent_id] = _storable(conn, table, filled)
        if any(row[parent_column] != parent_id for row in prepared[parent_id]):
            raise ValueError(f"rows for {table.name} belong to another {parent_column}")
    if guard is not None:
        newest = {
            parent: max(row[guard] for row in rows) for parent, rows in prepared.items() if rows
        }
        stored: dict[Any, Any] = {}
        for part in _chunked(sorted(newest), _IN_LIST):
            query = (
                select(column, func.max(table.columns[guard]))
                .where(column.in_(part))
                .group_by(column)
            )
            stored.update(
                {parent: value for parent, value in conn.execute(query) if value is not None}
            )
        for parent, value in stored.items():
            if value > newest[parent]:
                del prepared[parent]  # the stored rows are newer: leave them
    parents = list(prepared)
    for part in _chunked(parents, _IN_LIST):
        conn.execute(delete(table).where(column.in_(part)))
    inserted = [row for parent in parents for row in prepared[parent]]
    for _names, run in _runs_by_keys(inserted):
        for start in range(0, len(run), CHUNK_ROWS):
            conn.execute(table.insert(), run[start : start + CHUNK_ROWS])
    return len(inserted)


def _chunked(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _storable(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> Sequence[Mapping[str, Any]]:
    """``rows`` as PostgreSQL can store them: NUL in a string value becomes U+FFFD."""
    if conn.dialect.name != "postgresql":
        return rows
    cleaned: list[Mapping[str, Any]] = []
    replaced = 0
    for row in rows:
        if any(isinstance(value, str) and _NUL in value for value in row.values()):
            replaced += 1
            row = {
                name: value.replace(_NUL, _REPLACEMENT) if isinstance(value, str) else value
                for name, value in row.items()
            }
        cleaned.append(row)
    if replaced:
        log.info("nul_characters_replaced", table=table.name, rows=replaced)
    return cleaned


def _runs_by_keys(
    rows: Sequence[Mapping[str, Any]],
) -> Iterator[tuple[frozenset[str], list[Mapping[str, Any]]]]:
    """Consecutive rows grouped by their set of keys, order kept."""
    run: list[Mapping[str, Any]] = []
    names: frozenset[str] = frozenset()
    for row in rows:
        row_names = frozenset(row)
        if run and row_names != names:
            yield names, run
            run = []
        names = row_names
        run.append(row)
    if run:
        yield names, run


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str,
    table: Table,
    key_names: tuple[str, ...],
    names: tuple[str, ...],
    guard: str | None,
) -> Insert:
    """The upsert for one table and set of columns (built once: a page reuses the same few)."""
    insert: Any
    if dialect == "sqlite":
        insert = sqlite.insert(table)
    elif dialect == "postgresql":
        insert = postgresql.insert(table)
    else:
        raise ValueError(f"upsert_rows supports sqlite and postgresql, not {dialect}")
    updates = [name for name in names if name not in key_names]
    if not updates:
        return insert.on_conflict_do_nothing(index_elements=key_names)  # type: ignore[no-any-return]
    where = None
    if guard is not None:
        where = insert.excluded[guard] >= table.columns[guard]
    return insert.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=key_names,
        set_={name: insert.excluded[name] for name in updates},
        where=where,
    )
