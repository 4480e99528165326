"""Statistics figures: the pandas rules on 1M rows (transform only) and full stats syncs' memory."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from learnsync.bench.config import PROVIDER, BenchConfig

# --------------------------------------------------------------------------- transform

BASE_ROWS = 100_000  # generated once per provider, then repeated up to the wanted size


def transform_providers() -> tuple[str, ...]:
    """The registered providers that declare a bench fixture (`ProviderSpec.bench`)."""
    from learnsync.providers.registry import get_provider, provider_keys

    return tuple(key for key in provider_keys() if get_provider(key).bench is not None)


def _activity_records(provider: str, n: int, seed: int) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """`n` activity records from the provider sandbox's generator, read by the provider client's
    record reader, and the columns holding the learner's e-mail."""
    import importlib

    from learnsync.providers.registry import get_provider

    fixture = get_provider(provider).bench
    if fixture is None:
        raise ValueError(f"{provider} declares no bench fixture (ProviderSpec.bench)")
    module, _, name = fixture.activity.partition(":")
    items = getattr(importlib.import_module(module), name)(n, seed)
    return fixture.records(items)[0], fixture.email_columns


def _tag_emails(column: pd.Series, copy_no: int) -> pd.Series:
    """The column with `+c<copy_no>` before each value's first "@" (copy 0 unchanged, same dtype)."""
    if copy_no == 0:
        return column
    tag = f"+c{copy_no}@"
    if isinstance(column.dtype, pd.StringDtype):
        return column.str.replace("@", tag, n=1, regex=False)
    # bench setup only: a mixed column (e.g. faulty values) keeps its non-text cells
    values = [v.replace("@", tag, 1) if isinstance(v, str) else v for v in column.tolist()]
    return pd.Series(values, index=column.index, dtype=column.dtype)


def activity_frame(rows: int, seed: int = 7, provider: str = PROVIDER) -> pd.DataFrame:
    """`rows` activity records as `provider`'s client hands them to the engine, as one DataFrame.

    Up to 100,000 rows come from the provider sandbox's generator (through the client's record
    conversion); they are repeated with the learner's e-mail tagged per copy
    (`learner3+c2@example.com`), so every (course, learner) pair stays distinct, as in a real extract.
    """
    records, email_columns = _activity_records(provider, min(rows, BASE_ROWS), seed)
    base = pd.DataFrame.from_records(records)
    copies = math.ceil(rows / len(base))
    parts = []
    for k in range(copies):
        part = base.copy(deep=False)
        for name in email_columns:
            if name in part.columns:
                part[name] = _tag_emails(base[name], k)
        parts.append(part)
    return pd.concat(parts, ignore_index=True).iloc[:rows].reset_index(drop=True)


@dataclass
class TransformResult:
    rows: int
    cold_seconds: float
    seconds: list[float]  # repeated measurements after the first
    map_seconds: float
    plan_seconds: float
    items: int
    replan_seconds: float | None = None  # same rows again, every attempt already stored
    provider: str = PROVIDER

    @property
    def rows_per_second(self) -> float:
        return self.rows / statistics.median(self.seconds)


def run_transform(cfg: BenchConfig, provider: str = PROVIDER) -> TransformResult:
    """`provider`'s map_stats + plan_stats on `cfg.rows` rows: a cold pass, then timed repeats."""
    from learnsync.providers.base import MappingContext
    from learnsync.providers.registry import get_provider
    from learnsync.tasks.stats_rules import ATTEMPT_COLUMNS, plan_stats

    spec = get_provider(provider)
    frame = activity_frame(cfg.rows, provider=provider)
    ctx = MappingContext(owner_lang="en", now=datetime(2026, 6, 2, tzinfo=UTC))
    empty = pd.DataFrame(columns=ATTEMPT_COLUMNS)

    def once(keep: bool = False) -> tuple[float, float, Any]:
        started = time.perf_counter()
        mapped = spec.map_stats(frame, ctx)
        middle = time.perf_counter()
        plan = plan_stats(mapped.stats, empty)
        return middle - started, time.perf_counter() - middle, plan if keep else None

    m, p, plan = once(keep=True)
    cold = m + p
    runs = [once() for _ in range(max(1, cfg.transform_repeats))]  # results dropped: memory is reused
    stored = pd.DataFrame(
        {
            "course_external_id": plan.items["course_external_id"],
            "user_email": plan.items["user_email"],
            "first_activity_at": plan.items["first"],
            "attempt_no": plan.items["attempt_no"],
            "completed": plan.items["completed"],
            "payload_hash": plan.items["payload_hash"],
        }
    )
    started = time.perf_counter()
    replan = plan_stats(spec.map_stats(frame, ctx).stats, stored)
    replan_seconds = time.perf_counter() - started
    if len(replan.items):
        raise RuntimeError(f"{provider}: re-planning identical rows resent {len(replan.items)} items")
    return TransformResult(
        rows=len(frame),
        cold_seconds=cold,
        seconds=[a + b for a, b, _ in runs],
        map_seconds=statistics.median(a for a, _, _ in runs),
        plan_seconds=statistics.median(b for _, b, _ in runs),
        items=len(plan.items),
        replan_seconds=replan_seconds,
        provider=provider,
    )


