"""Helpers for the analytics views' tests (tests/test_analytics_*.py).

The facts of docs/schema.md computed in Python, from the mirror's rows, as a reference for the
views ``conversation_facts`` and ``attention_item_facts``; histories written into the mirror the
way syncd writes them (``mirror_row``: API-shaped objects, ``raw``, ``synced_at``); the views
read back with the same Python types on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from syncd.store import tables
from syncd.sync.rows import mirror_row

TERMINAL = frozenset({"resolved", "closed", "abandoned"})

CONVERSATION_FACTS = (
    "conversation_id",
    "workspace_id",
    "channel_type",
    "status",
    "created_at",
    "first_inbound_at",
    "first_response_at",
    "first_response_s",
    "first_resolved_at",
    "resolution_s",
    "reopen_count",
    "message_count",
    "inbound_count",
    "outbound_count",
    "attention_item_count",
    "open_attention_item_count",
    "is_deleted",
)
"""The columns of ``conversation_facts``, in order (docs/schema.md: a contract)."""

ATTENTION_ITEM_FACTS = (
    "attention_item_id",
    "conversation_id",
    "workspace_id",
    "type",
    "status",
    "created_at",
    "resolved_at",
    "time_to_resolve_s",
    "is_open",
)
"""The columns of ``attention_item_facts``, in order (docs/schema.md: a contract)."""

TIMESTAMPS = frozenset(
    {"created_at", "first_inbound_at", "first_response_at", "first_resolved_at", "resolved_at"}
)
DURATIONS = frozenset({"first_response_s", "resolution_s", "time_to_resolve_s"})
FLAGS = frozenset({"is_deleted", "is_open"})

Row = dict[str, Any]


# --- the mirror's rows -------------------------------------------------------------------------


@dataclass
class Mirror:
    """Rows of the tables the views read, column names as in the mirror."""

    conversations: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    history: list[Row] = field(default_factory=list)
    attention_items: list[Row] = field(default_factory=list)


def read_mirror(conn: Connection) -> Mirror:
    """The rows the views read, as SQLAlchemy returns them (aware UTC datetimes)."""

    def rows(table: Any) -> list[Row]:
        return [dict(row) for row in conn.execute(select(table)).mappings()]

    return Mirror(
        conversations=rows(tables.conversations),
        messages=rows(tables.messages),
        history=rows(tables.conversation_status_history),
        attention_items=rows(tables.attention_items),
    )


def iso(moment: datetime | None) -> str | None:
    """An API timestamp (what syncd parses back into the same moment)."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass
class Writer:
    """Writes API-shaped objects into the mirror as syncd's sync engine does."""

    conn: Connection
    synced_at: datetime

    def conversation(
        self,
        conversation_id: str,
        *,
        workspace_id: str | None = "ws_1",
        channel_type: str | None = "email",
        status: str | None = "open",
        created_at: datetime | None = None,
        fingerprint: str | None = "fp",
        deleted_at: datetime | None = None,
    ) -> None:
        data: dict[str, Any] = {"id": conversation_id, "workspaceId": workspace_id}
        for key, value in (
            ("channelType", channel_type),
            ("status", status),
            ("createdAt", iso(created_at)),
        ):
            if value is not None:
                data[key] = value
        row = mirror_row(
            tables.conversations,
            data,
            self.synced_at,
            deleted_at=deleted_at,
            fingerprint=fingerprint,
            detail_error=None,
            attachments_pending=False,
        )
        self.conn.execute(tables.conversations.insert(), [row])

    def message(
        self,
        message_id: str,
        conversation_id: str,
        *,
        direction: str = "inbound",
        speaker: str | None = None,
        sent_at: datetime | None,
        channel: str = "email",
        deleted_at: datetime | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "id": message_id,
            "direction": direction,
            "speaker": speaker,
            "body": f"body of {message_id}",
            "channel": channel,
        }
        if sent_at is not None:
            data["sentAt"] = iso(sent_at)
        row = mirror_row(
            tables.messages,
            data,
            self.synced_at,
            conversation_id=conversation_id,
            deleted_at=deleted_at,
        )
        self.conn.execute(tables.messages.insert(), [row])

    def statuses(
        self, conversation_id: str, seen: Iterable[tuple[datetime, str]], workspace_id: str = "ws_1"
    ) -> None:
        """Status history: each (observed_at, status) as syncd records a change it saw."""
        rows: list[Row] = []
        previous: str | None = None
        for observed_at, status in seen:
            rows.append(
                {
                    "conversation_id": conversation_id,
                    "observed_at": observed_at,
                    "workspace_id": workspace_id,
                    "from_status": previous,
                    "to_status": status,
                }
            )
            previous = status
        if rows:
            self.conn.execute(tables.conversation_status_history.insert(), rows)

    def attention_item(
        self,
        item_id: str,
        conversation_id: str | None,
        *,
        item_type: str = "mcp_failure",
        status: str = "open",
        created_at: datetime | None,
        resolved_at: datetime | None = None,
        workspace_id: str | None = "ws_1",
    ) -> None:
        data: dict[str, Any] = {
            "id": item_id,
            "tenantId": "tn_1",
            "conversationId": conversation_id,
            "type": item_type,
            "status": status,
            "context": {},
        }
        if created_at is not None:
            data["createdAt"] = iso(created_at)
        if resolved_at is not None:
            data["resolvedAt"] = iso(resolved_at)
        row = mirror_row(tables.attention_items, data, self.synced_at, workspace_id=workspace_id)
        self.conn.execute(tables.attention_items.insert(), [row])


