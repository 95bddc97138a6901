"""Privacy: the suppression list of erased contacts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 08:00:00

(Written on a branch as a child of 0002; re-chained onto 0003 when main brought it in.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "privacy_suppressions",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_privacy_suppressions")),
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_table("privacy_suppressions")
