"""What the benchmark runs: sizes, the sandboxes' timings, and the settings learnsync runs with."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

PROVIDER = "udemy"  # page-number paging with a total, the largest real catalog of the four


@dataclass
class BenchConfig:
    courses: int = 50_000
    rows: int = 1_000_000  # activity rows of the full stats sync (and of the transform benchmark)
    learners: int = 50  # learner1..50@example.com exist on both sides
    activity_days: int = 30  # activity spreads over this many days before today
    small_window_days: int = 6  # the smaller stats sync reads this many days (~ rows x 6/30)
    latency: float = 0.05  # seconds added to every sandbox request (provider and 360Learning)
    page_size: int = 1000  # provider page size (Udemy serves up to 1000)
    bulk_item_ms: float = 1.0  # 360Learning processing time per bulk item: 10,000 items = 10 s
    bulk_start_s: float = 0.05  # 360Learning: pending -> running
    poll_interval: float = 0.25  # bulk status polling (learnsync setting), backing off 1.5x ...
    poll_max_interval: float = 1.0  # ... up to this
    runs: int = 1
    memory_runs: int = 1
    transform_repeats: int = 5
    stats_bulk_item_ms: float = 0.0  # the stats syncs run with this 360 delay per item, and again with bulk_item_ms
    backfill_rows: int = 2_000_000  # activity rows of the backfill figure ...
    backfill_days: int = 365  # ... spread over this many days before today, backfilled ...
    backfill_window_days: int = 7  # ... in windows of this many days (the flow's default)
    skip: tuple[str, ...] = ()  # sections to skip: catalog, naive, transform, memory, fleet, backfill
    state_db: str = "SQLite"  # or PostgreSQL (--postgres)
    workdir: str = field(default_factory=lambda: os.path.join(os.getcwd(), ".learnsync", "bench"))

    # --- derived -------------------------------------------------------------------------------
    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.courses / self.page_size))

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("workdir", None)
        return data


# 360Learning's documented limits (docs/lms360.md: Limits): what the floor is made of.
LMS_MAX_UPSERT = 10_000
LMS_MAX_CONCURRENT_BULK = 3
LMS_WRITES_PER_SECOND = 10.0


def learnsync_env(cfg: BenchConfig, lms_url: str, provider_url: str, database_url: str) -> dict[str, str]:
    """Environment variables learnsync reads (pydantic-settings), pointing at the bench sandboxes."""
    key = PROVIDER.upper()
    return {
        "LEARNSYNC_DATABASE_URL": database_url,
        "LEARNSYNC_LMS360__BASE_URL": lms_url,
        "LEARNSYNC_LMS360__POLL_INTERVAL_SECONDS": str(cfg.poll_interval),
        "LEARNSYNC_LMS360__POLL_MAX_INTERVAL_SECONDS": str(cfg.poll_max_interval),
        f"LEARNSYNC_{key}__BASE_URL": provider_url,
        f"LEARNSYNC_{key}__PAGE_SIZE": str(cfg.page_size),
    }


def provider_sandbox_config(cfg: BenchConfig, *, backfill: bool = False) -> dict[str, Any]:
    """The provider sandbox of the catalog and stats figures, or (backfill) the same catalog with
    a year of activity: courses come first from the same seed, so they are the same courses."""
    return {
        "n_courses": cfg.courses,
        "n_activities": cfg.backfill_rows if backfill else cfg.rows,
        "n_learners": cfg.learners,
        "n_learning_paths": 0,
        "activity_days": cfg.backfill_days if backfill else cfg.activity_days,
        "latency_seconds": cfg.latency,
    }


def lms_sandbox_config(cfg: BenchConfig, item_ms: float | None = None) -> dict[str, Any]:
    return {
        "latency_seconds": cfg.latency,
        "bulk_item_delay_seconds": (cfg.bulk_item_ms if item_ms is None else item_ms) / 1000.0,
        "bulk_start_delay_seconds": cfg.bulk_start_s,
        "users": [f"learner{i}@example.com" for i in range(1, cfg.learners + 1)],
    }
