"""`python -m bench`: measure learnsync's performance figures against live sandboxes, print them
as a table and draw them as a chart (each figure's time against its floor).

    python -m bench                 # 50,000 courses, 1,000,000 activity rows, 50 ms latency, 1 run
    python -m bench --runs 3        # medians of 3 runs (catalog figures and transform)
    python -m bench --quick         # small sizes, a smoke test of the whole pipeline

The stats transform (map_stats + plan_stats on the same rows, no I/O) is timed for every
provider, on records from its own sandbox generator; the other figures run against Udemy.

Every sandbox runs in a child process (so its CPU and memory are not charged to learnsync) with
`--latency` added to each request; 360Learning's bulk jobs take `--bulk-item-ms` per item.
The flows run through a temporary local Prefect API (or `PREFECT_API_URL` when set).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack, nullcontext
from typing import Any

from learnsync.bench.config import BenchConfig


def parse_args(argv: list[str] | None) -> tuple[BenchConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = BenchConfig()
    p.add_argument("--runs", type=int, default=d.runs, help="repeat the catalog runs and print medians")
    p.add_argument("--courses", type=int, default=d.courses)
    p.add_argument("--rows", type=int, default=d.rows, help="activity rows (full stats sync, transform)")
    p.add_argument("--latency", type=float, default=d.latency * 1000, help="ms added to every sandbox request")
    p.add_argument("--page-size", type=int, default=d.page_size)
    p.add_argument("--bulk-item-ms", type=float, default=d.bulk_item_ms, help="360Learning processing time per bulk item")
    p.add_argument("--stats-bulk-item-ms", type=float, default=d.stats_bulk_item_ms,
                   help="360Learning processing time per stat item in the full stats syncs (0: off); "
                        "the full sync runs again with --bulk-item-ms when they differ")
    p.add_argument("--backfill-rows", type=int, default=d.backfill_rows, help="activity rows of the backfill figure (0: none)")
    p.add_argument("--backfill-days", type=int, default=d.backfill_days, help="days the backfill reads (its rows spread over them)")
    p.add_argument("--backfill-window-days", type=int, default=d.backfill_window_days, help="days per backfill window")
    p.add_argument("--memory-runs", type=int, default=d.memory_runs)
    p.add_argument("--skip", action="append", default=[], choices=["catalog", "naive", "transform", "memory", "fleet", "backfill"])
    p.add_argument("--fleet-platforms", type=int, default=8, help="platforms of the fleet figure (one provider each)")
    p.add_argument("--fleet-courses", type=int, default=20_000, help="courses per platform in the fleet figure")
    p.add_argument("--quick", action="store_true", help="5,000 courses, 50,000 rows, a backfill of 100,000 rows")
    p.add_argument("--json", help="also write the raw figures to this file")
    p.add_argument("--chart", default="learnsync-bench.png", help="PNG chart of the figures against their floors (default: %(default)s)")
    p.add_argument("--postgres", metavar="URL", default=None,
                   help="state DBs on this PostgreSQL server (a database per run), or 'auto': a throw-away local server")
    p.add_argument("--workdir", default=None, help="state DBs and Prefect results (default: a temporary directory)")
    args = p.parse_args(argv)
    cfg = BenchConfig(
        courses=5_000 if args.quick else args.courses,
        rows=50_000 if args.quick else args.rows,
        latency=args.latency / 1000.0,
        page_size=args.page_size,
        bulk_item_ms=args.bulk_item_ms,
        stats_bulk_item_ms=args.stats_bulk_item_ms,
        backfill_rows=100_000 if args.quick else args.backfill_rows,
        backfill_days=args.backfill_days,
        backfill_window_days=args.backfill_window_days,
        runs=max(1, args.runs),
        memory_runs=max(1, args.memory_runs),
        skip=tuple(args.skip),
        state_db="PostgreSQL" if args.postgres else "SQLite",
        transform_repeats=3 if args.quick else 5,
    )
    return cfg, args


def _quiet_environment(workdir: str) -> None:
    """Before Prefect is imported: quiet logs, results under the bench's work directory."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # the fleet figure's LocalCluster
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(workdir, "prefect-results")


