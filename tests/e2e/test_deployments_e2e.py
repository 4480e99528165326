"""Deployments on a real local Prefect server: schedules (Europe/Paris), next runs, one run at a time."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.server.schemas.schedules import CronSchedule as ServerCron
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.schedules import planned_deployments, runner_deployments

pytestmark = pytest.mark.e2e
PARIS = ZoneInfo("Europe/Paris")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` in a subprocess (not the test harness)."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("prefect server exited at start-up")
        time.sleep(0.5)
    else:
        proc.terminate()
        raise RuntimeError("prefect server did not start in 180 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


async def _deploy_and_read(deployments: list) -> dict:
    ids = {d.name: await d.apply() for d in deployments}
    out = {}
    async with get_client() as client:
        for name, dep_id in ids.items():
            dep = await client.read_deployment(dep_id)
            # The next run times, computed by the server's own schedule model from the schedule
            # read back through the client (what the scheduler service materialises as runs).
            stored = dep.schedules[0].schedule
            server_schedule = ServerCron(cron=stored.cron, timezone=stored.timezone, day_or=stored.day_or)
            runs = await server_schedule.get_dates(n=3, start=datetime.now(PARIS))
            out[name] = (dep, sorted(runs))
    return out


@pytest.mark.rule("UDEMY-24", "COURSERA-01", "EDFLEX-01", "OC-01", "RUN-01")
def test_deployments_have_rule_book_schedules_next_runs_and_one_run_at_a_time(prefect_server):
    providers = ["udemy", "coursera", "edflex", "openclassrooms"]
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        deployed = asyncio.run(_deploy_and_read(runner_deployments("default", providers)))
    expected = {d.name: d for d in planned_deployments("default", providers)}
    assert set(deployed) == set(expected) and len(deployed) == 12
    rule_book = {  # the documented Central European Time schedules (OpenClassrooms: ours, docs: D-25)
        "udemy-content-default": (7, 30), "udemy-stats-default": (7, 45),
        "edflex-content-default": (8, 0), "edflex-stats-default": (8, 20),
        "coursera-content-default": (8, 45), "coursera-stats-default": (9, 0),
        "openclassrooms-content-default": (9, 30), "openclassrooms-stats-default": (9, 45),
    }
    weekly = {  # drift repair: Sunday mornings, before the day's syncs
        "udemy-reconcile-default": (5, 0), "edflex-reconcile-default": (5, 15),
        "coursera-reconcile-default": (5, 30), "openclassrooms-reconcile-default": (5, 45),
    }
    now = datetime.now(PARIS)
    for name, (dep, next_runs) in deployed.items():
        schedule = dep.schedules[0].schedule
        assert schedule.timezone == "Europe/Paris"
        assert schedule.cron == expected[name].cron
        assert dep.parameters["provider"] == expected[name].provider
        # One run at a time per provider and platform; a new run is cancelled while one runs.
        assert dep.concurrency_limit == 1 or dep.global_concurrency_limit.limit == 1
        assert dep.concurrency_options.collision_strategy.value == "CANCEL_NEW"
        assert next_runs, f"no scheduled runs for {name}"
        first = next_runs[0].astimezone(PARIS)
        if name in weekly:
            assert (first.hour, first.minute) == weekly[name] and first.weekday() == 6  # Sunday
            assert now - timedelta(minutes=1) < first <= now + timedelta(days=7, minutes=1)
            continue
        assert (first.hour, first.minute) == rule_book[name]
        assert now - timedelta(minutes=1) < first <= now + timedelta(days=1, minutes=1)
        if len(next_runs) > 1:
            assert all(r.astimezone(PARIS).hour == first.hour for r in next_runs)  # DST-aware: same local time
