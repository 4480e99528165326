"""Parked statistics: activity kept until 360Learning takes it; bulk jobs can expire.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parked_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("course_external_id", sa.String(255), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("time_spent_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parked_stats"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_parked_stats_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "integration_pk", "course_external_id", "user_email", "attempt_at", name="uq_parked_stats_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("parked_stats")
