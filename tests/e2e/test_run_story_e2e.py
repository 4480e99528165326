"""What a run tells in the Prefect UI: its name, its tasks' names, its state, its summary (a
failed run says Failed and why), a recurring quarantine that is no longer news (docs: D-15),
and the fleet's own state and summary across its pairs."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import date, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from learnsync.flows.content_sync import content_sync
from tests.e2e.helpers import lms, provider_store, run, store

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
OC = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 60, "n_activities": 200, "bad_ratio": 0.05}}}
UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 60, "n_activities": 150, "n_learning_paths": 0}}}


async def _artifacts(key: str, limit: int = 5) -> list[dict[str, Any]]:
    async with get_client() as client:
        response = await client._client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": [key]}}, "limit": limit, "sort": "CREATED_DESC"})
        return response.json()


async def _run_tree(flow_run_id: Any) -> tuple[Any, list[str], list[str]]:
    """The flow run, the names of its task runs and of its subflow runs (recursively)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with get_client() as client:
        root = await client.read_flow_run(flow_run_id)
        tasks, flows, todo = [], [], [flow_run_id]
        while todo:
            current = todo.pop()
            tasks.extend(name for name, _, _ in await _task_spans(current))
            children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[current])))
            for child in children:
                flows.append(child.name)
                todo.append(child.id)
        return root, tasks, flows


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-10")
def test_a_failed_run_says_failed_and_why_and_its_tasks_are_named(fleet):
    run(content_sync(provider="openclassrooms"))
    oc = provider_store(fleet, "openclassrooms")
    for course in list(oc.course_list())[10:]:
        oc.remove_course(course["id"])
    state = asyncio.run(content_sync(provider="openclassrooms", return_state=True))
    assert state.is_failed()
    summary = asyncio.run(_artifacts("openclassrooms-content-default-summary"))[0]
    assert "**Status:** Failed" in summary["data"] and "**Why:**" in summary["data"] and "refusing to archive" in summary["data"]
    assert "Completed" not in summary["data"] and summary["description"].startswith("Failed:")
    assert store().last_run("openclassrooms", "default", "content")["status"] == "failed"
    root, tasks, _ = asyncio.run(_run_tree(state.state_details.flow_run_id))
    assert root.name == "content-openclassrooms-default"
    assert tasks and not any("None" in t for t in tasks), tasks
    assert any(t.endswith("-first-pages") for t in tasks), tasks


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-10")
def test_quarantine_still_open_from_the_last_run_does_not_make_the_rerun_completed_with_errors(fleet):
    first = asyncio.run(content_sync(provider="openclassrooms", return_state=True))
    assert first.name == "Completed with errors" and first.result()["counts"]["quarantined"] > 0
    again = asyncio.run(content_sync(provider="openclassrooms", return_state=True))
    report = again.result()
    # The same records, for the same reasons: still quarantined, still listed, but not news.
    assert report["counts"]["quarantined"] == first.result()["counts"]["quarantined"]
    assert again.name == "Completed" and report["status"] == "completed"
    assert report["recurring_quarantine"] == len(store().open_quarantine())
    summary = asyncio.run(_artifacts("openclassrooms-content-default-summary"))[0]["data"]
    assert "**Status:** Completed\n" in summary and "quarantined (still open)" in summary
    assert "still open from earlier runs" in (again.message or "")


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
def test_fleet_run_shows_completed_with_errors_when_a_pair_has_them_with_one_summary(fleet, monkeypatch):
    from learnsync.flows.fleet_sync import fleet_sync

    # 360Learning ends the statistics' bulk job in error: the pair's stats run completes with errors.
    fleet.app("lms360").state.store  # noqa: B018 - the sandbox is up
    import httpx

    httpx.post(f"{fleet.url('lms360')}/_sandbox/bulk-faults", timeout=10, json={
        "reject": [], "message": "", "job_error": None, "clear": False,
    }).raise_for_status()
    state = fleet_sync(pairs=[["udemy", "default"]], kinds=["content"], return_state=True)
    assert state.name == "Completed" and state.is_completed()
    httpx.post(f"{fleet.url('lms360')}/_sandbox/bulk-faults", timeout=10, json={
        "reject": [], "message": "", "job_error": "internalError: stats job failed", "clear": False,
    }).raise_for_status()
    state = fleet_sync(pairs=[["udemy", "default"]], kinds=["stats"], return_state=True)
    assert state.name == "Completed with errors" and state.is_completed()
    assert "udemy@default stats" in state.message
    summaries = asyncio.run(_artifacts("fleet-sync-summary"))
    assert "**Status:** Completed with errors" in summaries[0]["data"] and "| udemy@default | stats | Completed with errors |" in summaries[0]["data"]
    assert "**Status:** Completed\n" in summaries[1]["data"]
    root, tasks, flows = asyncio.run(_run_tree(state.state_details.flow_run_id))
    assert root.name == "fleet-sync-stats" and "fleet-pairs-1" in flows and "stats-udemy-default" in flows
    assert "pair-udemy-default" in tasks and not any("None" in t for t in tasks), tasks


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-10")
def test_content_and_stats_runs_show_their_stages_each_bulk_job_named_by_its_operation_and_a_backfill_counts_per_window(fleet):
    from learnsync.flows.stats_sync import stats_backfill, stats_sync

    content = asyncio.run(content_sync(provider="udemy", return_state=True))
    assert content.is_completed() and content.result()["counts"]["created"] == 60
    _, tasks, _ = asyncio.run(_run_tree(content.state_details.flow_run_id))
    for stage in ("udemy-courses-first-pages", "map-udemy-courses-chunk1", "plan-catalog-udemy", "push-courses-job-1", "confirm-courses-job-1-"):
        assert any(t.startswith(stage) for t in tasks), (stage, tasks)
    course_jobs = {op["_id"] for op in lms(fleet).bulk_operations()}
    confirmed = [t for t in tasks if t.startswith("confirm-courses-job-")]
    assert confirmed and all(t.rsplit("-", 1)[1] in course_jobs for t in confirmed), confirmed
    pushed = [t for t in tasks if t.startswith("push-courses-job-")]  # named by the operation 360Learning gave the job
    assert pushed and all(re.fullmatch(r"push-courses-job-\d+-[0-9a-f]{24}", t) and t.rsplit("-", 1)[1] in course_jobs for t in pushed), pushed
    state = asyncio.run(stats_sync(provider="udemy", return_state=True))
    assert state.is_completed() and state.result()["counts"]["created"] > 0
    _, tasks, _ = asyncio.run(_run_tree(state.state_details.flow_run_id))
    for stage in ("read-stats-udemy-", "map-stats-udemy-", "plan-stats-udemy-", "push-stats-job-1", "confirm-stats-job-1-"):
        assert any(t.startswith(stage) for t in tasks), (stage, tasks)
    operations = {op["_id"] for op in lms(fleet).bulk_operations()}
    confirmed = [t for t in tasks if t.startswith("confirm-stats-job-")]
    assert confirmed and all(re.fullmatch(r"confirm-stats-job-\d+-[0-9a-f]{24}", t) and t.rsplit("-", 1)[1] in operations for t in confirmed), confirmed
    pushed = [t for t in tasks if t.startswith("push-stats-job-")]
    assert pushed and all(re.fullmatch(r"push-stats-job-\d+-[0-9a-f]{24}", t) and t.rsplit("-", 1)[1] in operations for t in pushed), pushed
    assert not any("None" in t for t in tasks), tasks
    progress = asyncio.run(_artifacts("udemy-stats-default-progress"))
    assert progress and progress[0]["type"] == "progress" and float(progress[0]["data"]) == 100.0

    today = date.today()
    backfill = asyncio.run(stats_backfill(
        provider="udemy", since=today - timedelta(days=21), until=today + timedelta(days=1), window_days=7, return_state=True,
    ))
    assert backfill.is_completed()
    windows = asyncio.run(_artifacts("udemy-backfill-default-windows"))
    assert windows and windows[0]["type"] == "table"
    rows = json.loads(windows[0]["data"]) if isinstance(windows[0]["data"], str) else windows[0]["data"]
    assert len(rows) == 4 and [r["since"] for r in rows] == sorted(r["since"] for r in rows)
    assert sum(r["rows read"] for r in rows) >= sum(r["created"] + r["updated"] + r["unchanged"] for r in rows)


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-10")
def test_a_run_prefect_cancels_before_it_starts_is_named_like_the_others(fleet):
    """CANCEL_NEW: a second run of a deployment while one is going is cancelled by the server
    before it starts, so its flow never names it; the run that was going names it when it ends."""
    from prefect.flow_engine import run_flow_async
    from prefect.states import Pending

    from learnsync.deployments.schedules import runner_deployments

    (deployment,) = [d for d in runner_deployments(providers=["udemy"]) if d.name == "udemy-content-default"]

    async def scenario() -> tuple[Any, Any, Any]:
        deployment_id = await deployment.apply()
        async with get_client() as client:
            going = await client.create_flow_run_from_deployment(deployment_id)
            second = await client.create_flow_run_from_deployment(deployment_id)
            await client.set_flow_run_state(going.id, Pending())  # takes the deployment's one slot, as a worker does
            refused = await client.set_flow_run_state(second.id, Pending())
            assert refused.state is not None and refused.state.type.value == "CANCELLED", refused
            random_name = (await client.read_flow_run(second.id)).name
            await run_flow_async(content_sync, flow_run=await client.read_flow_run(going.id), parameters={"provider": "udemy", "platform": "default"})
            return random_name, await client.read_flow_run(going.id), await client.read_flow_run(second.id)

    random_name, going, second = asyncio.run(scenario())
    assert random_name != "content-udemy-default"
    assert going.name == second.name == "content-udemy-default", (going.name, second.name)
    assert second.state.type.value == "CANCELLED" and second.run_count == 0


