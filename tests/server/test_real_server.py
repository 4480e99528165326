"""learnsync on a real Prefect server, as an operator runs it (README, Runbook and Scale-out).

One module-scoped registration with `learnsync deploy --notify ...` against `prefect server
start`; then: the server's scheduler creates runs at the documented Europe/Paris times;
`prefect deploy --all --prefect-file deployments/prefect.yaml` registers the very same
deployments; a process worker (started outside the repository) runs deployments to their end
against the sandboxes, with secrets read from Secret blocks; the runs' artifacts are read back
through the API; and the alerting automations notify on the right states.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from learnsync.deployments.definitions import definitions, secret_settings
from tests.server.conftest import stop

pytestmark = pytest.mark.server
PARIS = ZoneInfo("Europe/Paris")
RULE_BOOK = {  # the documented Central European Time (OpenClassrooms: ours, docs: D-25)
    "udemy-content-default": (7, 30), "udemy-stats-default": (7, 45),
    "edflex-content-default": (8, 0), "edflex-stats-default": (8, 20),
    "coursera-content-default": (8, 45), "coursera-stats-default": (9, 0),
    "openclassrooms-content-default": (9, 30), "openclassrooms-stats-default": (9, 45),
}
WEEKLY = {  # drift repair: Sunday mornings, before the day's syncs
    "udemy-reconcile-default": (5, 0), "edflex-reconcile-default": (5, 15),
    "coursera-reconcile-default": (5, 30), "openclassrooms-reconcile-default": (5, 45),
}
SANDBOX_SECRETS = {
    "learnsync-lms360-client-secret": "sandbox-secret",
    "learnsync-udemy-client-secret": "sandbox-secret",
    "learnsync-coursera-client-secret": "sandbox-secret",
    "learnsync-coursera-refresh-token": "sandbox-refresh-token",
    "learnsync-edflex-client-secret": "sandbox-secret",
    "learnsync-openclassrooms-client-secret": "sandbox-secret",
}
DEPLOYER_SECRET = "deployer-plain-secret-value"  # set in the deployer's environment: never stored


class Inbox:
    """A loopback webhook receiver: what the notification block posts."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    inbox.messages.append(json.loads(body))
                except ValueError:
                    inbox.messages.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def api(coro_fn: Any) -> Any:
    """Run `coro_fn(client)` with a Prefect client on the real server."""
    from prefect.client.orchestration import get_client

    async def go() -> Any:
        async with get_client() as client:
            return await coro_fn(client)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Any]:
    from learnsync.sandboxes.fleet import start_fleet

    fleet = start_fleet(["udemy"])
    yield fleet
    fleet.close()


