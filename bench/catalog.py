"""Catalog figures: full sync, no-change re-sync and the naive full sync, against live sandboxes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from learnsync.bench.config import PROVIDER, BenchConfig, learnsync_env, lms_sandbox_config
from learnsync.bench.floor import upsert_job_seconds
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


def run_catalog(cfg: BenchConfig, provider_url: str, lms_host: SandboxHost, index: int, *, naive: bool, keep: bool) -> CatalogRun:
    """One full sync into a fresh 360Learning sandbox and a fresh state DB, then the re-sync (and
    once more with the mapping cache off, for reference)."""
    from learnsync.flows.content_sync import content_sync

    key = f"lms-{index}"
    lms_url = lms_host.start(key, "lms360", **lms_sandbox_config(cfg))
    db_path = os.path.join(cfg.workdir, f"state-run{index}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    database_url = f"sqlite:///{db_path}"
    _apply(learnsync_env(cfg, lms_url, provider_url, database_url))

    started = time.perf_counter()
    full = _report(asyncio.run(content_sync(provider=PROVIDER)))
    full_seconds = time.perf_counter() - started
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


def snapshot_database(database_url: str, target: str) -> str:
    """A consistent copy of a SQLite state DB (WAL included) for the stats runs."""
    source = database_url.removeprefix("sqlite:///")
    if os.path.exists(target):
        os.remove(target)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"