async def _task_spans(flow_run_id: Any, timeout: float = 30.0) -> list[tuple[str, Any, Any]]:
    """Name, start and end of every task run of the flow run, once the server has them all.

    Task run states reach the server as events, processed after the flow has returned, so the
    last runs' end times can still be missing for a moment: wait until every run has ended."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            spans = [(t.name, t.start_time, t.end_time) for t in runs]
            if all(start is not None and end is not None for _, start, end in spans) or time.monotonic() > deadline:
                return spans
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-10")
def test_a_backfill_reads_its_next_window_while_the_previous_ones_jobs_are_pushed(fleet, monkeypatch):
    """Windows are pipelined: a window's activity is read while an earlier window's bulk job is
    still at 360Learning, not after it (the run graph's read and push task runs overlap)."""
    from learnsync.flows.stats_sync import stats_backfill

    asyncio.run(content_sync(provider="udemy"))
    monkeypatch.setenv("LEARNSYNC_LMS360__MAX_STATS_BATCH", "25")  # several jobs per window
    lms(fleet).config.bulk_item_delay_seconds = 0.01  # a job of 25 items is at 360Learning for 0.25 s
    try:
        today = date.today()
        state = asyncio.run(stats_backfill(
            provider="udemy", since=today - timedelta(days=28), until=today + timedelta(days=1), window_days=7, return_state=True,
        ))
    finally:
        lms(fleet).config.bulk_item_delay_seconds = 0.0
    assert state.is_completed() and state.result()["counts"]["created"] > 50
    spans = asyncio.run(_task_spans(state.state_details.flow_run_id))
    reads = sorted((start, name) for name, start, _ in spans if name.startswith("read-stats-udemy-"))
    pushes = [(start, end) for name, start, end in spans if name.startswith("push-stats-job-")]
    assert len(reads) == 5 and len(pushes) >= 4, (reads, pushes)
    overlapping = [
        read for read, _ in reads[1:]
        if any(start < read < end for start, end in pushes)  # a job of an earlier window still open
    ]
    assert overlapping, (reads, sorted(pushes))
