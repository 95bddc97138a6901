"""Writes for the mirror: upserts that never let an older observation overwrite a newer one.

Both dialects speak ``INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col WHERE
excluded.synced_at >= table.synced_at``; the statement is compiled once and run executemany-style,
so each execution binds one row's values only (SQLite's variable limit is never near) and rows go
to the driver in bounded chunks.

The compiled statement goes to the driver as its SQL text (``exec_driver_sql``), with each row's
values converted by the same bind processors SQLAlchemy would apply, column by column: the
generic per-row parameter building of a compiled execution costs more than the database's own
work on a page. A statement whose parameters are not exactly the row's columns (a Python-side
column default to fill in, say) goes through SQLAlchemy's own execution instead.

PostgreSQL text cannot hold NUL characters, which an API string may carry: on PostgreSQL they are
written as U+FFFD in text columns (``raw`` JSON keeps the exact ``\\u0000``), rather than failing
the whole transaction.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import structlog
from sqlalchemy import Connection, Dialect, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

CHUNK_ROWS: Final = 1000
"""Rows handed to the driver per executemany call."""
IN_LIST: Final = 500
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
        prepared = _prepared_upsert(
            conn.dialect, table, tuple(key_names), tuple(sorted(names)), guard
        )
        for start in range(0, len(run), CHUNK_ROWS):
            written += prepared.execute(conn, run[start : start + CHUNK_ROWS])
    return written


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Plain ``INSERT`` of ``rows``, in order, in bounded executemany chunks; return the count.

    Runs of rows sharing a set of keys share a statement, as in ``upsert_rows``.
    """
    for names, run in _runs_by_keys(rows):
        prepared = _prepared_insert(conn.dialect, table, tuple(sorted(names)))
        for start in range(0, len(run), CHUNK_ROWS):
            prepared.execute(conn, run[start : start + CHUNK_ROWS])
    return len(rows)


def insert_values(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """``insert_rows`` for rows given as values in the order of ``names`` (no dicts to build)."""
    if not rows:
        return 0
    ordered = tuple(names)
    unknown = set(ordered).difference(table.columns.keys())
    if unknown or len(set(ordered)) != len(ordered):
        raise ValueError(f"table {table.name}: unknown or repeated column(s) in {ordered}")
    prepared = _prepared_insert(conn.dialect, table, tuple(sorted(ordered)))
    for start in range(0, len(rows), CHUNK_ROWS):
        prepared.execute_values(conn, ordered, rows[start : start + CHUNK_ROWS])
    return len(rows)


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
        for part in chunked(sorted(newest)):
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
    for part in chunked(parents):
        conn.execute(delete(table).where(column.in_(part)))
    return insert_rows(conn, table, [row for parent in parents for row in prepared[parent]])


def chunked(values: Sequence[Any], size: int = IN_LIST) -> Iterator[Sequence[Any]]:
    """``values`` in slices of at most ``size`` (bounded ``IN`` lists)."""
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
    keys: Any = None  # the keys view of the run's first row (compared without a copy)
    for row in rows:
        if keys is None or row.keys() != keys:
            if run:
                yield frozenset(keys), run
            run = []
            keys = row.keys()
        run.append(row)
    if run:
        yield frozenset(keys), run


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement for one set of columns, and how to run it on the driver directly."""

    statement: Insert
    sql: str | None
    """The compiled SQL text; None when only SQLAlchemy's execution fills every parameter."""
    names: tuple[str, ...]
    """The columns bound, in parameter order."""
    positional: bool
    processors: tuple[Callable[[Any], Any] | None, ...]
    """Each column's bind processor (None: the value goes as it is)."""
    copy_sql: str | None = None
    """For a plain insert on PostgreSQL: ``COPY table (names) FROM STDIN``, used instead."""

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run for ``rows`` (all with exactly ``names`` as keys); return the rowcount."""
        if self.sql is None:
            # An INSERT's cursor is closed before its rowcount is read unless asked to keep it.
            result = conn.execute(self.statement, rows, execution_options=_KEEP_ROWCOUNT)
            return max(result.rowcount, 0)
        return self._run(conn, [operator.itemgetter(name) for name in self.names], rows)

    def execute_values(
        self, conn: Connection, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> int:
        """``execute`` for rows given as values in the order of ``names`` (the same set)."""
        if self.sql is None:
            return self.execute(conn, [dict(zip(names, values, strict=True)) for values in rows])
        return self._run(
            conn, [operator.itemgetter(names.index(name)) for name in self.names], rows
        )

    def _run(
        self, conn: Connection, getters: list[Callable[[Any], Any]], rows: Sequence[Any]
    ) -> int:
        """The rows to the driver: per column, each value through the column's bind processor.

        Column-wise, so the loops run in C: one iterator per column, zipped into the rows.
        """
        assert self.sql is not None
        columns = [
            map(get, rows) if process is None else map(process, map(get, rows))
            for get, process in zip(getters, self.processors, strict=True)
        ]
        params: list[Any] = list(zip(*columns, strict=True))
        if self.copy_sql is not None:
            # One COPY instead of a statement per row: a fraction of psycopg's CPU per row.
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(self.copy_sql) as copy:
                for values in params:
                    copy.write_row(values)
            return len(params)
        if not self.positional:
            params = [dict(zip(self.names, values, strict=True)) for values in params]
        result = conn.exec_driver_sql(self.sql, params, execution_options=_KEEP_ROWCOUNT)
        return max(result.rowcount, 0)


def _prepare(dialect: Dialect, statement: Insert, names: tuple[str, ...]) -> _Prepared:
    """``statement`` compiled for ``dialect`` with ``names`` as its parameters."""
    compiled = statement.compile(dialect=dialect, column_keys=list(names), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    bound = compiled.positiontup if compiled.positional else list(compiled.bind_names.values())
    if (
        bound is None
        or sorted(bound) != sorted(names)
        or compiled.escaped_bind_names
        or any(compiled.binds[name].key != name for name in bound)
    ):
        return _Prepared(statement, None, names, True, ())
    # each bind's own type, processed as SQLAlchemy's execution would
    processors = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in bound
    )
    return _Prepared(statement, compiled.string, tuple(bound), compiled.positional, processors)


@functools.lru_cache(maxsize=256)
def _prepared_upsert(
    dialect: Dialect,
    table: Table,
    key_names: tuple[str, ...],
    names: tuple[str, ...],
    guard: str | None,
) -> _Prepared:
    statement = _upsert_statement(dialect.name, table, key_names, names, guard)
    return _prepare(dialect, statement, names)


@functools.lru_cache(maxsize=256)
def _prepared_insert(dialect: Dialect, table: Table, names: tuple[str, ...]) -> _Prepared:
    prepared = _prepare(dialect, table.insert(), names)
    if dialect.name != "postgresql" or prepared.sql is None:
        return prepared
    quote = dialect.identifier_preparer
    columns = ", ".join(quote.quote(name) for name in prepared.names)
    copy_sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
    return replace(prepared, copy_sql=copy_sql)


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
