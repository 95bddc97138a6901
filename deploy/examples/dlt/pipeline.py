"""Copy syncd's PostgreSQL mirror into DuckDB with dlt, incrementally.

The first run copies every mirror table; each later run copies the rows syncd wrote since the
previous run, read by their cursor column (``synced_at``; ``observed_at`` and ``taken_at`` for
the two append-only tables) and merged into DuckDB by primary key, as docs/schema.md ("Reading
the mirror incrementally") recommends. dlt keeps the cursor in the pipeline's state.

    python3 -m venv .venv-dlt
    .venv-dlt/bin/pip install -r deploy/examples/dlt/requirements.txt
    .venv-dlt/bin/python deploy/examples/dlt/pipeline.py \\
        --source 'postgresql+psycopg://reporting@db.internal/syncd' --duckdb mirror.duckdb

Prints one JSON line: the rows loaded per table by this run, and each table's row count in
DuckDB afterwards. Tested by tests/test_warehouse_dlt.py against a mirror synced from syncd's
simulator.

``--lag-s`` (default 3600) re-reads that many seconds behind the cursor each run: ``synced_at``
is when syncd read an object, and a row can be committed minutes after rows with a later
``synced_at``; the re-read rows are merged by key, so they cost time, not duplicates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.sources.sql_database import sql_database

# table → (cursor column, primary key)
MIRROR_TABLES: dict[str, tuple[str, list[str]]] = {
    "conversations": ("synced_at", ["id"]),
    "contacts": ("synced_at", ["id"]),
    "accounts": ("synced_at", ["id"]),
    "messages": ("synced_at", ["id"]),
    "attachments": ("synced_at", ["id"]),
    "attention_items": ("synced_at", ["id"]),
    # replaced whole by syncd: entries it removed stay here; current ones share the newest
    # synced_at of their conversation (docs/schema.md, context_entries)
    "context_entries": ("synced_at", ["conversation_id", "position"]),
    "conversation_status_history": ("observed_at", ["conversation_id", "observed_at"]),
    "status_count_snapshots": ("taken_at", ["workspace_id", "taken_at", "status"]),
}


def mirror_source(credentials: str, schema: str | None, lag_s: float) -> Any:
    """dlt's sql_database source over syncd's tables, each incremental on its cursor."""
    source = sql_database(
        credentials, schema=schema, table_names=list(MIRROR_TABLES), reflection_level="full"
    )
    for table, (cursor, key) in MIRROR_TABLES.items():
        source.resources[table].apply_hints(
            primary_key=key,
            write_disposition="merge",
            # closed range: rows at the last cursor value are read again and deduplicated by key
            incremental=dlt.sources.incremental(cursor, lag=lag_s or None, range_start="closed"),
        )
    return source


def run(
    source_url: str,
    duckdb_path: Path,
    *,
    dataset: str = "syncd",
    schema: str | None = None,
    lag_s: float = 3600,
    pipelines_dir: Path | None = None,
) -> dict[str, Any]:
    """One incremental run; returns the rows loaded per table and the tables' sizes after it."""
    pipeline = dlt.pipeline(
        pipeline_name="syncd_mirror",
        destination=dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
    )
    pipeline.run(mirror_source(source_url, schema, lag_s))
    counts = pipeline.last_trace.last_normalize_info.row_counts
    loaded = {table: int(counts.get(table, 0)) for table in MIRROR_TABLES}
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        sizes = {
            table: int(conn.execute(f'SELECT count(*) FROM "{dataset}"."{table}"').fetchone()[0])  # noqa: S608
            for table in MIRROR_TABLES
        }
    return {"loaded": loaded, "rows": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="SQLAlchemy URL of syncd's PostgreSQL")
    parser.add_argument("--duckdb", required=True, type=Path, help="DuckDB file to load into")
    parser.add_argument("--dataset", default="syncd", help="DuckDB schema (default: syncd)")
    parser.add_argument("--schema", default=None, help="syncd's schema (default: search_path)")
    parser.add_argument("--lag-s", type=float, default=3600, help="re-read window (s)")
    parser.add_argument("--pipelines-dir", type=Path, default=None, help="dlt's working dir")
    args = parser.parse_args()
    report = run(
        args.source,
        args.duckdb,
        dataset=args.dataset,
        schema=args.schema,
        lag_s=args.lag_s,
        pipelines_dir=args.pipelines_dir,
    )
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
