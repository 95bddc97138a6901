"""The analytics views (docs/schema.md) on both databases: their columns, edge cases written out,
and a property: for random histories the views equal the facts computed in Python.

Histories are written straight into the mirror as syncd writes them (API-shaped objects through
``mirror_row``, with ``raw`` and ``synced_at``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_support import (
    ATTENTION_ITEM_FACTS,
    CONVERSATION_FACTS,
    Writer,
    expected_attention_item_facts,
    expected_conversation_facts,
    read_facts,
    read_mirror,
    view_columns,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from syncd.store import tables

T0 = datetime(2026, 3, 1, 23, 59, 50, tzinfo=UTC)  # near midnight: durations cross a day
SYNCED = datetime(2026, 3, 5, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_views_have_exactly_the_columns_of_the_design(engine: Engine) -> None:
    assert view_columns(engine, "conversation_facts") == list(CONVERSATION_FACTS)
    assert view_columns(engine, "attention_item_facts") == list(ATTENTION_ITEM_FACTS)


def test_edge_cases_give_the_documented_facts(engine: Engine) -> None:
    with engine.begin() as conn:
        w = Writer(conn, SYNCED)
        # no messages, no history
        w.conversation("quiet", created_at=at(0))
        # outbound first: the first response is the first reply after the customer wrote
        w.conversation("outbound_first", created_at=at(0))
        w.message("of1", "outbound_first", direction="outbound", sent_at=at(1))
        w.message("of2", "outbound_first", direction="inbound", sent_at=at(5))
        w.message("of3", "outbound_first", direction="outbound", sent_at=at(65.5))
        w.message("of4", "outbound_first", direction="outbound", sent_at=at(70))
        # only a response before the first inbound: no first response
        w.conversation("early_reply", created_at=at(0))
        w.message("er1", "early_reply", direction="outbound", sent_at=at(1))
        w.message("er2", "early_reply", direction="inbound", sent_at=at(2))
        # voice: every message inbound, the AI's turn is the response
        w.conversation("call", channel_type="voice", created_at=at(0))
        w.message("v1", "call", speaker="ai", sent_at=at(0), channel="voice")
        w.message("v2", "call", speaker="caller", sent_at=at(1), channel="voice")
        w.message("v3", "call", speaker="ai", sent_at=at(3.25), channel="voice")
        # equal timestamps: a reply stamped the same instant is not the response
        w.conversation("same_instant", created_at=at(0))
        w.message("si1", "same_instant", direction="inbound", sent_at=at(10))
        w.message("si2", "same_instant", direction="outbound", sent_at=at(10))
        w.message("si3", "same_instant", direction="outbound", sent_at=at(10.000001))
        # deleted messages do not count, not even as the first inbound or the response
        w.conversation("edited", created_at=at(0))
        w.message("ed1", "edited", direction="inbound", sent_at=at(1), deleted_at=SYNCED)
        w.message("ed2", "edited", direction="inbound", sent_at=at(2))
        w.message("ed3", "edited", direction="outbound", sent_at=at(3), deleted_at=SYNCED)
        w.message("ed4", "edited", direction="outbound", sent_at=at(4))
        # resolved while syncd watched, reopened, resolved again; sub-second precision
        w.conversation("watched", status="resolved", created_at=at(0))
        w.statuses(
            "watched",
            [(at(10), "open"), (at(59.9999), "resolved"), (at(100), "open"),
             (at(200), "closed"), (at(300), "in_progress"), (at(400), "resolved")],
        )  # fmt: skip
        # first seen already resolved: when it was resolved is not known, even after a reopen
        w.conversation("late", status="resolved", created_at=at(0))
        w.statuses("late", [(at(10), "resolved"), (at(20), "open"), (at(30), "resolved")])
        # a deleted conversation stays, flagged; one never announced is left out
        w.conversation("gone", created_at=at(0), deleted_at=SYNCED)
        w.conversation("listed_only", fingerprint=None, channel_type=None)
        w.conversation("by_id_only", fingerprint="", created_at=None)
        # attention items: open, resolved, dismissed with a resolvedAt, and one without a
        # workspace of its own (its conversation's is used)
        w.attention_item("ai_open", "quiet", created_at=at(0))
        w.attention_item(
            "ai_done", "quiet", status="resolved", created_at=at(0), resolved_at=at(86_400.5)
        )
        w.attention_item(
            "ai_dismissed", "quiet", status="dismissed", created_at=at(1), resolved_at=at(2)
        )
        w.attention_item("ai_ack", "quiet", status="acknowledged", created_at=None)
        w.attention_item("ai_nows", "call", created_at=at(0), workspace_id=None)
        w.attention_item("ai_orphan", "unknown", created_at=at(0), workspace_id=None)

    with engine.connect() as conn:
        conversations, items = read_facts(conn)

    assert set(conversations) == {
        "quiet", "outbound_first", "early_reply", "call", "same_instant", "edited", "watched",
        "late", "gone", "by_id_only",
    }  # fmt: skip

    def facts(cid: str, *columns: str) -> tuple[Any, ...]:
        return tuple(conversations[cid][c] for c in columns)

    timing = ("first_inbound_at", "first_response_at", "first_response_s")
    counts = ("message_count", "inbound_count", "outbound_count")
    assert facts("quiet", *timing, *counts) == (None, None, None, 0, 0, 0)
    assert facts("outbound_first", *timing, *counts) == (at(5), at(65.5), 60.5, 4, 1, 3)
    assert facts("early_reply", *timing, *counts) == (at(2), None, None, 2, 1, 1)
    assert facts("call", *timing, *counts) == (at(1), at(3.25), 2.25, 3, 1, 2)
    assert facts("same_instant", *timing) == (at(10), at(10.000001), 0.000001)
    assert facts("edited", *timing, *counts) == (at(2), at(4), 2.0, 2, 1, 1)

    resolution = ("first_resolved_at", "resolution_s", "reopen_count")
    assert facts("watched", *resolution) == (at(59.9999), 59.9999, 2)
    assert facts("late", *resolution) == (None, None, 1)
    assert facts("quiet", *resolution) == (None, None, 0)

    assert facts("quiet", "attention_item_count", "open_attention_item_count") == (4, 1)
    assert facts("call", "attention_item_count", "open_attention_item_count") == (1, 1)
    assert [cid for cid, row in conversations.items() if row["is_deleted"]] == ["gone"]
    assert facts("by_id_only", "created_at", "resolution_s", "message_count") == (None, None, 0)

    def item(aid: str, *columns: str) -> tuple[Any, ...]:
        return tuple(items[aid][c] for c in columns)

    assert item("ai_open", "is_open", "time_to_resolve_s") == (True, None)
    assert item("ai_done", "is_open", "time_to_resolve_s") == (False, 86_400.5)
    assert item("ai_dismissed", "is_open", "time_to_resolve_s") == (False, 1.0)
    assert item("ai_ack", "is_open", "time_to_resolve_s") == (False, None)
    assert item("ai_nows", "workspace_id") == ("ws_1",)
    assert item("ai_orphan", "workspace_id", "conversation_id") == (None, "unknown")


# --- the property --------------------------------------------------------------------------------

CHANNELS = ("email", "whatsapp", "sms", "webchat", "voice")
STATUSES = ("open", "in_progress", "awaiting_contact", "resolved", "closed", "abandoned")
ITEM_STATUSES = ("open", "acknowledged", "resolved", "dismissed")

# Quarter seconds make equal timestamps common; any microsecond within two days the rest.
moments = st.one_of(
    st.integers(0, 12).map(lambda n: n * 250_000),
    st.integers(0, 2 * 86_400 * 10**6),
).map(lambda us: T0 + timedelta(microseconds=us))
maybe_moments = st.one_of(moments, moments, moments, st.none())

message_kinds = {
    # kind → (direction, speaker)
    "inbound": ("inbound", None),
    "outbound": ("outbound", None),
    "ai_note": ("outbound", "ai"),  # a status change with a message (the AI says so)
    "caller": ("inbound", "caller"),
    "ai": ("inbound", "ai"),
    "agent": ("inbound", "agent"),  # a speaker unknown to this version: neither side
}


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    """One conversation's story: messages, observed statuses, attention items."""
    channel = draw(st.sampled_from(CHANNELS))
    kinds = ("caller", "ai", "agent") if channel == "voice" else ("inbound", "outbound", "ai_note")
    messages = draw(
        st.lists(
            st.tuples(st.sampled_from(kinds), maybe_moments, st.sampled_from((False, False, True))),
            max_size=6,
        )
    )
    seen: list[str] = []
    for status in draw(st.lists(st.sampled_from(STATUSES), max_size=6)):
        if not seen or seen[-1] != status:  # syncd records changes only
            seen.append(status)
    observed = sorted(draw(st.lists(moments, min_size=len(seen), max_size=len(seen), unique=True)))
    items = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ITEM_STATUSES),
                maybe_moments,
                maybe_moments,
                st.booleans(),  # about this conversation, or one the mirror does not know
                st.booleans(),  # the item carries its workspace
            ),
            max_size=3,
        )
    )
    return {
        "channel": channel,
        "created_at": draw(maybe_moments),
        "fingerprint": draw(st.sampled_from(("fp", "fp", "", None))),
        "deleted": draw(st.booleans()),
        "status": seen[-1] if seen else draw(st.sampled_from(STATUSES)),
        "messages": messages,
        "history": list(zip(observed, seen, strict=True)),
        "items": items,
    }


