"""Analytics: the views conversation_facts and attention_item_facts, the loaders' cursor indexes.

The views are a contract (documented in docs/schema.md). Their SQL is written here,
frozen with this revision: a later migration that changes them drops and recreates them with its
own copy. A later migration that rebuilds one of the tables they read (SQLite batch mode, or a
column type change on PostgreSQL) must drop them first and recreate them after
(docs/internals.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every mirror table with the column a warehouse loader reads incrementally.
CURSOR_INDEXES = (
    ("conversations", "synced_at"),
    ("contacts", "synced_at"),
    ("accounts", "synced_at"),
    ("messages", "synced_at"),
    ("attachments", "synced_at"),
    ("attention_items", "synced_at"),
    ("context_entries", "synced_at"),
    ("conversation_status_history", "observed_at"),
    ("status_count_snapshots", "taken_at"),
)

VIEWS = ("conversation_facts", "attention_item_facts")

TERMINAL = "('resolved', 'closed', 'abandoned')"


def seconds_between(dialect: str, start: str, end: str) -> str:
    """SQL for ``end - start`` in seconds, a float, NULL when either is NULL.

    PostgreSQL: exact interval arithmetic. SQLite keeps UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``:
    whole seconds come from strftime on the first 19 characters (strftime on the full text rounds
    to milliseconds, which can carry into the next second), microseconds from the digits after the
    dot; the difference is counted in whole microseconds and divided once, so both databases
    return the same float.
    """
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({end} - {start}))::double precision"
    return (
        f"((strftime('%s', substr({end}, 1, 19)) - strftime('%s', substr({start}, 1, 19)))"
        f" * 1000000 + (CAST(substr({end} || '000000', 21, 6) AS INTEGER)"
        f" - CAST(substr({start} || '000000', 21, 6) AS INTEGER))) / 1000000.0"
    )


def conversation_facts(dialect: str) -> str:
    """One row per announced conversation (fingerprint not NULL), live or deleted."""
    # The customer's message (inbound): an inbound one without a speaker or with the caller's (voice
    # is all inbound). A response: an outbound one, or the voice AI's turn. Unknown speakers on an
    # inbound message are neither.
    return f"""
CREATE VIEW conversation_facts AS
WITH classified AS (
  SELECT
    conversation_id,
    sent_at,
    CASE WHEN direction = 'inbound' AND (speaker IS NULL OR speaker = 'caller')
      THEN 1 ELSE 0 END AS is_inbound,
    CASE WHEN direction = 'outbound' OR speaker = 'ai'
      THEN 1 ELSE 0 END AS is_response
  FROM messages
  WHERE deleted_at IS NULL
),
ordered AS (
  SELECT
    conversation_id,
    sent_at,
    is_inbound,
    is_response,
    MIN(CASE WHEN is_inbound = 1 THEN sent_at END)
      OVER (PARTITION BY conversation_id) AS first_inbound_at
  FROM classified
),
message_stats AS (
  SELECT
    conversation_id,
    COUNT(*) AS message_count,
    SUM(is_inbound) AS inbound_count,
    SUM(is_response) AS outbound_count,
    MIN(first_inbound_at) AS first_inbound_at,
    MIN(CASE WHEN is_response = 1 AND sent_at > first_inbound_at THEN sent_at END)
      AS first_response_at
  FROM ordered
  GROUP BY conversation_id
),
status_stats AS (
  SELECT
    conversation_id,
    CASE
      -- first seen already resolved: when it was resolved first is not known
      WHEN MIN(observed_at) = MIN(CASE WHEN from_status IS NULL AND to_status = 'resolved'
                                  THEN observed_at END)
        THEN NULL
      ELSE MIN(CASE WHEN from_status IS NOT NULL AND to_status = 'resolved' THEN observed_at END)
    END AS first_resolved_at,
    SUM(CASE WHEN from_status IN {TERMINAL} AND to_status NOT IN {TERMINAL}
      THEN 1 ELSE 0 END) AS reopen_count
  FROM conversation_status_history
  GROUP BY conversation_id
),
attention_stats AS (
  SELECT
    conversation_id,
    COUNT(*) AS attention_item_count,
    SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open_attention_item_count
  FROM attention_items
  WHERE conversation_id IS NOT NULL
  GROUP BY conversation_id
)
SELECT
  c.id AS conversation_id,
  c.workspace_id,
  c.channel_type,
  c.status,
  c.created_at,
  m.first_inbound_at,
  m.first_response_at,
  {seconds_between(dialect, "m.first_inbound_at", "m.first_response_at")} AS first_response_s,
  h.first_resolved_at,
  {seconds_between(dialect, "c.created_at", "h.first_resolved_at")} AS resolution_s,
  COALESCE(h.reopen_count, 0) AS reopen_count,
  COALESCE(m.message_count, 0) AS message_count,
  COALESCE(m.inbound_count, 0) AS inbound_count,
  COALESCE(m.outbound_count, 0) AS outbound_count,
  COALESCE(a.attention_item_count, 0) AS attention_item_count,
  COALESCE(a.open_attention_item_count, 0) AS open_attention_item_count,
  c.deleted_at IS NOT NULL AS is_deleted
FROM conversations AS c
LEFT JOIN message_stats AS m ON m.conversation_id = c.id
LEFT JOIN status_stats AS h ON h.conversation_id = c.id
LEFT JOIN attention_stats AS a ON a.conversation_id = c.id
WHERE c.fingerprint IS NOT NULL
"""  # noqa: S608 - fixed text, no input


def attention_item_facts(dialect: str) -> str:
    """One row per attention item; the workspace from its conversation when the item has none."""
    return f"""
CREATE VIEW attention_item_facts AS
SELECT
  a.id AS attention_item_id,
  a.conversation_id,
  COALESCE(a.workspace_id, c.workspace_id) AS workspace_id,
  a.type,
  a.status,
  a.created_at,
  a.resolved_at,
  {seconds_between(dialect, "a.created_at", "a.resolved_at")} AS time_to_resolve_s,
  COALESCE(a.status, '') = 'open' AS is_open
FROM attention_items AS a
LEFT JOIN conversations AS c ON c.id = a.conversation_id
"""  # noqa: S608 - fixed text, no input


def upgrade() -> None:
    """Upgrade the schema."""
    for table, column in CURSOR_INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)
    dialect = op.get_bind().dialect.name
    op.execute(conversation_facts(dialect))
    op.execute(attention_item_facts(dialect))


def downgrade() -> None:
    """Downgrade the schema."""
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table, column in reversed(CURSOR_INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
