"""Paging truth: next links are followed whatever the announced total; a disagreement archives nothing."""

from __future__ import annotations

import time

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

# provider -> (catalog path, how its body announces the total, quiet config)
ANNOUNCED = {
    "udemy": ("/courses/list", '"count":{n}', {"n_learning_paths": 0}),
    "coursera": ("/contents", '"total":{n}', {}),
    "edflex": ("/resources", '"total":{n}', {"bad_record_ratio": 0.0}),
}
N = 100


def _fleet(provider: str, **config: object) -> dict:
    return {"providers": [provider], "configs": {provider: {"n_courses": N, "n_activities": 0, **ANNOUNCED[provider][2], **config}}}


def _announce(fleet, provider: str, real: int, said: int) -> None:
    path, shape, _ = ANNOUNCED[provider]
    fleet.app(provider).state.faults.add(
        "rewrite", path=path, find=shape.format(n=real), replace=shape.format(n=said), times=None, occurrences=1
    )


@pytest.fixture
def paged(monkeypatch):
    """Pages of 20: page 1 announces the total, later pages are fetched concurrently."""
    for p in ANNOUNCED:
        monkeypatch.setenv(f"LEARNSYNC_{p.upper()}__PAGE_SIZE", "20")


def _served(fleet, provider: str) -> int:
    """Catalog records the provider serves (what a complete read sees)."""
    report = run(content_sync(provider=provider, dry_run=True))
    return report["counts"]["created"] + report["counts"]["unchanged"] + report["counts"]["quarantined"] + report["counts"]["ignored"]


@pytest.mark.parametrize("fleet", [_fleet(p) for p in ANNOUNCED], indirect=True, ids=list(ANNOUNCED))
@pytest.mark.rule("RUN-06")
def test_rule_a_total_smaller_than_what_is_served_reads_every_page_and_archives_nothing(fleet, paged):
    provider = next(name for name in fleet.servers if name != "lms360")
    run(content_sync(provider=provider))
    live = {e for e, c in synced_courses(fleet).items() if c["status"] == "published"}
    assert len(live) > 50
    faults = fleet.app(provider).state.faults
    faults.reset_counts()
    _announce(fleet, provider, real=N, said=60)
    report = run(content_sync(provider=provider))
    # every page was read, following the next links past the announced end...
    assert faults.requests_matching(ANNOUNCED[provider][0], "GET") >= N // 20
    # ...and the disagreement is an incomplete read: nothing archived, and the run says so
    assert report["counts"]["archived"] == 0
    assert {e for e, c in synced_courses(fleet).items() if c["status"] == "published"} == live
    assert any("incomplete catalog read" in n and "announced 60" in n for n in report["notes"]), report["notes"]
    assert report["status"] == "completed_with_errors"


@pytest.mark.parametrize("fleet", [_fleet(p) for p in ANNOUNCED], indirect=True, ids=list(ANNOUNCED))
@pytest.mark.rule("RUN-06")
def test_rule_an_absurd_announced_total_costs_a_bounded_walk_and_archives_nothing(fleet, paged):
    provider = next(name for name in fleet.servers if name != "lms360")
    run(content_sync(provider=provider))
    faults = fleet.app(provider).state.faults
    faults.reset_counts()
    _announce(fleet, provider, real=N, said=10**9)
    started = time.monotonic()
    report = run(content_sync(provider=provider))
    assert time.monotonic() - started < 60
    # pages past the real end: at most the concurrent chunks in flight (4 x 10 pages)
    assert faults.requests_matching(ANNOUNCED[provider][0], "GET") <= N // 20 + 1 + 40
    assert report["counts"]["archived"] == 0
    assert any("announced 1000000000" in n for n in report["notes"]), report["notes"]


UDEMY_STATS = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 20, "n_activities": 120, "n_learning_paths": 0}}}


@pytest.mark.parametrize("fleet", [UDEMY_STATS], indirect=True)
@pytest.mark.rule("RUN-06", "V2-37")
def test_a_stats_read_that_disagrees_with_its_announced_total_keeps_the_watermark(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_UDEMY__PAGE_SIZE", "20")
    run(content_sync(provider="udemy"))
    activity = fleet.app("udemy").state.store.activities(None, None)
    fleet.app("udemy").state.faults.add(
        "rewrite", path="/analytics/user-course-activity", find=f'"count":{len(activity)}', replace='"count":1000000000', times=None
    )
    report = run(stats_sync(provider="udemy"))
    integration = store().get_integration("udemy")
    assert store().get_watermark(integration["id"], "stats") is None
    assert any("incomplete read" in n and "watermark stays" in n for n in report["notes"])
    assert report["counts"]["created"] > 0  # what was read is delivered all the same
    fleet.app("udemy").state.faults.clear()
    run(stats_sync(provider="udemy"))
    assert store().get_watermark(integration["id"], "stats") is not None
