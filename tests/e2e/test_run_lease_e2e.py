"""One run per (provider, platform, kind) at a time, across OS processes sharing one state DB.

Real `learnsync sync content` processes against one sandbox fleet: two started together do the
work once; a run killed with SIGKILL leaves a lease that expires and a run row that the next
run marks crashed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.statestore.leases import RunInProgress
from tests.e2e.helpers import lms, run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

COURSES = 150
# 40 items a job: 4 upsert jobs; 0.15 s an item keeps a run going for ~12 s, long enough for a
# second process to start while the first one works.
SLOW_360 = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": COURSES, "n_activities": 0}, "lms360": {"bulk_item_delay_seconds": 0.15}}}
CLI = [sys.executable, "-c", "import sys; from learnsync.cli import app; sys.argv[0] = 'learnsync'; app()"]


def _env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "LEARNSYNC_LMS360__MAX_UPSERT_BATCH": "40",
        "PREFECT_LOGGING_LEVEL": "WARNING", "COLUMNS": "200", **extra,
    }


def _sync(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "sync", "content", "-p", "udemy"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _upsert_jobs(fleet: Any) -> int:
    return sum(op["type"] == "importExternalCourses" for op in lms(fleet).bulk_operations())


@pytest.mark.parametrize("fleet", [SLOW_360], indirect=True)
@pytest.mark.rule("RUN-01")
def test_two_identical_syncs_started_together_do_the_work_once(fleet):
    store()  # the state DB exists and is migrated before the processes open it
    env = _env()
    procs = [_sync(env), _sync(env)]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 4], [o[1][-3000:] for o in outputs]
    winner, loser = (outputs[0], outputs[1]) if procs[0].returncode == 0 else (outputs[1], outputs[0])
    assert "another content run of udemy on default is running since" in loser[0] + loser[1], loser  # errors go to stderr
    assert "try again later" in loser[0] + loser[1]
    assert "Traceback" not in loser[1], loser[1][-2000:]  # a refusal, not a crash
    assert "created" in winner[0] and str(COURSES) in winner[0]
    assert _upsert_jobs(fleet) == 4  # 150 courses in jobs of 40, sent once
    assert len(synced_courses(fleet)) == COURSES
    assert [i["externalPlatform"] for i in lms(fleet).integrations()] == ["Udemy (learnsync)"]  # one integration
    runs = store().list_runs(provider="udemy", kind="content")
    assert [r["status"] for r in runs] == ["completed"]  # the refused run wrote nothing, not even a run row
    assert store().leases.current("udemy", "default", "content") is None  # given back at the end


@pytest.mark.parametrize("fleet", [SLOW_360], indirect=True)
@pytest.mark.rule("RUN-02")
def test_a_killed_run_s_lease_expires_and_the_next_run_marks_it_crashed(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_RUN_LEASE_SECONDS", "3")
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_UPSERT_BATCH", "40")
    store()
    child = _sync(_env())
    deadline = time.monotonic() + 120
    while _upsert_jobs(fleet) == 0:  # killed mid-way: its first bulk job is accepted
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the run never reached 360Learning"
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    killed = store().list_runs(provider="udemy", kind="content")[0]
    assert killed["status"] == "running"
    lms(fleet).config.bulk_item_delay_seconds = 0.0

    # At once: the dead run's lease has not expired yet (SQLite has no session to watch).
    with pytest.raises(RunInProgress) as busy:
        run(content_sync(provider="udemy"))
    assert f"pid {child.pid}" in str(busy.value)

    started = time.monotonic()
    report = run(content_sync(provider="udemy", wait=True))  # waits for the expiry, then runs
    assert time.monotonic() - started < 30
    assert report["status"] == "completed"
    crashed = store().get_run(killed["id"])
    assert crashed["status"] == "crashed" and crashed["ended_at"] is not None
    assert "stopped without finishing" in crashed["error"]
    runs = store().list_runs(provider="udemy", kind="content")
    assert [r["status"] for r in runs] == ["completed", "crashed"]  # nothing stays 'running' forever
    assert len(synced_courses(fleet)) == COURSES