def write_history(w: Writer, index: int, story: dict[str, Any]) -> None:
    cid = f"c{index}"
    w.conversation(
        cid,
        workspace_id=f"ws_{index % 2}",
        channel_type=story["channel"],
        status=story["status"],
        created_at=story["created_at"],
        fingerprint=story["fingerprint"],
        deleted_at=SYNCED if story["deleted"] else None,
    )
    for n, (kind, sent_at, deleted) in enumerate(story["messages"]):
        direction, speaker = message_kinds[kind]
        w.message(
            f"{cid}_m{n}",
            cid,
            direction=direction,
            speaker=speaker,
            sent_at=sent_at,
            channel=story["channel"],
            deleted_at=SYNCED if deleted else None,
        )
    w.statuses(cid, story["history"], workspace_id=f"ws_{index % 2}")
    for n, (status, created_at, resolved_at, own, with_workspace) in enumerate(story["items"]):
        w.attention_item(
            f"{cid}_i{n}",
            cid if own else f"elsewhere_{n}",
            item_type=("mcp_failure", "escalation", "approval_gate")[n % 3],
            status=status,
            created_at=created_at,
            resolved_at=resolved_at if status in ("resolved", "dismissed") else None,
            workspace_id=f"ws_{index % 2}" if with_workspace else None,
        )


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (
            tables.attention_items,
            tables.conversation_status_history,
            tables.messages,
            tables.conversations,
        ):
            conn.execute(table.delete())


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stories=st.lists(histories(), min_size=1, max_size=4))
def test_the_views_equal_the_facts_computed_in_python(
    engine: Engine, stories: list[dict[str, Any]]
) -> None:
    wipe(engine)
    with engine.begin() as conn:
        w = Writer(conn, SYNCED)
        for index, story in enumerate(stories):
            write_history(w, index, story)
    with engine.connect() as conn:
        mirror = read_mirror(conn)
        conversations, items = read_facts(conn)
    assert conversations == expected_conversation_facts(mirror)
    assert items == expected_attention_item_facts(mirror)
