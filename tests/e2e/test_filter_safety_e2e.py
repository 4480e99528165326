"""A filter never archives live courses by mistake, and a mistaken filter archiving can be undone."""

from __future__ import annotations

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import restore_courses, set_filters
from learnsync.tasks.diff import ArchiveGuardError
from learnsync.tasks.filters import FilterValueError
from tests.e2e.helpers import run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

COURSERA = {"providers": ["coursera"], "configs": {"coursera": {"n_courses": 60, "n_activities": 0}}}
OC = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 40, "n_activities": 0, "bad_ratio": 0.0}}}


def active(fleet) -> set[str]:
    return {e for e, c in synced_courses(fleet).items() if c["status"] == "published"}


@pytest.mark.parametrize("fleet", [COURSERA], indirect=True)
@pytest.mark.parametrize("value", ["en' OR '1'='1", "enn", "zz"])
@pytest.mark.rule("RUN-14", "COURSERA-17")
def test_rule_filter_value_the_provider_does_not_use_is_refused_before_anything_is_archived(fleet, value):
    run(content_sync(provider="coursera"))
    before = active(fleet)
    with pytest.raises(FilterValueError, match="unknown languages value") as refused:
        run(set_filters(provider="coursera", filters={"languages": [value]}))
    message = str(refused.value)
    assert repr(value) in message and "synced courses: " in message and " en," in message  # names it, lists known ones
    assert active(fleet) == before
    assert store().get_integration("coursera")["filters"] == {}


@pytest.mark.parametrize("fleet", [COURSERA], indirect=True)
@pytest.mark.rule("RUN-15", "COURSERA-19", "V2-17")
def test_rule_filter_archiving_goes_through_the_mass_archive_guard_and_can_be_undone(fleet):
    run(content_sync(provider="coursera"))
    before = active(fleet)
    # "ja": a real language, but a handful of courses only: archiving the rest trips the guard.
    with pytest.raises(ArchiveGuardError, match="refusing to archive"):
        run(set_filters(provider="coursera", filters={"languages": ["ja"]}))
    assert active(fleet) == before and store().get_integration("coursera")["filters"] == {}

    forced = run(set_filters(provider="coursera", filters={"languages": ["ja"]}, force=True))
    assert forced["counts"]["archived"] == len(before - active(fleet)) > len(before) // 2
    # Coursera never unarchives on a match (docs: COURSERA-19, D-06): clearing the filter brings nothing back...
    run(set_filters(provider="coursera", filters={}))
    run(content_sync(provider="coursera"))
    assert active(fleet) != before
    # ...the explicit undo does (docs: D-16).
    preview = run(restore_courses(provider="coursera", dry_run=True))
    assert preview["counts"]["restored"] == len(before - active(fleet))
    undone = run(restore_courses(provider="coursera"))
    assert undone["counts"]["restored"] == preview["counts"]["restored"]
    assert active(fleet) == before
    again = run(content_sync(provider="coursera"))
    assert again["counts"]["archived"] == 0 and active(fleet) == before
    assert [r["kind"] for r in store().list_runs(provider="coursera", limit=3)][0] == "content"
    assert "restore" in {r["kind"] for r in store().list_runs(provider="coursera", limit=10)}


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-04")
def test_courses_confirmed_by_a_resumed_bulk_job_keep_their_filter_values(fleet, monkeypatch):
    """A crash between acceptance and confirmation: the next run confirms the job from the journal,
    with payload and filter values, so a later language filter keeps the matching courses."""
    monkeypatch.setenv("LEARNSYNC_OPENCLASSROOMS__PAGE_SIZE", "10")
    faults = fleet.app("lms360").state.faults
    faults.add("status", status=500, path=r"/api/v2/bulk/operations/[^/]+$", method="GET", times=None)
    with pytest.raises(Exception):
        run(content_sync(provider="openclassrooms"))
    faults.clear()
    run(content_sync(provider="openclassrooms"))  # resumes the job
    integration = store().get_integration("openclassrooms")
    rows = [store().get_course(integration["id"], e) for e in synced_courses(fleet)]
    assert rows and all(r["payload"] and r["extra"].get("filter_lang") for r in rows)
    english = {r["external_id"] for r in rows if r["extra"]["filter_lang"] == "en"}
    assert english
    run(set_filters(provider="openclassrooms", filters={"languages": ["en"]}, force=True))
    assert english <= active(fleet)