def _prefect_api() -> Any:
    if os.environ.get("PREFECT_API_URL"):
        return nullcontext()
    from prefect.testing.utilities import prefect_test_harness  # a throwaway local API + database

    return prefect_test_harness(server_startup_timeout=180)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    temporary = args.workdir is None
    cfg.workdir = args.workdir or tempfile.mkdtemp(prefix="learnsync-bench-")
    os.makedirs(cfg.workdir, exist_ok=True)
    _quiet_environment(cfg.workdir)

    from learnsync.bench import report
    from learnsync.bench.catalog import run_catalog
    from learnsync.bench.config import PROVIDER, lms_sandbox_config, provider_sandbox_config
    from learnsync.bench.databases import StateDatabases, local_postgres
    from learnsync.bench.floor import stats_job_seconds
    from learnsync.bench.sandbox_host import SandboxHost
    from learnsync.bench.stats import backfill_plan, run_stats_child, run_transforms, stats_window_rows

    figures: dict[str, Any] = {"config": cfg.public(), "python": sys.version.split()[0]}
    began = time.perf_counter()
    try:
        with ExitStack() as stack:
            server = args.postgres
            if server == "auto":
                server = stack.enter_context(local_postgres())
            databases = StateDatabases(cfg.workdir, server)
            provider_host = stack.enter_context(SandboxHost("provider"))
            lms_host = stack.enter_context(SandboxHost("lms360"))
            need_sandboxes = "catalog" not in cfg.skip or "memory" not in cfg.skip or "backfill" not in cfg.skip
            provider_url = ""
            if need_sandboxes:
                _say(f"generating {cfg.courses:,} courses and {cfg.rows:,} activity rows in the {PROVIDER} sandbox…")
                provider_url = provider_host.start(PROVIDER, PROVIDER, **provider_sandbox_config(cfg))
            stack.enter_context(_prefect_api())
            if os.environ.get("PREFECT_API_URL") is None:
                from prefect.settings import PREFECT_API_URL

                os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value() or ""

            catalog_runs = []
            if "catalog" not in cfg.skip:
                for i in range(cfg.runs):
                    _say(f"catalog run {i + 1}/{cfg.runs}: full sync, no-change re-sync (mapping cache on, then off)" + ("" if "naive" in cfg.skip else ", naive full sync"))
                    catalog_runs.append(
                        run_catalog(
                            cfg, provider_url, lms_host, i, naive="naive" not in cfg.skip, keep=(i == 0 and not {"memory", "backfill"} <= set(cfg.skip)),
                            databases=databases,
                        )
                    )
                figures["catalog"] = report.catalog_figures(cfg, catalog_runs)

            if "transform" not in cfg.skip:
                _say(f"stats transform on {cfg.rows:,} rows per provider ({cfg.transform_repeats} timed repeats after a cold one)…")
                figures["transform"] = report.transform_figures(run_transforms(cfg, say=_say))

            if "memory" not in cfg.skip:
                if not catalog_runs:
                    raise SystemExit("the memory figures need the catalog synced first: do not skip 'catalog'")
                base = catalog_runs[0]
                from learnsync.bench.config import learnsync_env

                results = []
                syncs = [("small", cfg.small_window_days - 1, cfg.stats_bulk_item_ms), ("full", None, cfg.stats_bulk_item_ms)]
                if cfg.bulk_item_ms != cfg.stats_bulk_item_ms:  # the same sync with 360Learning's per-item time on (or off)
                    syncs.append(("full_delayed", None, cfg.bulk_item_ms))
                for label, lookback, item_ms in syncs:
                    lms_host.call("set_config", base.lms_key, lms_sandbox_config(cfg, item_ms=item_ms))
                    rows = stats_window_rows(provider_host, PROVIDER, lookback)
                    for r in range(cfg.memory_runs):
                        _say(f"full stats sync in a fresh process: {rows:,} rows ({label}, 360 {item_ms:g} ms/item, run {r + 1}/{cfg.memory_runs})…")
                        db = databases.copy(base.database_url, f"stats-{label}-{r}")
                        env = learnsync_env(cfg, base.lms_url, provider_url, db)
                        env["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"]
                        before = len(lms_host.call("bulk_operations", base.lms_key))
                        result = run_stats_child(env, label, rows, lookback, item_ms=item_ms)
                        result.job_seconds = stats_job_seconds(lms_host.call("bulk_operations", base.lms_key)[before:])
                        results.append(result)
                figures["memory"] = report.memory_figures(cfg, results)

            if "backfill" not in cfg.skip and cfg.backfill_rows > 0:
                if not catalog_runs:
                    raise SystemExit("the backfill figure needs the catalog synced first: do not skip 'catalog'")
                from learnsync.bench.config import learnsync_env

                base = catalog_runs[0]
                key = f"{PROVIDER}-backfill"
                _say(f"generating {cfg.backfill_rows:,} activity rows over {cfg.backfill_days} days (same {cfg.courses:,} courses)…")
                year_url = provider_host.start(key, PROVIDER, **provider_sandbox_config(cfg, backfill=True))
                plan, window_rows = backfill_plan(cfg, provider_host, key)
                lms_host.call("set_config", base.lms_key, lms_sandbox_config(cfg))
                backfills = []
                for r in range(cfg.memory_runs):
                    _say(f"backfill in a fresh process: {sum(window_rows):,} rows, {plan[0]} to {plan[1]} in {len(window_rows)} windows "
                         f"of {plan[2]} days (360 {cfg.bulk_item_ms:g} ms/item, run {r + 1}/{cfg.memory_runs})…")
                    env = learnsync_env(cfg, base.lms_url, year_url, databases.copy(base.database_url, f"backfill-{r}"))
                    env["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"]
                    before = len(lms_host.call("bulk_operations", base.lms_key))
                    result = run_stats_child(
                        env, "backfill", sum(window_rows), None, item_ms=cfg.bulk_item_ms, backfill=plan, window_rows=window_rows,
                    )
                    result.job_seconds = stats_job_seconds(lms_host.call("bulk_operations", base.lms_key)[before:])
                    backfills.append(result)
                provider_host.stop(key)
                figures["backfill"] = report.backfill_figures(cfg, backfills)

            if "fleet" not in cfg.skip:
                from learnsync.bench.fleet import fleet_figures, run_fleet_figure

                courses = 1_000 if args.quick else args.fleet_courses
                _say(f"fleet: one platform alone, then {args.fleet_platforms} at once ({courses:,} courses each, Dask task runner)…")
                run = run_fleet_figure(cfg, provider_host, lms_host, databases, args.fleet_platforms, courses)
                figures["fleet"] = fleet_figures(run)
    finally:
        if temporary:
            shutil.rmtree(cfg.workdir, ignore_errors=True)
    figures["bench_seconds"] = time.perf_counter() - began
    report.print_figures(cfg, figures)
    chart_data = report.chart_rows(figures)
    if args.chart and chart_data:
        from learnsync.charts import bench_chart

        chart = bench_chart(chart_data, args.chart, title=f"learnsync benchmark: {cfg.courses:,} courses, {cfg.rows:,} rows")
        print(f"chart: {chart}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2, default=str)
    return 0
