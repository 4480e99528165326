"""Initial state store schema.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(128), nullable=False),
        sa.Column("integration_id", sa.String(64), nullable=True),
        sa.Column("external_platform", sa.String(128), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
        sa.UniqueConstraint("provider", "platform", name="uq_integrations_provider_platform"),
    )
    op.create_table(
        "course_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("course_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("archived_reason", sa.String(16), nullable=True),
        sa.Column("payload_hash", sa.String(128), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=True),
        sa.Column("first_synced_at", TS, nullable=True),
        sa.Column("last_synced_at", TS, nullable=True),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("restored_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_course_states"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_course_states_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("integration_pk", "external_id", name="uq_course_states_integration_external"),
    )
    op.create_table(
        "stat_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("course_external_id", sa.String(255), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("first_activity_at", TS, nullable=False),
        sa.Column("attempt_no", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("completed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("payload_hash", sa.String(128), nullable=False),
        sa.Column("last_sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stat_attempts"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_stat_attempts_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "integration_pk", "course_external_id", "user_email", "first_activity_at",
            name="uq_stat_attempts_key",
        ),
    )
    op.create_table(
        "watermarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("value", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_watermarks"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_watermarks_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("integration_pk", "stream", name="uq_watermarks_integration_stream"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_uuid", sa.String(36), nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        sa.UniqueConstraint("run_uuid", name="uq_sync_runs_run_uuid"),
    )
    op.create_index("ix_sync_runs_provider_started", "sync_runs", ["provider", "started_at"])
    op.create_table(
        "item_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(512), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("field", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_item_outcomes"),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["sync_runs.id"],
            name="fk_item_outcomes_run_pk_sync_runs", ondelete="CASCADE",
        ),
    )
    op.create_index("ix_item_outcomes_run_pk", "item_outcomes", ["run_pk"])
    op.create_table(
        "quarantine_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(512), nullable=False),
        sa.Column("field", sa.String(128), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine_items"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_quarantine_items_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "integration_pk", "kind", "external_id", "field", name="uq_quarantine_items_key"
        ),
    )
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_pk", sa.Integer(), nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=True),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("bulk_operation_id", sa.String(128), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), server_default="submitted", nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_jobs"),
        sa.ForeignKeyConstraint(
            ["integration_pk"], ["integrations.id"],
            name="fk_bulk_jobs_integration_pk_integrations", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["sync_runs.id"],
            name="fk_bulk_jobs_run_pk_sync_runs", ondelete="SET NULL",
        ),
        sa.UniqueConstraint("bulk_operation_id", name="uq_bulk_jobs_bulk_operation_id"),
    )
    op.create_index("ix_bulk_jobs_integration_status", "bulk_jobs", ["integration_pk", "status"])


def downgrade() -> None:
    op.drop_index("ix_bulk_jobs_integration_status", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
    op.drop_table("quarantine_items")
    op.drop_index("ix_item_outcomes_run_pk", table_name="item_outcomes")
    op.drop_table("item_outcomes")
    op.drop_index("ix_sync_runs_provider_started", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("watermarks")
    op.drop_table("stat_attempts")
    op.drop_table("course_states")
    op.drop_table("integrations")
