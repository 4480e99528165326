"""Reruns at 3 a.m.: a failed run resumes without redoing confirmed work or duplicating anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.stats_sync import stats_backfill, stats_sync
from tests.e2e.helpers import lms, run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
OC = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 250, "n_activities": 400, "bad_ratio": 0.0}}}
UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 250, "n_activities": 0, "n_learning_paths": 0}}}
UPSERT = r"/api/v2/bulk/integrations/[^/]+/courses$"


@pytest.fixture
def small_batches(monkeypatch):
    """Several pages per chunk and several bulk jobs per run, one job at a time (deterministic faults)."""
    monkeypatch.setenv("LEARNSYNC_OPENCLASSROOMS__PAGE_SIZE", "10")
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_UPSERT_BATCH", "100")
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_CONCURRENT_BULK", "1")


def upserted_items(fleet) -> int:
    """Items 360Learning processed in course upserts (a resend would count twice)."""
    return sum(op["resultCount"] for op in lms(fleet).bulk_operations() if op["type"] == "importExternalCourses")


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-08", "RUN-03")
def test_flow_retry_resumes_pages_from_cache_and_resends_only_the_failed_batch(fleet, small_batches):
    faults = fleet.app("lms360").state.faults
    provider = fleet.app("openclassrooms").state.faults
    # The second upsert batch fails on every HTTP retry (6 attempts): the first flow attempt fails.
    faults.add("status", status=500, path=UPSERT, method="PUT", skip=1, times=6)
    retrying = content_sync.with_options(retries=1, retry_delay_seconds=0)
    report = run(retrying(provider="openclassrooms"))

    courses = synced_courses(fleet)
    kept = len(courses)
    # The report is the successful attempt's: the failed batch created, the confirmed ones unchanged.
    assert report["counts"]["created"] == 100 and report["counts"]["unchanged"] == kept - 100 > 100
    # Catalog pages were read once: the retry took them from the task cache.
    pages = provider.requests_matching(r"/courses$", "GET")
    assert pages == 25, pages
    # Nothing was sent twice: every course went through exactly one successful upsert.
    assert upserted_items(fleet) == kept
    assert faults.fired == {"status:500": 6}


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-08")
def test_flow_retry_reparses_cached_page_bodies_without_refetching(fleet, monkeypatch):
    """Udemy's chunks are cached as response bodies (not pickled records): the retry re-parses them."""
    monkeypatch.setenv("LEARNSYNC_UDEMY__PAGE_SIZE", "10")
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_UPSERT_BATCH", "100")
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_CONCURRENT_BULK", "1")
    faults = fleet.app("lms360").state.faults
    faults.add("status", status=500, path=UPSERT, method="PUT", skip=1, times=6)
    retrying = content_sync.with_options(retries=1, retry_delay_seconds=0)
    report = run(retrying(provider="udemy"))

    courses = synced_courses(fleet)
    assert len(courses) == 250 and report["counts"]["failed"] == 0
    assert fleet.app("udemy").state.faults.requests_matching(r"/courses/list/?$", "GET") == 25  # read once
    assert upserted_items(fleet) == 250  # the retry sent only what the first attempt had not confirmed
    assert faults.fired == {"status:500": 6}


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-03")
def test_new_run_after_failure_sends_only_pending_items(fleet, small_batches):
    faults = fleet.app("lms360").state.faults
    faults.add("status", status=500, path=UPSERT, method="PUT", skip=1, times=6)
    with pytest.raises(Exception):
        run(content_sync(provider="openclassrooms"))
    half = len(synced_courses(fleet))
    state = store().load_courses(store().get_integration("openclassrooms")["id"])
    # State holds exactly what 360Learning confirmed, no more.
    assert len(state) == half and set(state["external_id"]) == set(synced_courses(fleet))
    failed_run = store().list_runs(limit=1)[0]
    assert failed_run["status"] == "failed" and "retriesExhausted" in (failed_run["error"] or "")

    report = run(content_sync(provider="openclassrooms"))
    total = len(synced_courses(fleet))
    assert report["counts"]["created"] == total - half and report["counts"]["unchanged"] == half
    assert upserted_items(fleet) == total


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-09")
def test_bulk_jobs_leave_while_pages_are_read_and_a_late_provider_failure_keeps_them(fleet, monkeypatch):
    """Courses planned from the first pages are upserted while later pages are still read: a
    provider failing late in the catalog leaves them synced and recorded, the rerun sends the rest."""
    monkeypatch.setenv("LEARNSYNC_UDEMY__PAGE_SIZE", "10")  # 25 pages: chunks of pages 1, 2-11, 12-21, 22-25
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_UPSERT_BATCH", "100")
    provider = fleet.app("udemy").state.faults
    provider.add("status", status=500, path=r"/courses/list/?$", method="GET", query=r"(^|&)page=2[2-5](&|$)", times=None)
    with pytest.raises(Exception, match="retriesExhausted"):
        run(content_sync(provider="udemy"))
    early = synced_courses(fleet)
    assert len(early) >= 100  # at least one full job (100 courses) left before the failure
    assert upserted_items(fleet) == len(early)
    state = store().load_courses(store().get_integration("udemy")["id"])
    assert set(state["external_id"]) == set(early)  # recorded as confirmed, nothing more
    assert store().list_runs(limit=1)[0]["status"] == "failed"

    provider.clear()
    report = run(content_sync(provider="udemy"))
    total = len(synced_courses(fleet))
    assert total > len(early)
    assert report["counts"]["created"] == total - len(early) and report["counts"]["unchanged"] == len(early)
    assert upserted_items(fleet) == total  # nothing sent twice


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-04")
def test_run_killed_between_bulk_acceptance_and_confirmation_is_resolved_by_the_next_run(fleet):
    faults = fleet.app("lms360").state.faults
    # 360Learning accepts the upsert, then status polling dies: the run cannot confirm the job.
    faults.add("status", status=500, path=r"/api/v2/bulk/operations/[^/]+$", method="GET", times=None)
    with pytest.raises(Exception):
        run(content_sync(provider="openclassrooms"))
    integration = store().get_integration("openclassrooms")
    pending = store().pending_bulk_jobs(integration["id"])
    assert len(pending) == 1 and pending[0]["operation"] == "upsert"
    assert store().load_courses(integration["id"]).empty
    faults.clear()

    report = run(content_sync(provider="openclassrooms"))
    assert store().pending_bulk_jobs(integration["id"]) == []
    assert any("resumed bulk job" in n for n in report["notes"])
    # The accepted job's courses were recorded from its results, not sent again; they count as
    # created (what the resumed job did), not as unchanged.
    assert report["counts"]["created"] == len(synced_courses(fleet)) and report["counts"]["unchanged"] == 0
    assert upserted_items(fleet) == len(synced_courses(fleet))


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-38")
def test_stats_backfill_is_idempotent_and_never_moves_the_daily_watermark(fleet):
    run(content_sync(provider="openclassrooms"))
    run(stats_sync(provider="openclassrooms"))
    integration = store().get_integration("openclassrooms")
    watermark = store().get_watermark(integration["id"], "stats")
    attempts = len(lms(fleet).attempts())
    assert watermark is not None and attempts > 0

    first = run(stats_backfill(provider="openclassrooms", since="2020-01-01", until="2027-01-01", window_days=400))
    # The daily run already imported everything: the backfill windows find it all unchanged.
    assert first["counts"]["created"] == 0 and first["counts"]["unchanged"] > 0
    assert store().get_watermark(integration["id"], "stats") == watermark
    assert len(lms(fleet).attempts()) == attempts
    backfills = [r for r in store().list_runs(limit=5) if r["kind"] == "backfill"]
    assert len(backfills[0]["params"]["windows"]) == 7  # 2,557 days in windows of 400


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-42")
def test_per_item_bulk_error_is_recorded_and_the_other_items_go_through(fleet):
    from tests.e2e.helpers import provider_store

    kept = [str(c["id"]) for c in provider_store(fleet, "openclassrooms").course_list() if c.get("status") == "active"][:2]
    lms(fleet).reject_items(kept, "invalidInput: rejected by the platform")
    report = run(content_sync(provider="openclassrooms"))
    courses = synced_courses(fleet)
    assert report["counts"]["failed"] == 2 and report["status"] == "completed_with_errors"
    assert not set(kept) & set(courses) and len(courses) == report["counts"]["created"] > 100
    run_pk = store().list_runs(limit=1)[0]["id"]
    outcomes = store().run_outcomes(run_pk)
    failed = outcomes[outcomes["outcome"] == "failed"]
    assert set(failed["external_id"]) == set(kept) and failed["reason"].str.contains("rejected by the platform").all()
    assert not set(kept) & set(store().load_courses(store().get_integration("openclassrooms")["id"])["external_id"])
    # Next run: only the two failed items are sent.
    lms(fleet).clear_rejections()
    again = run(content_sync(provider="openclassrooms"))
    assert again["counts"]["created"] == 2 and set(kept) <= set(synced_courses(fleet))


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-42")
def test_bulk_job_ending_in_error_fails_its_items_only(fleet, small_batches):
    lms(fleet).force_next_bulk_error("internal error while importing")
    report = run(content_sync(provider="openclassrooms"))
    assert report["counts"]["failed"] == 100  # the first batch of 100
    assert report["counts"]["created"] == len(synced_courses(fleet)) > 100
    again = run(content_sync(provider="openclassrooms"))
    assert again["counts"]["created"] == 100 and again["counts"]["failed"] == 0


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-38")
def test_backfill_runs_beside_the_daily_sync_without_duplicates(fleet):
    import threading

    from typer.testing import CliRunner

    from learnsync.cli import app

    run(content_sync(provider="openclassrooms"))
    results: dict[str, object] = {}

    def daily() -> None:
        results["daily"] = run(stats_sync(provider="openclassrooms"))

    thread = threading.Thread(target=daily)
    thread.start()
    cli = CliRunner().invoke(app, ["backfill", "stats", "--provider", "openclassrooms", "--since", "2020-01-01", "--until", "2027-01-01", "--window-days", "500"])
    thread.join()
    assert cli.exit_code == 0, cli.output
    assert "backfill" in cli.output and "created" in cli.output
    attempts = lms(fleet).attempts()
    pairs = [(a["courseId"], a["mail"]) for a in attempts]
    assert len(pairs) == len(set(pairs)) > 0  # each learner x course once, whoever sent it first
    integration = store().get_integration("openclassrooms")
    assert store().get_watermark(integration["id"], "stats") is not None  # set by the daily run only


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-06")
def test_skipped_page_archives_nothing_and_the_next_clean_run_catches_up(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_OPENCLASSROOMS__PAGE_SIZE", "20")
    run(content_sync(provider="openclassrooms"))
    before = {e: c["status"] for e, c in synced_courses(fleet).items()}
    fleet.app("openclassrooms").state.data_faults.set("skip_page", 1, stream="catalog")
    try:  # the client's page guard may fail the read; otherwise the count check marks it incomplete
        report = run(content_sync(provider="openclassrooms"))
        assert report["counts"]["archived"] == 0 and report["status"] == "completed_with_errors"
        assert any("incomplete catalog read" in n for n in report["notes"])
    except Exception as exc:
        assert "PagingLoopError" in type(exc).__name__ or "returned twice" in str(exc)
    assert fleet.app("openclassrooms").state.data_faults.injected()
    assert {e: c["status"] for e, c in synced_courses(fleet).items()} == before
    fleet.app("openclassrooms").state.data_faults.clear()
    clean = run(content_sync(provider="openclassrooms"))
    assert clean["counts"]["archived"] == 0 and clean["counts"]["failed"] == 0


ACTIVE = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 40, "n_activities": 150, "n_learning_paths": 0}}}


