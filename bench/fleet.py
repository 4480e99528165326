"""The fleet figure: `fleet-sync` of N platforms (one provider each) against one platform alone.

360Learning's limits hold per platform, so N platforms can sync side by side: the fleet's time
over one platform's time is what running them together costs (on this machine: its cores).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from typing import Any

from learnsync.bench.config import PROVIDER, BenchConfig, learnsync_env, lms_sandbox_config, provider_sandbox_config
from learnsync.bench.databases import StateDatabases
from learnsync.bench.sandbox_host import SandboxHost


@dataclass
class FleetRun:
    platforms: int
    courses: int  # per platform
    runner: str
    one_seconds: float
    fleet_seconds: float
    created: list[int]  # courses each platform's sandbox holds after the fleet run


def _platform_env(cfg: BenchConfig, urls: dict[str, str]) -> str:
    return json.dumps({
        name: {"platform": name, "base_url": url, "poll_interval_seconds": cfg.poll_interval,
               "poll_max_interval_seconds": cfg.poll_max_interval}
        for name, url in urls.items()
    })  # fmt: skip


def run_fleet_figure(
    cfg: BenchConfig, provider_host: SandboxHost, lms_host: SandboxHost, databases: StateDatabases,
    platforms: int, courses: int, runner: str = "dask",
) -> FleetRun:
    """One platform alone, then `platforms` at once, each a fresh 360Learning sandbox and state DB."""
    from learnsync.flows.fleet_sync import run_fleet

    small = replace(cfg, courses=courses, rows=0)
    provider_url = provider_host.start("fleet-provider", PROVIDER, **provider_sandbox_config(small))
    saved = {k: os.environ.get(k) for k in ("LEARNSYNC_PLATFORMS", "LEARNSYNC_TASK_RUNNER")}

    def timed(n: int, label: str) -> tuple[float, list[int]]:
        keys = [f"fleet-{label}-{i}" for i in range(n)]
        urls = {key: lms_host.start(key, "lms360", **lms_sandbox_config(small)) for key in keys}
        names = {key: ("default" if i == 0 else f"p{i}") for i, key in enumerate(keys)}
        os.environ.update(learnsync_env(small, urls[keys[0]], provider_url, databases.fresh(f"fleet-{label}")))
        os.environ["LEARNSYNC_PLATFORMS"] = _platform_env(small, {names[k]: urls[k] for k in keys[1:]})
        os.environ["LEARNSYNC_TASK_RUNNER"] = runner
        try:
            started = time.perf_counter()
            results = run_fleet([(PROVIDER, names[k]) for k in keys], kinds=["content"])
            seconds = time.perf_counter() - started
            failed = {pair: r for pair, r in results.items() if "error" in r}
            if failed:
                raise RuntimeError(f"fleet run failed: {failed}")
            return seconds, [lms_host.call("lms_counts", k)["courses"] for k in keys]
        finally:
            for key in keys:
                lms_host.stop(key)

    try:
        one, _ = timed(1, "one")
        fleet, created = timed(platforms, "all")
    finally:
        provider_host.stop("fleet-provider")
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return FleetRun(platforms, courses, runner, one, fleet, created)


def fleet_figures(run: FleetRun) -> dict[str, Any]:
    return {
        "platforms": run.platforms, "courses": run.courses, "runner": run.runner,
        "one_seconds": run.one_seconds, "fleet_seconds": run.fleet_seconds,
        "ratio": run.fleet_seconds / run.one_seconds, "created": run.created, "cpus": os.cpu_count(),
    }  # fmt: skip