@pytest.fixture(scope="module")
def deployed(prefect_server, sandboxes, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Blocks an operator creates first, then `learnsync deploy --notify custom-webhook/on-call`."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    work = tmp_path_factory.mktemp("worker")
    inbox = Inbox()
    deployer_env = {
        "LEARNSYNC_DATABASE_URL": f"sqlite:///{work / 'state.db'}",
        **sandboxes.env(),
        "LEARNSYNC_LMS360__CLIENT_SECRET": DEPLOYER_SECRET,
    }
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
        for name, value in SANDBOX_SECRETS.items():
            Secret(value=value).save(name, overwrite=True)
        CustomWebhookNotificationBlock(
            name="on-call", url=inbox.url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
        ).save("on-call", overwrite=True)
        started = time.monotonic()
        done = prefect_server.run(
            sys.executable, "-m", "learnsync.cli", "deploy", "--notify", "custom-webhook/on-call", env=deployer_env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield {"env": deployer_env, "work": work, "inbox": inbox, "deploy_output": done.stdout, "deploy_seconds": time.monotonic() - started}
    inbox.close()


def read_deployments() -> dict[str, Any]:
    async def go(client: Any) -> dict[str, Any]:
        return {d.name: d for d in await client.read_deployments()}

    return api(go)


def comparable(dep: Any) -> dict[str, Any]:
    """What both ways of registering must agree on."""
    return {
        "name": dep.name,
        "flow_id": dep.flow_id,
        "entrypoint": dep.entrypoint,
        "tags": sorted(dep.tags),
        "description": dep.description,
        "parameters": dep.parameters,
        "parameter_schema": dep.parameter_openapi_schema,
        "enforce_parameter_schema": dep.enforce_parameter_schema,
        "concurrency_limit": dep.global_concurrency_limit.limit if dep.global_concurrency_limit else dep.concurrency_limit,
        "collision_strategy": dep.concurrency_options.collision_strategy.value if dep.concurrency_options else None,
        "schedules": sorted((s.schedule.cron, s.schedule.timezone, s.active) for s in dep.schedules),
        "work_pool": (dep.work_pool_name, dep.work_queue_name),
        "job_variables": dep.job_variables,
        "pull_steps": dep.pull_steps or [],
        "path": dep.path,
    }


@pytest.mark.rule("UDEMY-24", "COURSERA-01", "EDFLEX-01", "OC-01")
def test_learnsync_deploy_registers_every_deployment_and_the_scheduler_fires_at_rule_book_times(prefect_api, deployed):
    deps = read_deployments()
    expected = {d.name: d for d in definitions("default")}
    assert set(deps) == set(expected)  # 8 daily, 4 weekly, the backfill and the fleet
    for name, dep in deps.items():
        assert dep.work_pool_name == "learnsync-process"
        assert sorted(dep.tags) == sorted(expected[name].tags)
        assert dep.parameters == expected[name].parameters

    # The scheduler service (not our code) turns the crons into scheduled runs.
    async def scheduled(client: Any) -> dict[str, list[datetime]]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        out = {}
        for name, dep in deps.items():
            runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])))
            out[name] = sorted(r.expected_start_time.astimezone(PARIS) for r in runs if r.state and r.state.is_scheduled())
        return out

    deadline = time.monotonic() + 90
    while True:
        runs = api(scheduled)
        if all(len(runs[n]) >= 3 for n in (*RULE_BOOK, *WEEKLY)) or time.monotonic() > deadline:
            break
        time.sleep(2)
    now = datetime.now(PARIS)
    summary = {}
    for name, (hour, minute) in RULE_BOOK.items():
        times = runs[name]
        assert len(times) >= 3, f"{name}: the scheduler created {len(times)} runs"
        assert all((t.hour, t.minute) == (hour, minute) for t in times), (name, times)
        assert now < times[0] <= now + timedelta(days=1, minutes=1), (name, times[0])
        assert [(b - a).days for a, b in zip(times, times[1:])] == [1] * (len(times) - 1)  # daily, same local time
        summary[name] = {"runs": len(times), "first": [t.isoformat() for t in times[:3]]}
    for name, (hour, minute) in WEEKLY.items():
        times = runs[name]
        assert len(times) >= 3 and all((t.weekday(), t.hour, t.minute) == (6, hour, minute) for t in times), (name, times)
        assert [(b - a).days for a, b in zip(times, times[1:])] == [7] * (len(times) - 1)  # weekly, same local time
        summary[name] = {"runs": len(times), "first": [t.isoformat() for t in times[:3]]}
    assert runs["backfill-default"] == [] and runs["fleet-sync"] == []  # on demand only
    print("scheduled runs:", json.dumps(summary, indent=1))


