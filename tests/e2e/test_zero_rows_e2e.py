"""Every engine path is correct on zero rows: a first sync where nothing survives mapping."""

from __future__ import annotations

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

PROVIDERS = ("udemy", "coursera", "edflex", "openclassrooms")
QUIET = {"udemy": {"n_learning_paths": 0}, "edflex": {"bad_record_ratio": 0.0}, "openclassrooms": {"ghost_ratio": 0.0}}


def _fleet(provider: str, **config: object) -> dict:
    return {"providers": [provider], "configs": {provider: {**QUIET.get(provider, {}), **config}}}


@pytest.mark.parametrize("fleet", [_fleet(p, n_courses=0, n_activities=0) for p in PROVIDERS], indirect=True, ids=PROVIDERS)
def test_first_sync_of_an_empty_catalog_completes_with_nothing_to_do(fleet):
    provider = next(name for name in fleet.servers if name != "lms360")
    report = run(content_sync(provider=provider))
    assert report["status"] == "completed", report
    assert sum(report["counts"].values()) == 0
    assert synced_courses(fleet) == {}
    stats = run(stats_sync(provider=provider))
    assert stats["status"] == "completed" and sum(stats["counts"].values()) == 0


@pytest.mark.parametrize(
    "fleet",
    [_fleet(p, n_courses=6, n_activities=0, data_faults={"missing_required": 1000}) for p in PROVIDERS],
    indirect=True,
    ids=PROVIDERS,
)
def test_first_sync_where_every_record_is_invalid_reports_and_stores_each_rejected_record(fleet):
    provider = next(name for name in fleet.servers if name != "lms360")
    report = run(content_sync(provider=provider))
    rejected = report["counts"]["quarantined"] + report["counts"]["ignored"]
    assert rejected > 0, report
    assert report["counts"]["created"] == len(synced_courses(fleet))
    integration = store().get_integration(provider)
    held = store().open_quarantine(integration["id"])
    # Each quarantined course is in the report and held in the state store for the next run.
    assert set(held["external_id"]) == {e["external_id"] for e in report["errors"] if e["outcome"] == "quarantined"}
    assert len(set(held["external_id"])) == report["counts"]["quarantined"]
