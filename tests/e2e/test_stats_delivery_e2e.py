"""Statistics are never lost: whatever 360Learning did not take is sent again, however many runs later."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import set_filters
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import lms, run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 15, "n_learners": 20, "n_activities": 150, "n_learning_paths": 0}}}
UPSERT = r"/api/v2/bulk/integrations/[^/]+/courses$"


def provider_attempts(fleet) -> Counter:
    """Per course, the learner attempts the Udemy sandbox reports that 360Learning can take
    (the provider's own mapping applied; learners with a 360Learning account)."""
    import pandas as pd

    from learnsync.providers.base import MappingContext
    from learnsync.providers.registry import get_provider

    raw = pd.DataFrame.from_records(fleet.app("udemy").state.store.activities(None, None))
    mapped = get_provider("udemy").map_stats(raw, MappingContext(now=datetime.now(UTC))).stats
    users = set(fleet.app("lms360").state.store.config.users)
    dated = mapped[["first_activity_at", "last_activity_at", "completed_at"]].notna().any(axis=1)
    kept = mapped[mapped["user_email"].isin(users) & dated].drop_duplicates(["course_external_id", "user_email"])
    return Counter(kept["course_external_id"].astype(str))


def attempts_by_course(fleet) -> Counter:
    ids = {c["courseId"]: e for e, c in synced_courses(fleet).items()}
    return Counter(ids.get(a["courseId"], a["courseId"]) for a in lms(fleet).attempts())


def busiest_course(fleet) -> str:
    counts = provider_attempts(fleet)
    return max(counts, key=counts.get)


@pytest.fixture
def expected(fleet):
    """Every (course, learner) attempt the provider reports, once all deliveries are done."""

    def count() -> Counter:
        return provider_attempts(fleet)

    return count


def _reject(fleet, course: str) -> None:
    fleet.app("lms360").state.store.reject_items([course], "internalError: item rejected")


def _clear(fleet) -> None:
    fleet.app("lms360").state.store.clear_rejections()


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("V2-35")
def test_stat_items_rejected_once_with_a_transient_error_are_delivered_by_a_later_run(fleet, expected):
    run(content_sync(provider="udemy"))
    course = busiest_course(fleet)
    _reject(fleet, course)
    first = run(stats_sync(provider="udemy"))
    assert first["counts"]["failed"] > 0 and first["parked"] > 0
    assert attempts_by_course(fleet)[course] == 0
    _clear(fleet)
    run(content_sync(provider="udemy"))
    second = run(stats_sync(provider="udemy"))
    assert second["counts"]["failed"] == 0
    delivered = attempts_by_course(fleet)
    assert delivered[course] == expected()[course] > 1, (delivered[course], expected()[course])
    assert sum(delivered.values()) == sum(expected().values())
    integration = store().get_integration("udemy")
    assert store().parked_counts(integration["id"]) == {}


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("V2-34")
def test_activity_of_a_course_a_completed_with_errors_content_run_failed_is_delivered_once_it_syncs(fleet, expected):
    course = busiest_course(fleet)
    _reject(fleet, course)  # the first content run cannot create this course
    with_errors = run(content_sync(provider="udemy"))
    assert with_errors["status"] == "completed_with_errors"
    _clear(fleet)
    stats = run(stats_sync(provider="udemy"))  # before the catalog is rerun: the course is not in 360Learning
    assert stats["parked"] > 0 and attempts_by_course(fleet)[course] == 0
    run(content_sync(provider="udemy"))
    run(stats_sync(provider="udemy"))
    assert attempts_by_course(fleet)[course] == expected()[course] > 1


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("V2-34")
def test_a_filter_change_after_a_failed_catalog_run_loses_no_statistics(fleet, expected):
    faults = fleet.app("lms360").state.faults
    faults.add("status", status=500, path=UPSERT, method="PUT", times=None)
    with pytest.raises(Exception):
        run(content_sync(provider="udemy"))
    faults.clear()
    run(set_filters(provider="udemy", filters={}))  # completes: it must not count as a catalog run
    kinds = [r["kind"] for r in store().list_runs(provider="udemy")]
    assert "filters" in kinds and kinds.count("content") == 1
    waiting = run(stats_sync(provider="udemy"))
    assert waiting["counts"]["created"] == 0 and waiting["parked"] > 0
    run(content_sync(provider="udemy"))
    caught_up = run(stats_sync(provider="udemy"))
    assert caught_up["counts"]["created"] == sum(expected().values()) > 0
    assert sum(attempts_by_course(fleet).values()) == sum(expected().values())
    # activity older than the daily overlap was delivered though the watermark moved on
    oldest = min(a["lastActivityAt"] for a in lms(fleet).attempts())
    assert oldest < (datetime.now(UTC) - timedelta(days=7)).isoformat()


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("V2-35")
def test_stat_items_missing_from_a_bulk_jobs_results_are_sent_again(fleet, expected):
    run(content_sync(provider="udemy"))
    course = busiest_course(fleet)
    fleet.app("lms360").state.store.drop_results([course])
    first = run(stats_sync(provider="udemy"))
    assert first["parked"] > 0 and any("no result returned" in e["reason"] for e in first["errors"])
    _clear(fleet)
    run(stats_sync(provider="udemy"))
    assert attempts_by_course(fleet)[course] == expected()[course] > 1
    pairs = [(a["courseId"], a["mail"]) for a in lms(fleet).attempts()]
    assert len(pairs) == len(set(pairs))  # sent again, never duplicated


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-05")
def test_a_bulk_job_stuck_running_expires_and_later_runs_proceed(fleet, expected, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_LMS360__BULK_WAIT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("LEARNSYNC_LMS360__BULK_JOB_EXPIRY_SECONDS", "2")
    run(content_sync(provider="udemy"))
    fleet.app("lms360").state.store.stall_next_bulk()
    with pytest.raises(Exception, match="not ended after"):
        run(stats_sync(provider="udemy"))
    # The next runs are not stalled by it: content goes through at once...
    content = run(content_sync(provider="udemy"))
    assert content["status"] == "completed", content
    import time

    time.sleep(2.5)
    # ...and once past the bound the job is given up (by whichever run sees it first past the
    # bound: a slow machine's content run may) and its statistics are sent again.
    stats = run(stats_sync(provider="udemy"))
    notes = content["notes"] + stats["notes"]
    assert any("still running" in n or "still queued" in n or "recorded as expired" in n for n in content["notes"]), content["notes"]
    assert any("recorded as expired" in n for n in notes), notes
    assert sum(attempts_by_course(fleet).values()) == sum(expected().values())
    jobs = {j["status"] for j in _jobs()}
    assert "expired" in jobs and "submitted" not in jobs


def _jobs() -> list[dict]:
    from sqlalchemy import select

    from learnsync.statestore.models import BulkJob

    with store()._read() as conn:
        return [dict(r) for r in conn.execute(select(BulkJob.__table__)).mappings()]


BIG_UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 30, "n_learners": 40, "n_activities": 1000, "n_learning_paths": 0}}}


@pytest.mark.parametrize("fleet", [BIG_UDEMY], indirect=True)
def test_a_stats_runs_memory_of_its_task_results_does_not_grow_with_its_items(fleet, monkeypatch):
    """Prefect links the elements of each task's returned value to its task run until the flow
    run ends: the pushed jobs' per-item results must not be among them (a million entries in a
    million-row run)."""
    from prefect.context import FlowRunContext

    from learnsync.flows import stats_pipeline

    run(content_sync(provider="udemy"))
    linked: list[int] = []
    original = stats_pipeline.StatsPipeline.run

    async def counting(self):  # type: ignore[no-untyped-def]
        tallies = await original(self)
        context = FlowRunContext.get()
        assert context is not None
        linked.append(len(context.run_results))
        return tallies

    monkeypatch.setattr(stats_pipeline.StatsPipeline, "run", counting)
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_STATS_BATCH", "200")  # several jobs
    report = run(stats_sync(provider="udemy"))
    sent = report["counts"]["created"]
    assert sent > 800 and linked, report["counts"]
    assert linked[0] < sent / 4, (linked, sent)  # a few per task run, not one per item
