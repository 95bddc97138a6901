"""Freshness: refresh bookkeeping, attachment re-read backoff, deleted messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 07:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("attachments_check_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("attachments_backoff_s", sa.Float(), nullable=True))
        batch.create_index(batch.f("ix_conversations_refreshed_at"), ["refreshed_at"], unique=False)
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    # Conversations mirrored before this revision had their detail read when they were synced.
    op.execute("UPDATE conversations SET refreshed_at = synced_at WHERE fingerprint IS NOT NULL")


def downgrade() -> None:
    """Downgrade the schema."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("deleted_at")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index(batch.f("ix_conversations_refreshed_at"))
        batch.drop_column("attachments_backoff_s")
        batch.drop_column("attachments_check_at")
        batch.drop_column("refreshed_at")
