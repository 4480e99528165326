"""A sync history replayed with and without faults, and a snapshot of what 360Learning holds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration
from learnsync.flows.stats_sync import stats_sync
from learnsync.sandboxes.fleet import start_fleet
from tests.e2e.helpers import lms, run

UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 24, "n_activities": 90, "seed": 7}}}


def snapshot(fleet: Any) -> dict[str, Any]:
    """360Learning's side, keyed by natural keys (so two fleets compare)."""
    store = lms(fleet)
    courses = store.courses()
    by_cid = {c["courseId"]: c["externalId"] for c in courses}
    return {
        "integrations": sorted(i["externalPlatform"] for i in store.integrations() if i.get("active", True)),
        "courses": sorted(
            (c["externalId"], c["status"], c["name"], c.get("duration"), tuple(sorted(t["name"] for t in c["tags"])))
            for c in courses
        ),
        "attempts": sorted(
            (by_cid[a["courseId"]], a["mail"], a["progress"], a["timeSpent"], a["firstActivityAt"], a["lastActivityAt"], a.get("completedAt"))
            for a in store.attempts()
        ),
    }


def mutate_catalog(fleet: Any) -> None:
    """Between two daily syncs: one course removed, one renamed, one recategorised, one learner completes."""
    udemy = fleet.app("udemy").state.store
    ids = [c["id"] for c in udemy.courses()]
    udemy.remove_course(ids[0])
    udemy.set_course(ids[1], title="Renamed after the first sync")
    udemy.set_course(ids[2], categories=["Brand new category"])
    row = next(a for a in udemy.activities(None, None) if a["completion_ratio"] not in (0, 100) and a["user_email"].startswith("learner"))
    today = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0).isoformat().replace("+00:00", "Z")
    udemy.add_activity({**row, "completion_ratio": 100, "course_completion_date": today, "course_last_accessed_date": today})


def history(fleet: Any, fault: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Day 1 sync, catalog changes, day 2 sync (killed by `fault` if given), then a clean rerun."""
    run(configure_integration(provider="udemy", options={"tags_sync": True}))
    run(content_sync(provider="udemy"))
    run(stats_sync(provider="udemy"))
    mutate_catalog(fleet)
    if fault is not None:
        target, rule = fault
        fleet.app(target).state.faults.add(times=None, **rule)
        for flow in (content_sync, stats_sync):
            try:
                run(flow(provider="udemy"))
            except Exception:
                pass  # the killed run
        fired = sum(fleet.app(target).state.faults.fired.values())
        fleet.app(target).state.faults.clear()
    run(content_sync(provider="udemy"))
    run(stats_sync(provider="udemy"))
    return {**snapshot(fleet), "faults_fired": fired if fault is not None else 0}


@contextmanager
def separate_fleet(tmp_path: Any, monkeypatch: Any, spec: dict[str, Any]) -> Iterator[Any]:
    """Another set of sandboxes and state DB, for the uninterrupted reference run."""
    fleet = start_fleet(spec["providers"], spec["configs"])
    with monkeypatch.context() as m:
        m.setenv("LEARNSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'reference.db'}")
        for k, v in fleet.env().items():
            m.setenv(k, v)
        try:
            yield fleet
        finally:
            fleet.close()
    assert os.environ.get("LEARNSYNC_DATABASE_URL") != f"sqlite:///{tmp_path / 'reference.db'}"