def run_transforms(cfg: BenchConfig, say: Callable[[str], None] | None = None) -> dict[str, TransformResult]:
    """`run_transform` for every provider, one frame in memory at a time."""
    results: dict[str, TransformResult] = {}
    for provider in transform_providers():
        if say is not None:
            say(f"  {provider}…")
        results[provider] = run_transform(cfg, provider)
    return results


# --------------------------------------------------------------------------- memory


@dataclass
class MemoryResult:
    label: str
    rows: int
    seconds: float
    baseline_mb: float
    peak_mb: float
    counts: dict[str, int]
    job_seconds: list[float] = field(default_factory=list)  # the 360 sandbox's stats job times of this run
    item_ms: float = 0.0  # 360Learning's processing time per stat item during this run
    window_rows: list[int] = field(default_factory=list)  # a backfill's rows per window

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.baseline_mb


def stats_window_rows(provider_host: Any, provider_key: str, lookback_days: int | None) -> int:
    today = datetime.now(UTC).date()
    since = None if lookback_days is None else (today - timedelta(days=lookback_days)).isoformat()
    return provider_host.call("activity_rows", provider_key, since, today.isoformat())


def backfill_plan(cfg: BenchConfig, provider_host: Any, provider_key: str) -> tuple[tuple[date, date, int], list[int]]:
    """The backfill of the figure (since, until, window days) and the sandbox's rows in each of
    its windows (the flow's own split of [since, until))."""
    from learnsync.flows.stats_sync import backfill_windows

    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=cfg.backfill_days), today + timedelta(days=1)
    rows = []
    for window in backfill_windows(since, until, cfg.backfill_window_days):
        assert window.since is not None and window.until is not None
        last = window.until - timedelta(days=1)  # the sandbox's filter is inclusive, the window half-open
        rows.append(provider_host.call("activity_rows", provider_key, window.since.isoformat(), last.isoformat()))
    return (since, until, cfg.backfill_window_days), rows


def run_stats_child(
    env: dict[str, str], label: str, rows: int, lookback_days: int | None, *, item_ms: float = 0.0,
    backfill: tuple[date, date, int] | None = None, window_rows: list[int] | None = None,
) -> MemoryResult:
    """A full daily stats sync, or a backfill of [since, until) in windows of n days (`backfill`),
    in a fresh process; its time and peak RSS are the figures."""
    child_env = {**os.environ, **env}
    child_env.pop("LEARNSYNC_BENCH_BACKFILL", None)
    if backfill is not None:
        since, until, days = backfill
        child_env["LEARNSYNC_BENCH_BACKFILL"] = f"{since.isoformat()},{until.isoformat()},{days}"
    if lookback_days is None:
        child_env.pop("LEARNSYNC_STATS_INITIAL_LOOKBACK_DAYS", None)
    else:
        child_env["LEARNSYNC_STATS_INITIAL_LOOKBACK_DAYS"] = str(lookback_days)
    done = subprocess.run(
        [sys.executable, "-m", "learnsync.bench.stats_child"], env=child_env, capture_output=True, text=True, timeout=3600
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"stats child failed ({done.returncode}): {done.stderr[-3000:]}")
    data = json.loads(lines[-1])
    return MemoryResult(
        label=label,
        rows=rows,
        seconds=data["seconds"],
        baseline_mb=data["baseline_mb"],
        peak_mb=data["peak_mb"],
        counts=data["counts"],
        item_ms=item_ms,
        window_rows=list(window_rows or []),
    )


def rows_per_second(result: MemoryResult) -> float:
    return result.rows / result.seconds if result.seconds else float("nan")


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")