# --- the facts in Python -----------------------------------------------------------------------


def is_inbound(message: Mapping[str, Any]) -> bool:
    """The customer's message: inbound, without a speaker or the voice caller's turn."""
    return message["direction"] == "inbound" and message["speaker"] in (None, "caller")


def is_response(message: Mapping[str, Any]) -> bool:
    """A response to the customer: an outbound message, or the voice AI's turn."""
    return message["direction"] == "outbound" or message["speaker"] == "ai"


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def first_resolved(history: list[Row]) -> datetime | None:
    """The earliest observed transition to resolved; None when first seen already resolved."""
    ordered = sorted(history, key=lambda row: row["observed_at"])
    if not ordered or (ordered[0]["from_status"] is None and ordered[0]["to_status"] == "resolved"):
        return None
    return min(
        (
            row["observed_at"]
            for row in ordered
            if row["from_status"] is not None and row["to_status"] == "resolved"
        ),
        default=None,
    )


def expected_conversation_facts(mirror: Mirror) -> dict[str, Row]:
    """``conversation_facts`` by conversation id, computed in Python."""
    facts: dict[str, Row] = {}
    for conversation in mirror.conversations:
        if conversation["fingerprint"] is None:
            continue  # listed, detail never read: not announced, left out
        cid = conversation["id"]
        live = [
            m for m in mirror.messages if m["conversation_id"] == cid and m["deleted_at"] is None
        ]
        first_inbound = min(
            (m["sent_at"] for m in live if is_inbound(m) and m["sent_at"] is not None),
            default=None,
        )
        first_response = min(
            (
                m["sent_at"]
                for m in live
                if is_response(m)
                and m["sent_at"] is not None
                and first_inbound is not None
                and m["sent_at"] > first_inbound
            ),
            default=None,
        )
        history = [h for h in mirror.history if h["conversation_id"] == cid]
        resolved_at = first_resolved(history)
        items = [i for i in mirror.attention_items if i["conversation_id"] == cid]
        facts[cid] = {
            "conversation_id": cid,
            "workspace_id": conversation["workspace_id"],
            "channel_type": conversation["channel_type"],
            "status": conversation["status"],
            "created_at": conversation["created_at"],
            "first_inbound_at": first_inbound,
            "first_response_at": first_response,
            "first_response_s": seconds(first_inbound, first_response),
            "first_resolved_at": resolved_at,
            "resolution_s": seconds(conversation["created_at"], resolved_at),
            "reopen_count": sum(
                1
                for h in history
                if h["from_status"] in TERMINAL and h["to_status"] not in TERMINAL
            ),
            "message_count": len(live),
            "inbound_count": sum(1 for m in live if is_inbound(m)),
            "outbound_count": sum(1 for m in live if is_response(m)),
            "attention_item_count": len(items),
            "open_attention_item_count": sum(1 for i in items if i["status"] == "open"),
            "is_deleted": conversation["deleted_at"] is not None,
        }
    return facts


def expected_attention_item_facts(mirror: Mirror) -> dict[str, Row]:
    """``attention_item_facts`` by item id, computed in Python."""
    workspaces = {c["id"]: c["workspace_id"] for c in mirror.conversations}
    return {
        item["id"]: {
            "attention_item_id": item["id"],
            "conversation_id": item["conversation_id"],
            "workspace_id": item["workspace_id"] or workspaces.get(item["conversation_id"]),
            "type": item["type"],
            "status": item["status"],
            "created_at": item["created_at"],
            "resolved_at": item["resolved_at"],
            "time_to_resolve_s": seconds(item["created_at"], item["resolved_at"]),
            "is_open": item["status"] == "open",
        }
        for item in mirror.attention_items
    }


# --- the views, read back ----------------------------------------------------------------------


def normalise(column: str, value: Any) -> Any:
    """One value of a view as Python sees it on either database."""
    if value is None:
        return None
    if column in TIMESTAMPS:
        if isinstance(value, str):  # SQLite: UTC text
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime) and value.tzinfo is not None
        return value.astimezone(UTC)
    if column in DURATIONS:
        assert isinstance(value, float), (column, value)
        return value
    if column in FLAGS:
        assert value in (0, 1), (column, value)
        return bool(value)
    return value


def read_view(conn: Connection, view: str, key: str) -> dict[str, Row]:
    """A view's rows by their key column, values normalised."""
    result = conn.execute(text(f"SELECT * FROM {view}"))
    columns = list(result.keys())
    facts: dict[str, Row] = {}
    for values in result:
        row = {c: normalise(c, v) for c, v in zip(columns, values, strict=True)}
        facts[row[key]] = row
    return facts


def view_columns(engine: Engine, view: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM {view} WHERE 1 = 0")).keys())


def read_facts(conn: Connection) -> tuple[dict[str, Row], dict[str, Row]]:
    """Both views: (conversation_facts by conversation id, attention_item_facts by item id)."""
    return (
        read_view(conn, "conversation_facts", "conversation_id"),
        read_view(conn, "attention_item_facts", "attention_item_id"),
    )
