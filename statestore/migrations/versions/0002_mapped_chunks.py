"""Mapped catalog chunks: the re-sync of unchanged provider pages skips their mapping.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mapped_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("chunk_key", sa.String(255), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("context_key", sa.String(64), nullable=False),
        sa.Column("mapped", sa.LargeBinary(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mapped_chunks"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_mapped_chunks_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("integration_pk", "stream", "chunk_key", name="uq_mapped_chunks_key"),
    )


def downgrade() -> None:
    op.drop_table("mapped_chunks")
