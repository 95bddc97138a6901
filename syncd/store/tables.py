"""The mirror's tables (docs/schema.md) and syncd's own bookkeeping, as SQLAlchemy Core.

Names here are a contract with BI users: columns are the API's fields in snake_case. Every
mirrored row keeps the payload it came from in ``raw`` and when syncd wrote it in ``synced_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


_DATES_KEPT = 4096
"""Days whose text a SQLite timestamp bind processor keeps at most (a backfill spans a few)."""


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always stores UTC and always returns aware UTC values.

    PostgreSQL keeps ``timestamptz``; SQLite keeps UTC text, which SQLAlchemy would hand back
    naive, so the UTC zone is put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, straight to SQLAlchemy's text format (the generic path is 3x slower)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        last: tuple[datetime | None, str] = (None, "")
        dates: dict[date, str] = {}

        def process(value: datetime | None) -> str | None:
            nonlocal last
            if value is None:
                return None
            seen, text = last
            if value is seen:  # the rows of one observation share its moment
                return text
            if type(value) is not datetime:
                # isoformat pads the year to 4 digits, as SQLAlchemy's "YYYY-MM-DD HH:MM:SS.ffffff"
                return _as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
            utc = value if value.tzinfo is UTC else _as_utc(value)
            # The same text as above, built faster: the date part once per day.
            day = utc.date()
            prefix = dates.get(day)
            if prefix is None:
                if len(dates) >= _DATES_KEPT:
                    dates.clear()
                prefix = dates[day] = f"{day.isoformat()} "
            text = prefix + utc.time().isoformat("microseconds")
            last = (value, text)
            return text

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: syncd stores aware UTC timestamps only")
    return value.astimezone(UTC)


# BIGINT on PostgreSQL; INTEGER PRIMARY KEY (the rowid alias) on SQLite so it autoincrements.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


def _mirror_columns() -> list[Column[Any]]:
    return [
        Column("raw", JSON, nullable=False),
        # indexed: the incremental cursor of warehouse loaders (docs/schema.md)
        Column("synced_at", UTCDateTime, nullable=False, index=True),
    ]


conversations = Table(
    "conversations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("workspace_id", Text, index=True),
    Column("tenant_id", Text),
    Column("channel_id", Text),
    Column("channel_type", Text),
    Column("contact_id", Text, index=True),
    Column("account_id", Text),
    Column("status", Text, index=True),
    Column("state_summary", Text),
    Column("outcome", Text),
    Column("human_managing_user_id", Text),
    Column("last_activity_at", UTCDateTime),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    # list-only fields
    Column("last_message_preview", Text),
    Column("last_message_at", UTCDateTime, index=True),
    Column("contact_name", Text),
    Column("contact_email", Text),
    Column("account_name", Text),
    Column("human_managed", Boolean),
    Column("form_type", Text),
    Column("auto_resolved", Boolean),
    Column("last_turn_routing_path", Text),
    # syncd's bookkeeping on the row
    Column("deleted_at", UTCDateTime),
    Column("fingerprint", Text),
    Column("detail_error", Text),
    Column("attachments_pending", Boolean, nullable=False, default=False, server_default=false()),
    Column("last_listed_at", UTCDateTime),
    # when its detail was last read (any reason counts): the refresh stream reads oldest first
    Column("refreshed_at", UTCDateTime, index=True),
    # unsettled attachments: when to read them again, and the current backoff step
    Column("attachments_check_at", UTCDateTime),
    Column("attachments_backoff_s", Float),
    *_mirror_columns(),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email", Text),
    *_mirror_columns(),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text),
    *_mirror_columns(),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("conversation_id", Text, nullable=False, index=True),
    Column("direction", Text),
    Column("speaker", Text),
    Column("body", Text),
    Column("sent_at", UTCDateTime, index=True),
    Column("channel", Text),
    Column("from_address", Text),
    Column("subject", Text),
    # set when a complete ``history`` of its conversation no longer lists it
    Column("deleted_at", UTCDateTime),
    *_mirror_columns(),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("conversation_id", Text, nullable=False, index=True),
    Column("message_id", Text),
    Column("file_name", Text),
    Column("mime_type", Text),
    Column("size_bytes", BigInteger),
    Column("status", Text),
    Column("created_at", UTCDateTime),
    *_mirror_columns(),
)

attention_items = Table(
    "attention_items",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text),
    Column("workspace_id", Text, index=True),
    Column("conversation_id", Text, index=True),
    Column("type", Text, index=True),
    Column("status", Text, index=True),
    Column("context", JSON),
    Column("reason", Text),
    Column("created_at", UTCDateTime, index=True),
    Column("resolved_at", UTCDateTime),
    Column("turn_id", Text),
    Column("assigned_to_user_id", Text),
    *_mirror_columns(),
)

context_entries = Table(
    "context_entries",
    metadata,
    Column("conversation_id", Text, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    *_mirror_columns(),
)

conversation_status_history = Table(
    "conversation_status_history",
    metadata,
    Column("conversation_id", Text, primary_key=True),
    # indexed on its own: the incremental cursor of this append-only table
    Column("observed_at", UTCDateTime, primary_key=True, index=True),
    Column("workspace_id", Text, index=True),
    Column("from_status", Text),
    Column("to_status", Text, nullable=False),
)

status_count_snapshots = Table(
    "status_count_snapshots",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    # indexed on its own: the incremental cursor of this append-only table
    Column("taken_at", UTCDateTime, primary_key=True, index=True),
    Column("status", Text, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("stream", Text, primary_key=True),
    Column("last_success_at", UTCDateTime),
    Column("last_attempt_at", UTCDateTime),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0, server_default=text("0")),
    Column("watermark", UTCDateTime),
    # an unfinished walk (the resumable backfill/reconcile): where to continue, since when
    Column("cursor", Text),
    Column("pass_started_at", UTCDateTime),
    Column("skipped_rows", Integer, nullable=False, default=0, server_default=text("0")),
    Column("state", JSON),
)

events = Table(
    "events",
    metadata,
    Column("seq", AutoId, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False, index=True),
    Column("workspace_id", Text, index=True),
    Column("subject_id", Text, index=True),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("backfill", Boolean, nullable=False),
    # the envelope exactly as every sink receives it (text, so it stays byte for byte the same)
    Column("payload", Text, nullable=False),
    # AUTOINCREMENT: SQLite must never reuse a seq (sinks remember positions by seq)
    sqlite_autoincrement=True,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("sink", Text, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    # delivered | failed | dead | skipped
    Column("outcome", Text, nullable=False),
    Column("error", Text),
    Column("next_attempt_at", UTCDateTime),
    Index("ix_deliveries_sink_event_seq", "sink", "event_seq"),
    Index("ix_deliveries_sink_outcome", "sink", "outcome"),
    sqlite_autoincrement=True,
)

sink_state = Table(
    "sink_state",
    metadata,
    Column("sink", Text, primary_key=True),
    # seq of the last event the sink acknowledged (or skipped); the next one is position+1..
    Column("position", BigInteger, nullable=False, default=0, server_default=text("0")),
    Column("head_attempts", Integer, nullable=False, default=0, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),
    # when the head event's first failed attempt was made (NULL while the sink is healthy)
    Column("failing_since", UTCDateTime),
    Column("last_delivered_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
)

privacy_suppressions = Table(
    "privacy_suppressions",
    metadata,
    # "contact" (a contact id), "email" (an address's hash), "conversation" (a conversation id)
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
    # a suppressed conversation's workspace and last listed status: the mirror's status counts
    # still include it, so the API's counts do not look like a drift
    Column("workspace_id", Text),
    Column("status", Text),
    # when a complete list walk last showed it (one that no longer does stops counting it)
    Column("listed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

MIRROR_TABLES = (
    conversations,
    contacts,
    accounts,
    messages,
    attachments,
    attention_items,
    context_entries,
    conversation_status_history,
    status_count_snapshots,
)
