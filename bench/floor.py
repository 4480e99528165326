"""The lower bound a full catalog sync cannot beat, from the same parameters the sandboxes use.

    floor = paging + bulk
    paging = L + max(ceil((P-1)/C) * L, max(0, P-1-B) / R)
    bulk   = L + sum over waves of (start + largest job in the wave x item + 3 L)

P pages of the catalog, L the per-request latency, C `max_concurrent_pages`, R the provider
request rate (client limiter, burst B), J = ceil(N / 10,000) bulk jobs run 3 at a time (waves);
per wave one submit, one final status poll and one results download (3 L), plus one token (L).
360Learning's 10 writes/s only matter if J + 2 writes take longer than that.

The "calibrated" variant replaces (start + items x item) by what the 360Learning sandbox
actually took per job (endedAt - createdAt of the run's own bulk operations): the sandbox
process spends CPU per item on top of its configured delay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from learnsync.bench.config import LMS_MAX_CONCURRENT_BULK, LMS_MAX_UPSERT, LMS_WRITES_PER_SECOND, BenchConfig
from learnsync.tasks.course_upserts import balanced_batch

_T = TypeVar("_T")

FORMULA = (
    "floor = [L + max(ceil((P-1)/C)*L, max(0,P-1-B)/R)] + [L + sum_waves(start + max_items*item + 3L)], "
    "N items in J jobs of at most 10000, 3 per wave, sized to fill every wave (no more waves than ceil(ceil(N/10000)/3))"
)


@dataclass
class Floor:
    paging: float
    bulk: float
    jobs: int
    waves: int
    detail: str
    overlapped: bool = False  # paging and bulk run at the same time (the statistics pipeline)

    @property
    def total(self) -> float:
        return max(self.paging, self.bulk) if self.overlapped else self.paging + self.bulk


def _waves(sizes: list[_T]) -> list[list[_T]]:
    return [sizes[i : i + LMS_MAX_CONCURRENT_BULK] for i in range(0, len(sizes), LMS_MAX_CONCURRENT_BULK)]


def paging_floor(cfg: BenchConfig, concurrency: int, rate: float) -> float:
    p, lat = cfg.pages, cfg.latency
    burst = max(1, int(rate))
    return lat + max(math.ceil((p - 1) / max(1, concurrency)) * lat, max(0, p - 1 - burst) / rate)


def catalog_floor(cfg: BenchConfig, concurrency: int, rate: float, job_seconds: list[float] | None = None) -> Floor:
    """The floor from the configured delays, or (job_seconds given) from the measured job times."""
    lat = cfg.latency
    # The service's own bound: 3 slots busy in every wave (jobs of 10,000 would leave one idle at 50,000).
    size = balanced_batch(cfg.courses, LMS_MAX_UPSERT, LMS_MAX_CONCURRENT_BULK, smallest=1)
    sizes = [min(size, cfg.courses - s) for s in range(0, cfg.courses, size)]
    waves = _waves(sizes)
    if job_seconds is None:
        per_wave = [cfg.bulk_start_s + max(w) * cfg.bulk_item_ms / 1000.0 for w in waves]
        source = f"start {cfg.bulk_start_s:g}s + {max(sizes):,} items x {cfg.bulk_item_ms:g} ms"
    else:
        measured = _waves(list(job_seconds))
        per_wave = [max(w) for w in measured]
        source = "measured job times " + ", ".join(f"{s:.1f}s" for s in job_seconds)
    bulk = lat + sum(t + 3 * lat for t in per_wave)
    bulk = max(bulk, (len(sizes) + 2) / LMS_WRITES_PER_SECOND)
    paging = paging_floor(cfg, concurrency, rate)
    detail = (
        f"P={cfg.pages} pages, L={lat * 1000:.0f} ms, C={concurrency}, R={rate:g}/s -> paging {paging:.2f}s; "
        f"J={len(sizes)} jobs in {len(waves)} waves ({source}) -> bulk {bulk:.2f}s"
    )
    return Floor(paging=paging, bulk=bulk, jobs=len(sizes), waves=len(waves), detail=detail)


STATS_FORMULA = (
    "stats floor = max(paging of ceil(rows/page) activity pages, [L + sum_waves(max job time + 3L)]) "
    "with J = ceil(items/10000) stats jobs, 3 per wave: reading and pushing overlap"
)


def stats_floor(
    cfg: BenchConfig, rows: int, items: int, concurrency: int, rate: float, job_seconds: list[float] | None = None,
    pages: int | None = None,
) -> Floor:
    """A full stats sync cannot beat the slower of its activity paging and its stats bulk jobs
    (the pipeline overlaps them); from the configured delays, or from the measured job times.
    `pages`: the activity pages when they are not ceil(rows / page size) (a backfill reads each
    window's own pages, `window_pages`)."""
    lat = cfg.latency
    pages = max(1, math.ceil(rows / cfg.page_size)) if pages is None else max(1, pages)
    burst = max(1, int(rate))
    paging = lat + max(math.ceil((pages - 1) / max(1, concurrency)) * lat, max(0, pages - 1 - burst) / rate)
    sizes = [min(LMS_MAX_UPSERT, items - s) for s in range(0, items, LMS_MAX_UPSERT)]
    if job_seconds:
        per_wave = [max(w) for w in _waves(list(job_seconds))]
        source = f"measured job times (median {sorted(job_seconds)[len(job_seconds) // 2]:.2f}s)"
    else:
        per_wave = [cfg.bulk_start_s + max(w) * cfg.stats_bulk_item_ms / 1000.0 for w in _waves(sizes)] if sizes else []
        source = f"start {cfg.bulk_start_s:g}s + items x {cfg.stats_bulk_item_ms:g} ms"
    bulk = lat + sum(t + 3 * lat for t in per_wave)
    bulk = max(bulk, (len(sizes) + 2) / LMS_WRITES_PER_SECOND)
    detail = (
        f"{pages} activity pages, L={lat * 1000:.0f} ms, C={concurrency} -> paging {paging:.2f}s; "
        f"J={len(sizes)} stats jobs in {len(per_wave)} waves ({source}) -> bulk {bulk:.2f}s"
    )
    return Floor(paging=paging, bulk=bulk, jobs=len(sizes), waves=len(per_wave), detail=detail, overlapped=True)


def window_pages(cfg: BenchConfig, window_rows: list[int]) -> int:
    """Activity pages a backfill reads: every window reads its own, at least one."""
    return sum(max(1, math.ceil(rows / cfg.page_size)) for rows in window_rows)


def stats_job_seconds(operations: list[dict[str, Any]]) -> list[float]:
    """Server-side durations (created -> ended) of the statistics imports, in submission order."""
    ops = [op for op in operations if op.get("type") == "importExternalStatistics" and op.get("endedAt")]
    ops.sort(key=lambda op: op["createdAt"])
    return [(_ts(op["endedAt"]) - _ts(op["createdAt"])).total_seconds() for op in ops]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def upsert_job_seconds(operations: list[dict[str, Any]]) -> list[float]:
    """Server-side durations (created -> ended) of the course upserts, in submission order."""
    ups = [op for op in operations if op.get("type") == "importExternalCourses" and op.get("endedAt")]
    ups.sort(key=lambda op: op["createdAt"])
    return [(_ts(op["endedAt"]) - _ts(op["createdAt"])).total_seconds() for op in ups]
