"""Catalog figures: full sync, no-change re-sync and the naive full sync, against live sandboxes."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from learnsync.bench.config import PROVIDER, BenchConfig, learnsync_env, lms_sandbox_config
from learnsync.bench.databases import StateDatabases
from learnsync.bench.floor import upsert_job_seconds
from learnsync.bench.memory import current_rss_mb, peak_rss_mb, reset_peak_rss
from learnsync.bench.sandbox_host import SandboxHost


@dataclass
class CatalogRun:
    full_seconds: float
    full_counts: dict[str, int]
    resync_seconds: float
    resync_counts: dict[str, int]
    resync_writes: int  # write requests 360Learning received during the re-sync
    # the same re-sync with the mapping cache off (every page parsed, mapped and hashed again)
    resync_unmapped_seconds: float
    resync_unmapped_writes: int
    full_writes: int
    job_seconds: list[float]  # server-side durations of the full sync's upsert jobs
    rss_before_mb: float = 0.0  # learnsync's own process (the sandboxes run in children) before the full sync
    rss_peak_mb: float = 0.0  # ... and its peak during it
    phases: dict[str, float] = field(default_factory=dict)
    naive_seconds: float | None = None
    naive_sent: int | None = None
    database_url: str = ""
    lms_key: str = ""
    lms_url: str = ""


def _report(state: Any) -> dict[str, Any]:
    return state.result() if hasattr(state, "result") else state


def _apply(env: dict[str, str]) -> None:
    os.environ.update(env)


def run_catalog(
    cfg: BenchConfig, provider_url: str, lms_host: SandboxHost, index: int, *, naive: bool, keep: bool, databases: StateDatabases,
) -> CatalogRun:
    """One full sync into a fresh 360Learning sandbox and a fresh state DB, then the re-sync (and
    once more with the mapping cache off, for reference)."""
    from learnsync.flows.content_sync import content_sync

    key = f"lms-{index}"
    lms_url = lms_host.start(key, "lms360", **lms_sandbox_config(cfg))
    database_url = databases.fresh(f"state-run{index}")
    _apply(learnsync_env(cfg, lms_url, provider_url, database_url))

    rss_before = current_rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    full = _report(asyncio.run(content_sync(provider=PROVIDER)))
    full_seconds = time.perf_counter() - started
    rss_peak = peak_rss_mb()
    counts = lms_host.call("lms_counts", key)
    jobs = upsert_job_seconds(lms_host.call("bulk_operations", key))
    lms_host.call("reset_counts", key)

    started = time.perf_counter()
    resync = _report(asyncio.run(content_sync(provider=PROVIDER)))
    resync_seconds = time.perf_counter() - started
    after = lms_host.call("lms_counts", key)

    os.environ["LEARNSYNC_MAPPING_CACHE"] = "false"
    try:
        started = time.perf_counter()
        asyncio.run(content_sync(provider=PROVIDER))
        unmapped_seconds = time.perf_counter() - started
    finally:
        os.environ.pop("LEARNSYNC_MAPPING_CACHE", None)
    unmapped_writes = lms_host.call("lms_counts", key)["writes"] - after["writes"]

    run = CatalogRun(
        full_seconds=full_seconds,
        full_counts=full["counts"],
        resync_seconds=resync_seconds,
        resync_counts=resync["counts"],
        resync_writes=after["writes"],
        resync_unmapped_seconds=unmapped_seconds,
        resync_unmapped_writes=unmapped_writes,
        full_writes=counts["writes"],
        job_seconds=jobs,
        rss_before_mb=rss_before,
        rss_peak_mb=rss_peak,
        database_url=database_url,
        lms_key=key,
        lms_url=lms_url,
    )
    if naive:
        run.naive_seconds, run.naive_sent = run_naive(cfg, provider_url, lms_host, index)
    if not keep:
        lms_host.stop(key)
    return run


def run_naive(cfg: BenchConfig, provider_url: str, lms_host: SandboxHost, index: int) -> tuple[float, int]:
    from learnsync.bench.naive import naive_catalog_sync
    from learnsync.providers.settings import load_settings

    key = f"naive-{index}"
    url = lms_host.start(key, "lms360", **lms_sandbox_config(cfg))
    _apply(learnsync_env(cfg, url, provider_url, "sqlite:///" + os.path.join(cfg.workdir, "naive-unused.db")))
    started = time.perf_counter()
    outcome = asyncio.run(naive_catalog_sync(PROVIDER, load_settings()))
    seconds = time.perf_counter() - started
    lms_host.stop(key)
    if outcome["ok"] != outcome["sent"]:
        raise RuntimeError(f"naive sync: {outcome['sent'] - outcome['ok']} courses failed")
    return seconds, outcome["sent"]
