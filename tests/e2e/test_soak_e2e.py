"""Soak: repeated syncs with random transient faults end with the same 360Learning state as fault-free syncs.

Bounded in time (LEARNSYNC_SOAK_SECONDS, default 45). Prints the figures: faults injected per
kind, runs, records, records lost, duplicates.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from typing import Any

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.crash_scenario import separate_fleet, snapshot
from tests.e2e.helpers import lms, run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
PROVIDERS = ["udemy", "openclassrooms"]
SOAK = {
    "providers": PROVIDERS,
    "configs": {"udemy": {"n_courses": 30, "n_activities": 100, "seed": 11}, "openclassrooms": {"n_courses": 30, "n_activities": 100, "seed": 11, "bad_ratio": 0.0}},
}
TRANSIENT = [
    {"kind": "status", "status": 429, "retry_after": 0.05},
    {"kind": "status", "status": 429},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 502},
    {"kind": "status", "status": 503},
    {"kind": "timeout", "delay": 0.8},
    {"kind": "drop"},
    {"kind": "truncate"},
    {"kind": "badjson"},
]


@pytest.fixture
def short_timeouts(monkeypatch):
    """Client timeouts below the injected delay, so 'timeout' faults really time out."""
    for name in ("LMS360", "UDEMY", "OPENCLASSROOMS"):
        monkeypatch.setenv(f"LEARNSYNC_{name}__TIMEOUT_SECONDS", "0.4")
    fast = '{"attempts": 8, "base_wait": 0.01, "max_wait": 0.1, "jitter": 0.1, "retry_after_cap": 0.2}'
    for name in ("LMS360", "UDEMY", "OPENCLASSROOMS"):
        monkeypatch.setenv(f"LEARNSYNC_{name}__RETRY", fast)


def mutate(fleet: Any, rnd: random.Random) -> None:
    """Day-to-day catalog and activity changes, identical in both fleets (same seed)."""
    udemy = fleet.app("udemy").state.store
    courses = udemy.courses()
    udemy.set_course(courses[rnd.randrange(len(courses))]["id"], title=f"Edited {rnd.randrange(10**6)}")
    oc = fleet.app("openclassrooms").state.store
    catalog = oc.course_list()
    oc.set_course(catalog[rnd.randrange(len(catalog))]["id"], title=f"Edited {rnd.randrange(10**6)}")


def rounds(fleet: Any, n: int, faulty: bool, seed: int = 5) -> tuple[int, int]:
    rnd, faults_rnd = random.Random(seed), random.Random(seed + 1)
    runs = failed = 0
    for _ in range(n):
        mutate(fleet, rnd)
        if faulty:
            for name in ["lms360", *PROVIDERS]:
                injector = fleet.app(name).state.faults
                injector.clear()
                for rule in faults_rnd.sample(TRANSIENT, 3):
                    injector.add(times=None, probability=0.08, **rule)
        for provider in PROVIDERS:
            for flow in (content_sync, stats_sync):
                runs += 1
                try:
                    run(flow(provider=provider))
                except Exception:
                    failed += 1  # retries exhausted: the next round (or the final clean run) catches up
    for name in ["lms360", *PROVIDERS]:
        fleet.app(name).state.faults.clear()
    for provider in PROVIDERS:  # the final, fault-free pass both histories end with
        run(content_sync(provider=provider))
        run(stats_sync(provider=provider))
    return runs, failed


@pytest.mark.parametrize("fleet", [SOAK], indirect=True)
def test_soak_random_transient_faults_reach_the_fault_free_state(fleet, short_timeouts, tmp_path, monkeypatch):
    budget = float(os.environ.get("LEARNSYNC_SOAK_SECONDS", "45"))
    started, n = time.monotonic(), 0
    # Size the soak to the time budget: one round takes about the same time in both fleets.
    runs = failed = 0
    while n == 0 or (time.monotonic() - started) * (n + 1) / n < budget / 2:
        r, f = rounds(fleet, 1, faulty=True, seed=5 + n)
        runs, failed, n = runs + r, failed + f, n + 1
    soaked = snapshot(fleet)
    fired: Counter[str] = Counter()
    for name in ["lms360", *PROVIDERS]:
        fired.update(fleet.app(name).state.faults.fired)
    with separate_fleet(tmp_path, monkeypatch, SOAK) as clean:
        for i in range(n):
            rounds(clean, 1, faulty=False, seed=5 + i)
        reference = snapshot(clean)

    lost_courses = set(reference["courses"]) - set(soaked["courses"])
    lost_attempts = Counter(reference["attempts"]) - Counter(soaked["attempts"])
    pairs = Counter((a[0], a[1]) for a in soaked["attempts"])
    ref_pairs = Counter((a[0], a[1]) for a in reference["attempts"])
    duplicates = sum((pairs - ref_pairs).values()) + (len(soaked["courses"]) - len({c[0] for c in soaked["courses"]}))
    print(
        f"\nsoak: {n} rounds, {runs} faulty runs ({failed} ended failed and were caught up), "
        f"faults injected {dict(sorted(fired.items()))} (total {sum(fired.values())}), "
        f"records: {len(soaked['courses'])} courses + {len(soaked['attempts'])} attempts, "
        f"lost: {len(lost_courses) + sum(lost_attempts.values())}, duplicates: {duplicates}"
    )
    assert sum(fired.values()) > 0
    assert not lost_courses and not lost_attempts and duplicates == 0
    assert soaked == reference
    assert len(lms(fleet).integrations()) == 2
