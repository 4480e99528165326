"""`learnsync bench` runs from a checkout with one command, prints every figure and draws its chart.

A smoke run at toy sizes (the real figures come from `python -m bench`, not from tests): it
checks the benchmark works end to end against its sandboxes and that the re-sync writes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from learnsync.providers.registry import provider_keys

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_bench_command_prints_the_figures_and_the_resync_writes_nothing(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "figures.json"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    command = [
        sys.executable, "-c", "import sys; from learnsync.cli import app; sys.argv[0] = 'learnsync'; app()",
        "bench", "--courses", "1200", "--rows", "3000", "--latency", "2", "--page-size", "100",
        "--bulk-item-ms", "0.2", "--skip", "memory", "--backfill-rows", "2500", "--backfill-days", "20", "--json", str(out), "--fleet-platforms", "2", "--fleet-courses", "150",
    ]
    server = os.environ.get("LEARNSYNC_TEST_PG_URL")
    if server:  # the state DBs on PostgreSQL (a database per run), as `--postgres` puts them
        command += ["--postgres", server]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for figure in ("full catalog sync", "no-change re-sync", "mapping cache off", "naive full sync", "peak RSS", "fleet-sync of 2 platforms",
                   "backfill of 20 days, 2,500 rows, windows of 7 days: time"):
        assert figure in done.stdout, done.stdout
    for provider in provider_keys():  # the stats transform is timed for every provider
        assert f"stats transform (map_stats + plan_stats), 3,000 rows, {provider}" in done.stdout, done.stdout
    chart = tmp_path / "learnsync-bench.png"  # next to the table, in the folder it ran from
    assert f"chart: {chart.name}" in done.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5_000
    figures = json.loads(out.read_text())
    catalog = figures["catalog"]
    assert catalog["created"] == 1200 and catalog["resync_unchanged"] == 1200
    assert catalog["resync_writes"] == [0] and catalog["resync_unmapped_writes"] == [0]
    assert catalog["rss_peak_mb"][0] >= catalog["rss_before_mb"][0] > 0
    assert figures["config"]["state_db"] == ("PostgreSQL" if server else "SQLite")
    backfill = figures["backfill"]  # the year-style backfill: every window read, its attempts pushed
    assert backfill["windows"] == 3 and backfill["rows"] == 2500
    assert backfill["counts"]["created"] > 2000 and backfill["counts"]["failed"] == 0
    assert backfill["floor_calibrated"] > 0 and backfill["peak_mb"] > backfill["baseline_mb"] > 0
    fleet = figures["fleet"]  # every platform got the whole catalog, side by side
    assert fleet["created"] == [150, 150] and fleet["ratio"] > 0
    assert set(figures["transform"]) == set(provider_keys())
    for provider, transform in figures["transform"].items():
        assert transform["rows"] == 3000, provider
        assert transform["rows_per_second"] > 0 and transform["items"] > 0, provider
