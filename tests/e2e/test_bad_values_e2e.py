"""One bad value never sinks a run: the record holding it is quarantined, the rest goes through."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.stats_sync import stats_backfill, stats_sync
from tests.e2e.helpers import run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

# provider -> (catalog path, the text field its sandbox writes first in each record, quiet config)
CATALOG = {
    "udemy": ("/courses/list", "title", {"n_learning_paths": 0}),
    "coursera": ("/contents", "name", {}),
    "edflex": ("/resources", "title", {"bad_record_ratio": 0.0}),
    "openclassrooms": ("/courses", "title", {"ghost_ratio": 0.0}),
}
BAD = {"lone surrogate": "\\ud800", "invalid UTF-8 byte": "\xff"}


def _fleet(provider: str) -> dict:
    return {"providers": [provider], "configs": {provider: {"n_courses": 30, "n_activities": 0, **CATALOG[provider][2]}}}


@pytest.mark.parametrize("bad", list(BAD), ids=list(BAD))
@pytest.mark.parametrize("fleet", [_fleet(p) for p in CATALOG], indirect=True, ids=list(CATALOG))
@pytest.mark.rule("V2-06")
def test_one_unreadable_value_quarantines_its_record_and_the_rest_of_the_page_syncs(fleet, bad):
    provider = next(name for name in fleet.servers if name != "lms360")
    path, field, _ = CATALOG[provider]
    faults = fleet.app(provider).state.faults
    clean = run(content_sync(provider=provider, dry_run=True))
    wanted, held_before = clean["counts"]["created"], clean["counts"]["quarantined"]
    assert wanted > 2
    # every read of the catalog's first page carries the bad value (a retry would not help)
    faults.add("rewrite", path=path, find=f'"{field}":"', replace=f'"{field}":"{BAD[bad]}', times=None)
    report = run(content_sync(provider=provider))
    assert report["counts"]["quarantined"] == held_before + 1, report
    assert report["counts"]["created"] == len(synced_courses(fleet)) == wanted - 1
    held = store().open_quarantine(store().get_integration(provider)["id"])
    assert len(held) == held_before + 1 and held["reason"].str.contains("unreadable characters").sum() == 1
    assert faults.fired.get("rewrite", 0) >= 1


UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 20, "n_activities": 60, "n_learning_paths": 0}}}


@pytest.mark.parametrize("bad", list(BAD), ids=list(BAD))
@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("V2-06")
def test_one_unreadable_value_in_learner_activity_quarantines_only_that_row(fleet, bad):
    run(content_sync(provider="udemy"))
    fleet.app("udemy").state.faults.add(
        "rewrite", path="/analytics/user-course-activity", find='"user_email":"', replace=f'"user_email":"{BAD[bad]}', times=None, occurrences=5
    )
    report = run(stats_sync(provider="udemy"))
    assert report["status"] == "completed_with_errors"
    unreadable = [e for e in report["errors"] if e["field"] == "user_email" and "unreadable" in e["reason"]]
    assert len(unreadable) == report["counts"]["quarantined"] >= 3 and report["counts"]["created"] > 10


@pytest.mark.parametrize("fleet", [{"providers": ["udemy"], "configs": {"udemy": {"n_courses": 5, "n_activities": 0, "n_learning_paths": 0}}}], indirect=True)
@pytest.mark.rule("V2-05", "V2-07")
def test_values_a_user_would_call_wrong_are_cleaned_or_quarantined_before_sending(fleet):
    udemy = fleet.app("udemy").state.store
    ids = [c["id"] for c in udemy.courses()]
    udemy.set_course(ids[0], estimated_content_length=True)  # a boolean is no duration
    udemy.set_course(ids[1], title="T" * 300_000)  # no title
    udemy.set_course(ids[2], description="word " * 250_000)  # 1.25 MB
    udemy.set_course(ids[3], title="Intro\x00 to \x1b[31mSQL\x07")
    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert str(ids[1]) not in courses and report["counts"]["quarantined"] == 1
    assert any(e["external_id"] == str(ids[1]) and e["field"] == "name" and "300,000 characters" in e["reason"] for e in report["errors"])
    assert courses[str(ids[0])].get("duration") in (None, 1) or courses[str(ids[0])]["duration"] != 1
    assert "duration" not in courses[str(ids[0])] or courses[str(ids[0])]["duration"] is None
    assert len(courses[str(ids[2])]["description"]) <= 20_000 and courses[str(ids[2])]["description"].endswith("…")
    assert courses[str(ids[3])]["name"] == "Intro to [31mSQL"
    assert any("descriptions longer than the accepted size were cut" in n for n in report["notes"])


BROKEN = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 12, "n_activities": 90, "n_learning_paths": 0, "bad_records": 3}}}


@pytest.mark.parametrize("fleet", [BROKEN], indirect=True)
@pytest.mark.rule("V2-06")
def test_a_quarantined_activity_row_keeps_its_label_when_read_again_elsewhere(fleet):
    """Read whole, then in 3-day windows (each broken row at another place in its page), the same
    broken rows are the same quarantine entries: open quarantine holds each once."""
    run(content_sync(provider="udemy"))
    since = date.today() - timedelta(days=60)
    whole = run(stats_backfill(provider="udemy", since=since, window_days=90))
    split = run(stats_backfill(provider="udemy", since=since, window_days=3))
    first = sorted(e["external_id"] for e in whole["errors"] if e["outcome"] == "quarantined")
    again = sorted(e["external_id"] for e in split["errors"] if e["outcome"] == "quarantined")
    assert len(first) == 3 and again == first, (first, again)
    assert not any(re.fullmatch(r"row\d+", label.split("|")[1]) for label in first)  # no place in a page
    held = store().open_quarantine(store().get_integration("udemy")["id"])
    assert sorted(held.loc[held["external_id"].isin(first), "external_id"]) == first