def test_prefect_deploy_of_prefect_yaml_registers_the_same_deployments(prefect_api, deployed):
    before = {n: comparable(d) for n, d in read_deployments().items()}
    done = prefect_api.run(
        sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml",
        env=deployed["env"],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    after = {n: comparable(d) for n, d in read_deployments().items()}
    assert after == before
    for name, dep in after.items():
        # portable: nothing of the deploying machine's file system, no secret value
        assert dep["pull_steps"] == [] and not (dep["path"] or "").startswith("/"), name
        env = dep["job_variables"]["env"]
        assert DEPLOYER_SECRET not in json.dumps(dep, default=str)
        for setting, block in secret_settings().items():
            assert env[setting] == f"prefect-secret:{block}"
        assert env["LEARNSYNC_LMS360__BASE_URL"] == deployed["env"]["LEARNSYNC_LMS360__BASE_URL"]
        assert not any("{{" in str(v) for v in env.values()), env  # unset settings are empty (the default)


def test_alerts_exist_for_failed_crashed_and_completed_with_errors_runs(prefect_api, deployed):
    async def go(client: Any) -> list[Any]:
        return await client.read_automations()

    automations = {a.name: a for a in api(go)}
    expected = {
        "learnsync: run failed": "prefect.flow-run.Failed",
        "learnsync: run crashed": "prefect.flow-run.Crashed",
        "learnsync: run completed with errors": "prefect.flow-run.Completed with errors",
    }
    assert set(expected) <= set(automations)
    for name, event in expected.items():
        a = automations[name]
        assert a.enabled and a.trigger.expect == {event}
        assert dict(a.trigger.match_related.root) == {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.learnsync"}
        assert a.actions[0].type == "send-notification"


@pytest.fixture(scope="module")
def worker(prefect_server, deployed, sandboxes) -> Iterator[Any]:
    """`prefect worker start --pool learnsync-process`, run from a directory outside the repository."""
    proc = prefect_server.start(
        sys.executable, "-m", "prefect", "worker", "start", "--pool", "learnsync-process", "--limit", "2",
        env={
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            # fast polls and retries against the sandboxes (the tests' settings, as in learnsync_env)
            "LEARNSYNC_LMS360__POLL_INTERVAL_SECONDS": "0.05",
            "LEARNSYNC_LMS360__POLL_MAX_INTERVAL_SECONDS": "0.2",
            "LEARNSYNC_UDEMY__RETRY": '{"attempts": 3, "base_wait": 0.05, "max_wait": 0.2, "jitter": 0.1, "retry_after_cap": 1.0}',
        },
        cwd=deployed["work"],
        log=deployed["work"] / "worker.log",
    )
    yield proc
    stop(proc)


def start_run(full_name: str, parameters: dict[str, Any] | None = None) -> Any:
    """What the UI's Run button does."""
    from prefect.deployments import run_deployment

    return run_deployment(full_name, parameters=parameters or {}, timeout=0)


def run_to_end(full_name: str, parameters: dict[str, Any] | None = None, timeout: float = 240) -> Any:
    """Start a deployment's run and wait for its final state."""
    return wait_for_end(start_run(full_name, parameters).id, timeout)


def retry_from_the_ui(flow_run_id: Any) -> None:
    """What the UI's Retry button does: the ended run goes back to Scheduled (AwaitingRetry)."""
    from prefect.client.schemas.objects import State, StateType

    async def go(client: Any) -> None:
        await client.set_flow_run_state(flow_run_id, State(type=StateType.SCHEDULED, name="AwaitingRetry", message="Retry from the UI"), force=True)

    api(go)


def wait_for_end(flow_run_id: Any, timeout: float = 240, run_count: int = 1) -> Any:
    async def read(client: Any) -> Any:
        return await client.read_flow_run(flow_run_id)

    current = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = api(read)
        if current.state and current.state.is_final() and current.run_count >= run_count:
            return current
        time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} did not end in {timeout} s: {current and current.state}")


def artifacts_of_key(flow_run_id: Any, key: str) -> list[Any]:
    """Every version of one artifact key written by this flow run (all its attempts)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    async def go(client: Any) -> list[Any]:
        return await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), key=ArtifactFilterKey(any_=[key]),
        ))  # fmt: skip

    return api(go)


def artifacts_of(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def go(client: Any) -> dict[str, Any]:
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
        return {a.key: a for a in arts}

    return api(go)


def test_a_worker_runs_deployments_to_the_end_and_their_reports_read_back(prefect_api, deployed, worker, sandboxes):
    import httpx

    lms = sandboxes.app("lms360").state.store
    started = time.monotonic()
    first = run_to_end("content-sync/udemy-content-default")
    seconds = time.monotonic() - started
    assert first.state.type.value == "COMPLETED", (first.state, (deployed["work"] / "worker.log").read_text()[-3000:])
    assert first.name == "content-udemy-default"
    synced = {c["externalId"] for c in lms.courses()}
    arts = artifacts_of(first.id)
    assert {"udemy-content-default-summary", "udemy-content-default-counts"} <= set(arts)
    counts = {row["outcome"]: row["count"] for row in json.loads(arts["udemy-content-default-counts"].data)}
    assert counts["created"] == len(synced) > 0
    summary = arts["udemy-content-default-summary"].data
    assert "**Status:** Completed" in summary and "attempt 1" in summary

    # 360Learning ends the statistics' bulk job in error: the run goes through, "Completed with errors".
    fault = {"reject": [], "message": "", "job_error": "internalError: stats job failed", "clear": False}
    httpx.post(f"{sandboxes.url('lms360')}/_sandbox/bulk-faults", json=fault, timeout=10).raise_for_status()
    stats = run_to_end("stats-sync/udemy-stats-default")
    assert stats.name == "stats-udemy-default"
    assert (stats.state.type.value, stats.state.name) == ("COMPLETED", "Completed with errors"), stats.state
    stats_summary = artifacts_of(stats.id)["udemy-stats-default-summary"].data
    assert "**Status:** Completed with errors" in stats_summary and "stats job failed" in stats_summary

    # Retried from the UI while 360Learning still fails the job: the second attempt says so too,
    # and each attempt's summary is told apart.
    httpx.post(f"{sandboxes.url('lms360')}/_sandbox/bulk-faults", json=fault, timeout=10).raise_for_status()
    retry_from_the_ui(stats.id)
    retried = wait_for_end(stats.id, run_count=2)
    assert (retried.state.name, retried.run_count) == ("Completed with errors", 2), retried.state

    async def summaries(client: Any) -> list[Any]:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        return await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[stats.id]), key=ArtifactFilterKey(any_=["udemy-stats-default-summary"]),
        ))  # fmt: skip

    described = sorted(a.description for a in api(summaries))
    assert described == [
        "Completed with errors: stats-udemy-default, attempt 1", "Completed with errors: stats-udemy-default, attempt 2",
    ], described

    # A backfill and the daily statistics of the same provider and platform never overlap.
    from learnsync.flows.runtime import state_store

    sandboxes.app("udemy").state.config.latency_seconds = 0.05  # runs long enough to collide
    try:
        backfill = start_run("stats-backfill/backfill-default", {"provider": "udemy", "since": "2026-10-01", "until": "2026-12-01", "window_days": 7})
        daily = start_run("stats-sync/udemy-stats-default")
        backfill, daily = wait_for_end(backfill.id), wait_for_end(daily.id)
    finally:
        sandboxes.app("udemy").state.config.latency_seconds = 0.0
    assert backfill.state.is_completed() and daily.state.is_completed(), (backfill.state, daily.state)
    runs = {r["flow_run_id"]: r for r in state_store(deployed["env"]["LEARNSYNC_DATABASE_URL"]).list_runs(limit=50)}
    spans = sorted((runs[str(r.id)]["started_at"], runs[str(r.id)]["ended_at"]) for r in (backfill, daily))
    assert spans[0][1] <= spans[1][0], spans  # the second started after the first ended
    assert runs[str(backfill.id)]["kind"] == "backfill" and len(runs[str(backfill.id)]["params"]["windows"]) == 9

    # A backfill the provider stops answering halfway fails; Retry from the UI goes through again,
    # duplicates nothing in 360Learning and leaves the daily watermark where it was.
    state = state_store(deployed["env"]["LEARNSYNC_DATABASE_URL"])
    integration = state.get_integration("udemy", "default")["id"]
    watermark, attempts = state.get_watermark(integration, "stats"), len(lms.attempts())
    faults = sandboxes.app("udemy").state.faults
    faults.add("status", status=500, path="/analytics/user-course-activity/", method="GET", skip=3, times=None)
    try:
        broken = run_to_end("stats-backfill/backfill-default", {"provider": "udemy", "since": "2026-10-01", "until": "2026-12-10", "window_days": 14})
    finally:
        faults.clear()
    assert broken.state.type.value == "FAILED" and broken.name == "backfill-udemy-default-2026-10-01-2026-12-10"
    retry_from_the_ui(broken.id)
    resumed = wait_for_end(broken.id, run_count=2)
    assert resumed.state.is_completed() and resumed.run_count == 2, resumed.state
    assert len(lms.attempts()) == attempts and state.get_watermark(integration, "stats") == watermark
    described = {a.description for a in artifacts_of_key(broken.id, "udemy-backfill-default-summary")}
    assert described == {f"Failed: {broken.name}, attempt 1", f"Completed: {broken.name}, attempt 2"}, described

    # A backfill started with the UI's parameters; until before since fails, and says why.
    bad = run_to_end("stats-backfill/backfill-default", {"provider": "udemy", "since": "2026-03-01", "until": "2026-02-01"})
    assert bad.state.type.value == "FAILED"
    assert bad.name == "backfill-udemy-default-2026-03-01-2026-02-01"
    assert "until" in (bad.state.message or "")
    print(f"worker run: {first.name} {first.state.name} in {seconds:.1f} s, artifacts {sorted(arts)}, counts {counts}")

    # The alerts for the failed run and the run with errors reach the notification block.
    def alerted(run: Any, state: str) -> bool:
        return any(run.name in m.get("subject", "") and state in m.get("subject", "") for m in deployed["inbox"].messages)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (alerted(bad, "Failed") and alerted(stats, "Completed with errors")):
        time.sleep(1)
    assert alerted(bad, "Failed") and alerted(stats, "Completed with errors"), deployed["inbox"].messages
    assert not alerted(first, "Completed with errors") and not alerted(first, "Failed")
