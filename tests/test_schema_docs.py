"""docs/schema.md stays true: every table and column is documented, and its queries run.

The example queries are extracted from the document (each ```sql block starts with a
``-- SQLite`` or ``-- PostgreSQL`` line) and run on a mirror filled by syncing the simulator, on
both databases; their results are checked against the simulator.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sync_support import TERMINAL, conversations_in, server_fixture, status_counts, sync, synced

from syncd.sim import SimServer
from syncd.store import tables

SCHEMA_DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"
DIALECTS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

server = server_fixture(seed=21, conversations=60, messages_per_conversation=3)


def doc_text() -> str:
    return SCHEMA_DOC.read_text(encoding="utf-8")


def sql_blocks(dialect: str) -> list[str]:
    """The ```sql blocks written for ``dialect``, in document order."""
    label = DIALECTS[dialect]
    blocks = re.findall(r"^```sql\n(.*?)^```$", doc_text(), flags=re.MULTILINE | re.DOTALL)
    return [block for block in blocks if block.splitlines()[0].strip() == f"-- {label}"]


def table_sections() -> dict[str, str]:
    """Each ``### `table` `` section of the document, by table name."""
    parts = re.split(r"^### `([a-z_]+)`\s*$", doc_text(), flags=re.MULTILINE)
    return {
        name: body.split("\n## ", 1)[0] for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def test_every_table_and_column_is_documented_in_its_own_section() -> None:
    sections = table_sections()
    missing = {
        table.name: [
            column.name
            for column in table.columns
            if table.name not in sections or f"`{column.name}`" not in sections[table.name]
        ]
        for table in tables.metadata.sorted_tables
    }
    assert {name: columns for name, columns in missing.items() if columns} == {}


def test_every_documented_table_exists() -> None:
    assert set(table_sections()) <= set(tables.metadata.tables)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_the_document_has_the_three_example_queries_for_each_database(dialect: str) -> None:
    assert len(sql_blocks(dialect)) == 3


def run_queries(engine: Engine) -> list[list[dict[str, object]]]:
    with engine.connect() as conn:
        return [
            [dict(row) for row in conn.execute(text(block)).mappings()]
            for block in sql_blocks(engine.dialect.name)
        ]


async def test_the_example_queries_answer_what_they_say_on_this_database(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    open_ids = conversations_in(sim, "open")
    to_resolve = open_ids[:3]
    assert len(to_resolve) == 3
    async with synced(server, db_url) as ctx:
        for cid in to_resolve:
            sim.resolve(cid)
        sim.raise_attention_item(open_ids[3])
        await sync(ctx)

    by_age, time_to_resolve, attention_per_day = run_queries(engine)

    live_open = Counter(
        {status: n for status, n in status_counts(sim, None).items() if status not in TERMINAL}
    )
    counted: Counter[str] = Counter()
    for row in by_age:
        counted[str(row["status"])] += int(str(row["conversations"]))
    assert counted == live_open
    assert {row["age"] for row in by_age} <= {
        "1: under a day",
        "2: 1 to 7 days",
        "3: 7 to 30 days",
        "4: over 30 days",
        "5: unknown",
    }

    resolved = sum(int(str(row["resolved"])) for row in time_to_resolve)
    assert resolved == len(to_resolve)
    for row in time_to_resolve:
        assert 0 < float(str(row["avg_hours"])) <= float(str(row["max_hours"]))

    items = sim.list_attention_items()
    per_type = Counter(str(item["type"]) for item in items if item.get("createdAt"))
    still_open = sum(1 for item in items if item.get("createdAt") and item["status"] == "open")
    answered: Counter[str] = Counter()
    for row in attention_per_day:
        answered[str(row["type"])] += int(str(row["items"]))
    assert answered == per_type and sum(per_type.values()) > 0
    assert sum(int(str(row["still_open"])) for row in attention_per_day) == still_open
    days = [str(row["day"]) for row in attention_per_day]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) for day in days)
    assert days == sorted(days)
