"""docs/schema.md stays true: every table, view and column is documented, and its queries run.

The example queries are extracted from the document (each ```sql block starts with a
``-- SQLite`` or ``-- PostgreSQL`` line; the queries on the tables are under "## Example
queries", those on the analytics views under "## Analytics examples") and run on a mirror filled
by syncing the simulator, on both databases; their results are checked against the simulator, or
against the views' rows computed again in Python.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from analytics_support import ATTENTION_ITEM_FACTS, CONVERSATION_FACTS, read_facts
from sqlalchemy import Engine, text
from sync_support import TERMINAL, conversations_in, server_fixture, status_counts, sync, synced

from syncd.sim import SimServer
from syncd.store import tables

SCHEMA_DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"
DIALECTS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
EXAMPLES = "Example queries"
ANALYTICS_EXAMPLES = "Analytics examples"
VIEWS = {"conversation_facts": CONVERSATION_FACTS, "attention_item_facts": ATTENTION_ITEM_FACTS}

server = server_fixture(seed=21, conversations=60, messages_per_conversation=3)


def doc_text() -> str:
    return SCHEMA_DOC.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the ``## title`` section of the document."""
    parts = re.split(r"^## (.+?)\s*$", doc_text(), flags=re.MULTILINE)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    return found[title]


def sql_blocks(dialect: str, title: str = EXAMPLES) -> list[str]:
    """The ```sql blocks of section ``title`` written for ``dialect``, in document order."""
    label = DIALECTS[dialect]
    blocks = re.findall(r"^```sql\n(.*?)^```$", section(title), flags=re.MULTILINE | re.DOTALL)
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


def test_every_view_column_is_documented_in_the_views_section() -> None:
    sections = table_sections()
    missing = {
        view: [c for c in columns if view not in sections or f"`{c}`" not in sections[view]]
        for view, columns in VIEWS.items()
    }
    assert {name: columns for name, columns in missing.items() if columns} == {}


def test_every_documented_table_or_view_exists() -> None:
    assert set(table_sections()) <= set(tables.metadata.tables) | set(VIEWS)


@pytest.mark.parametrize("title", [EXAMPLES, ANALYTICS_EXAMPLES])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_the_document_has_three_example_queries_for_each_database(dialect: str, title: str) -> None:
    assert len(sql_blocks(dialect, title)) == 3


def run_queries(engine: Engine, title: str = EXAMPLES) -> list[list[dict[str, object]]]:
    with engine.connect() as conn:
        return [
            [dict(row) for row in conn.execute(text(block)).mappings()]
            for block in sql_blocks(engine.dialect.name, title)
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


def monday(moment: datetime) -> str:
    day = moment.date()
    return (day - timedelta(days=day.weekday())).isoformat()


async def test_the_analytics_examples_answer_what_they_say_on_this_database(
    server: SimServer, db_url: str, engine: Engine, isolated_config: Path
) -> None:
    sim = server.simulator
    old_open = conversations_in(sim, "open")[0]
    async with synced(server, db_url) as ctx:
        fresh = [sim.add_conversation(channel_type=channel) for channel in ("email", "whatsapp")]
        await sync(ctx)  # seen open, then replied to and resolved within minutes
        for cid in fresh:
            sim.add_message(cid, "outbound")
            sim.resolve(cid)
        sim.resolve(old_open)  # months after it started
        old_item = next(i for i in sim.list_attention_items() if i["status"] == "open")
        sim.resolve_attention_item(str(old_item["id"]))
        await sync(ctx)

    with engine.connect() as conn:
        conversations, items = read_facts(conn)
    median, within_a_day, open_items = run_queries(engine, ANALYTICS_EXAMPLES)
    now = datetime.now(UTC)
    day = timedelta(days=1)

    responses: dict[tuple[str, str], list[float]] = {}
    for row in conversations.values():
        if row["first_response_s"] is not None and not row["is_deleted"]:
            key = (monday(row["first_inbound_at"]), row["channel_type"])
            responses.setdefault(key, []).append(row["first_response_s"])
    assert [(str(r["week"]), r["channel_type"]) for r in median] == sorted(responses)
    for row in median:
        times = responses[(str(row["week"]), str(row["channel_type"]))]
        assert int(str(row["conversations"])) == len(times)
        assert float(str(row["median_first_response_s"])) == pytest.approx(
            statistics.median(times), abs=0.05 + 1e-9
        )

    known: dict[str, list[float | None]] = {}
    for row in conversations.values():
        if row["is_deleted"] or row["created_at"] is None:
            continue
        unresolved_for_a_day = (
            row["status"] not in (None, "resolved") and now - row["created_at"] > day
        )
        if row["resolution_s"] is not None or unresolved_for_a_day:
            known.setdefault(row["channel_type"], []).append(row["resolution_s"])
    assert [r["channel_type"] for r in within_a_day] == sorted(known)
    for row in within_a_day:
        outcomes = known[str(row["channel_type"])]
        quick = sum(1 for s in outcomes if s is not None and s <= 86_400)
        assert (int(str(row["conversations"])), int(str(row["resolved_within_24h"]))) == (
            len(outcomes),
            quick,
        )
        assert float(str(row["pct_resolved_within_24h"])) == round(100 * quick / len(outcomes), 1)
    assert sum(int(str(r["resolved_within_24h"])) for r in within_a_day) == len(fresh)
    assert conversations[old_open]["resolution_s"] > 86_400

    per_type: dict[str, list[int]] = {}
    for item in items.values():
        if item["created_at"] is None:
            continue
        counts = per_type.setdefault(item["type"], [0, 0, 0])
        counts[0] += item["is_open"] and now - item["created_at"] > day
        counts[1] += (item["time_to_resolve_s"] or 0) > 86_400
        counts[2] += 1
    answered = {
        str(r["type"]): [
            int(str(r[c])) for c in ("still_open_over_a_day", "resolved_after_over_a_day", "items")
        ]
        for r in open_items
    }
    assert [r["type"] for r in open_items] == sorted(per_type)
    assert answered == per_type
    assert sum(c[0] for c in per_type.values()) > 0 and sum(c[1] for c in per_type.values()) > 0