@pytest.mark.parametrize("fleet", [ACTIVE], indirect=True)
@pytest.mark.rule("V2-34")
def test_stats_of_courses_a_failed_content_sync_left_behind_are_sent_after_the_rerun(fleet):
    """The 07:45 stats run after a failed 07:30 catalog run must not lose the activity of the
    courses that run did not sync: it is parked until the courses are synced."""
    faults = fleet.app("lms360").state.faults
    faults.add("status", status=500, path=UPSERT, method="PUT", times=None)
    with pytest.raises(Exception):
        run(content_sync(provider="udemy"))
    waiting = run(stats_sync(provider="udemy"))
    assert waiting["counts"]["created"] == 0 and waiting["skipped"]["course_not_synced"] > 0
    assert 0 < waiting["parked"] <= waiting["skipped"]["course_not_synced"]
    assert any("parked" in n for n in waiting["notes"])
    integration = store().get_integration("udemy")

    faults.clear()  # on-call reruns the catalog, then the next stats run catches up
    run(content_sync(provider="udemy"))
    caught_up = run(stats_sync(provider="udemy"))
    attempts = lms(fleet).attempts()
    assert caught_up["counts"]["created"] == len(attempts) > 0
    assert caught_up["skipped"].get("course_not_synced", 0) == 0
    # activity older than the daily overlap was read: the window was not narrowed meanwhile
    oldest = min(a["lastActivityAt"] for a in attempts)
    assert oldest < (datetime.now(UTC) - timedelta(days=7)).isoformat()
    assert store().get_watermark(integration["id"], "stats") is not None
