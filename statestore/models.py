"""SQLAlchemy 2 models of the learnsync state store.

All datetimes are stored as UTC and returned tz-aware (see :class:`UTCDateTime`).
There is deliberately no column for secrets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

COURSE_ACTIONS = frozenset({"created", "updated", "archived", "restored", "tags"})
OUTCOMES = frozenset(
    {"created", "updated", "unchanged", "archived", "restored", "ignored", "quarantined", "failed"}
)
class RunKind(str, Enum):
    """What a recorded run did. Only `content` runs read the catalog (the stats engine and the
    status view rely on that); every lifecycle action is a kind of its own."""

    content = "content"  # catalog sync
    stats = "stats"  # daily statistics sync (moves the watermark)
    backfill = "backfill"  # statistics over a date range (never moves the watermark)
    filters = "filters"  # a filter change applied at once
    configure = "configure"  # integration created, adopted or reactivated; options set
    share = "share"  # courses shared with other groups
    deactivate = "deactivate"  # every synced course archived, the integration paused
    restore = "restore"  # an operator undid an archiving
    reconcile = "reconcile"  # drift between 360Learning and the state store repaired


RUN_KINDS = frozenset(k.value for k in RunKind)
# crashed: the run stopped without finishing (its process was killed); the next run of the
# same provider, platform and kind finds its row still running and marks it so.
RUN_STATUSES = frozenset({"running", "completed", "completed_with_errors", "failed", "crashed"})
ITEM_KINDS = frozenset({"course", "stat"})
BULK_OPERATIONS = frozenset({"upsert", "archive", "stats", "share"})
BULK_STATUSES = frozenset({"submitted", "confirmed", "failed", "expired"})
PARK_REASONS = frozenset({"course_not_synced", "undelivered"})


def utcnow() -> datetime:
    """Current time, tz-aware UTC."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...


@overload
def as_utc(value: None) -> None: ...


@overload
def as_utc(value: datetime | None) -> datetime | None: ...


def as_utc(value: datetime | None) -> datetime | None:
    """Normalise a datetime to tz-aware UTC (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always binds and returns tz-aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        value = as_utc(value)
        if value is not None and dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


# ``none_as_null`` so Python ``None`` is SQL NULL, not the JSON literal ``null``.
JSONType = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}
    if TYPE_CHECKING:
        # every model declares a __tablename__, so it is mapped to a Table (the stubs say FromClause)
        __table__: ClassVar[Table]


class Integration(Base):
    """One provider connected to one 360Learning platform."""

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("provider", "platform", name="uq_integrations_provider_platform"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(128))
    integration_id: Mapped[str | None] = mapped_column(String(64))
    external_platform: Mapped[str] = mapped_column(String(128))
    group_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CourseState(Base):
    """Last confirmed state of one provider course on 360Learning."""

    __tablename__ = "course_states"
    __table_args__ = (
        UniqueConstraint("integration_pk", "external_id", name="uq_course_states_integration_external"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    course_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    archived_reason: Mapped[str | None] = mapped_column(String(16))
    payload_hash: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tags: Mapped[list[Any] | None] = mapped_column(JSONType)
    skills: Mapped[list[Any] | None] = mapped_column(JSONType)
    first_synced_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    restored_at: Mapped[datetime | None]


class StatAttempt(Base):
    """One learner attempt on one course, keyed by its first activity date."""

    __tablename__ = "stat_attempts"
    __table_args__ = (
        UniqueConstraint(
            "integration_pk",
            "course_external_id",
            "user_email",
            "first_activity_at",
            name="uq_stat_attempts_key",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    course_external_id: Mapped[str] = mapped_column(String(255))
    user_email: Mapped[str] = mapped_column(String(320))
    first_activity_at: Mapped[datetime]
    attempt_no: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    completed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    payload_hash: Mapped[str] = mapped_column(String(128))
    last_sent_at: Mapped[datetime | None]


class Watermark(Base):
    """Incremental-extraction high-water mark per integration and stream."""

    __tablename__ = "watermarks"
    __table_args__ = (UniqueConstraint("integration_pk", "stream", name="uq_watermarks_integration_stream"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(32))
    value: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    """One flow run (content sync, stats sync or backfill)."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_provider_started", "provider", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class ItemOutcome(Base):
    """Per-item outcome of a run (the sync report's detail table)."""

    __tablename__ = "item_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16))
    field: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantineItem(Base):
    """An item held back because of invalid data; ``field`` is '' when not field-specific."""

    __tablename__ = "quarantine_items"
    __table_args__ = (
        UniqueConstraint(
            "integration_pk", "kind", "external_id", "field", name="uq_quarantine_items_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(512))
    field: Mapped[str] = mapped_column(String(128), default="", server_default="")
    reason: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class BulkJob(Base):
    """A 360Learning bulk operation submitted by a run (for crash recovery)."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (Index("ix_bulk_jobs_integration_status", "integration_pk", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    run_pk: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    operation: Mapped[str] = mapped_column(String(16))
    bulk_operation_id: Mapped[str] = mapped_column(String(128), unique=True)
    items: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="submitted", server_default="submitted")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]


class MappedChunk(Base):
    """A chunk of catalog pages as the engine last mapped it, keyed by the pages' body digests.

    Not sync state: a cache of a pure function (page bodies + mapping context + code -> prepared
    extract), so a re-sync of an unchanged catalog skips parsing, mapping and hashing. Losing it
    costs time, never correctness (tasks/mapped_chunks.py).
    """

    __tablename__ = "mapped_chunks"
    __table_args__ = (
        UniqueConstraint("integration_pk", "stream", "chunk_key", name="uq_mapped_chunks_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(64))
    chunk_key: Mapped[str] = mapped_column(String(255))  # the chunk's first page token ("" = page 1)
    pages: Mapped[list[Any]] = mapped_column(default=list)  # [[body digest, next page token], ...] in order
    context_key: Mapped[str] = mapped_column(String(64))  # mapping context + code fingerprint
    mapped: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(pickle) of the mapped chunk
    written_at: Mapped[datetime] = mapped_column(default=utcnow)


class ParkedStat(Base):
    """Learner activity read from a provider and not delivered yet, kept until 360Learning takes it.

    Rows wait here while their course is not synced (a failed or filtered catalog run) or after a
    transient rejection; every stats run sends the ones it can first, so the stats watermark can
    move on without losing them. Keyed by the attempt as the provider reported it.
    """

    __tablename__ = "parked_stats"
    __table_args__ = (
        UniqueConstraint("integration_pk", "course_external_id", "user_email", "attempt_at", name="uq_parked_stats_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_pk: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    course_external_id: Mapped[str] = mapped_column(String(255))
    user_email: Mapped[str] = mapped_column(String(320))
    attempt_at: Mapped[datetime]  # first activity, else last activity, else completion: the attempt's key
    progress: Mapped[float | None] = mapped_column(Float)
    time_spent_ms: Mapped[int | None] = mapped_column(BigInteger)
    first_activity_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    parked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunLease(Base):
    """Who runs (provider, platform, kind) now: one run at a time across processes.

    A holder renews `expires_at` while it runs and deletes the row when it ends; a row past
    `expires_at` belongs to a run that died, and the next run takes it (statestore/leases.py).
    """

    __tablename__ = "run_leases"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]
