"""Many (provider, platform) pairs at once, on the task runner the settings choose.

`LEARNSYNC_TASK_RUNNER` picks where the pairs run:
- `threads` (default): a thread pool in this process;
- `dask`: a Dask LocalCluster started for the run (one worker process per pair, up to the CPUs),
  through Prefect's DaskTaskRunner (`pip install learnsync[dask]`);
- `dask+tcp://scheduler:8786`: an existing Dask cluster (its workers need learnsync installed
  and the same LEARNSYNC_* environment).

Each pair is one task running that pair's content then statistics flows as subflows, so the
UI shows one flow run per provider and platform, with its own report, under the fleet run.
Pairs never share a run: one provider's failure is reported, the others go on. 360Learning's
limits (3 bulk jobs, 10 writes/s) hold per platform, so parallelism pays across platforms and
across providers' paging, not within one platform's bulk work.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine
from typing import Any

from prefect import Flow, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from learnsync.core.settings import EngineSettings as Settings
from learnsync.flows.run_names import name_runs_never_started, run_parameters
from learnsync.flows.runtime import state_store
from learnsync.providers.registry import available_providers
from learnsync.providers.settings import load_settings
from learnsync.tasks.report import STATUS_LABELS, md_cell

KINDS = ("content", "stats")


def default_pairs(settings: Settings) -> list[tuple[str, str]]:
    """Every provider on every configured platform."""
    platforms = ["default", *sorted(settings.platforms)]
    return [(p, platform) for platform in platforms for p in available_providers()]


def make_task_runner(settings: Settings, parallelism: int) -> Any:
    """The task runner named by `settings.task_runner` ("threads", "dask" or "dask+<address>")."""
    name = (settings.task_runner or "threads").strip()
    workers = max(1, min(parallelism, os.cpu_count() or 1))
    if name == "threads":
        return ThreadPoolTaskRunner(max_workers=max(1, parallelism))
    if name == "dask" or name.startswith("dask+"):
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("task_runner=dask needs prefect-dask: pip install 'learnsync[dask]'") from exc
        address = name.partition("+")[2]
        if address:
            return DaskTaskRunner(address=address)
        # A pair mostly waits on the provider and on 360Learning: every pair runs at once, the
        # pairs shared between one worker process per core.
        threads = max(1, -(-parallelism // workers))
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={"n_workers": workers, "threads_per_worker": threads, "processes": True, "dashboard_address": None},
        )
    raise ValueError(f"unknown task_runner {name!r}: use threads, dask or dask+<scheduler address>")


@task(name="sync-pair", task_run_name="pair-{provider}-{platform}", cache_policy=NO_CACHE)
async def sync_pair(provider: str, platform: str, kinds: list[str], dry_run: bool = False) -> dict[str, Any]:
    """One provider into one platform: its content sync, then its statistics sync (subflows)."""
    from learnsync.flows.content_sync import content_sync
    from learnsync.flows.stats_sync import stats_sync

    flows: dict[str, Flow[..., Coroutine[Any, Any, Any]]] = {"content": content_sync, "stats": stats_sync}
    out: dict[str, Any] = {"provider": provider, "platform": platform, "worker_pid": os.getpid()}
    for kind in kinds:
        state = await flows[kind](provider=provider, platform=platform, dry_run=dry_run)
        out[kind] = state.result() if hasattr(state, "result") else state
    return out


def _pairs_run_name(parameters: dict[str, Any] | None = None) -> str:
    return f"fleet-pairs-{len(run_parameters(parameters).get('pairs') or [])}"


@flow(name="fleet-pairs", flow_run_name=_pairs_run_name, log_prints=True)
def fleet_pairs(pairs: list[list[str]], kinds: list[str], dry_run: bool = False) -> dict[str, Any]:
    """Submit every pair to this flow's task runner; a failed pair does not stop the others."""
    wanted = [tuple(p) for p in pairs]
    futures = [sync_pair.submit(provider, platform, list(kinds), dry_run) for provider, platform in wanted]
    results: dict[str, Any] = {}
    for (provider, platform), future in zip(wanted, futures):
        future.wait()
        key = f"{provider}@{platform}"
        if future.state.is_completed():
            results[key] = future.result()
        else:
            results[key] = {"provider": provider, "platform": platform, "error": str(future.state.message)}
    failed = [k for k, v in results.items() if "error" in v]
    print(f"Fleet: {len(results) - len(failed)} of {len(results)} pairs synced" + (f"; failed: {', '.join(failed)}." if failed else "."))
    return results


def fleet_status(results: dict[str, Any]) -> tuple[str, list[list[str]]]:
    """The fleet's status (the worst of its runs: a failed pair or a run with errors makes it
    completed_with_errors) and one row per pair and kind: pair, kind, status, counts or error."""
    rows, worst = [], "completed"
    for key, pair in sorted(results.items()):
        if "error" in pair:
            rows.append([key, "-", "Failed", pair["error"] or "failed"])
            worst = "completed_with_errors"
            continue
        for kind in KINDS:
            report = pair.get(kind)
            if not isinstance(report, dict):
                continue
            status = report.get("status", "completed")
            if status != "completed":
                worst = "completed_with_errors"
            counts = ", ".join(f"{n} {o}" for o, n in (report.get("counts") or {}).items() if n) or "nothing to do"
            rows.append([key, kind, STATUS_LABELS.get(status, status), counts])
    return worst, rows


def publish_fleet_summary(results: dict[str, Any]) -> Any:
    """One summary artifact across the pairs, and the fleet run's own final state."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.states import Completed
    from prefect.utilities.asyncutils import run_coro_as_sync

    status, rows = fleet_status(results)
    lines = [f"# learnsync fleet: {len(results)} pairs", "", f"**Status:** {STATUS_LABELS[status]}", ""]
    lines += ["| pair | kind | status | counts |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    try:
        create_markdown_artifact(markdown="\n".join(lines), key="fleet-sync-summary", description=f"{STATUS_LABELS[status]}: every pair")
    except Exception as exc:  # no Prefect API
        print(f"The fleet summary artifact was not published: {exc}")
    run_coro_as_sync(name_runs_never_started())
    troubled = [r[0] + (f" {r[1]}" if r[1] != "-" else "") for r in rows if r[2] != "Completed"]
    if status == "completed":
        return Completed(message=f"{len(results)} pairs synced", data=results)
    return Completed(name="Completed with errors", message="with errors or failed: " + ", ".join(troubled), data=results)


def _fleet_run_name(parameters: dict[str, Any] | None = None) -> str:
    kinds = run_parameters(parameters).get("kinds") or list(KINDS)
    return "fleet-sync-" + "-".join(kinds)


@flow(name="fleet-sync", flow_run_name=_fleet_run_name, log_prints=True)
def fleet_sync(pairs: list[list[str]] | None = None, kinds: list[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Every (provider, platform) pair (default: all providers on all platforms) in parallel.

    The pairs run in a subflow whose task runner `LEARNSYNC_TASK_RUNNER` chooses, so a
    deployment of this flow honours the setting too.
    """
    settings = load_settings()
    wanted = [tuple(p) for p in pairs] if pairs else default_pairs(settings)
    state_store(settings.database_url)  # migrate once, before workers open the store
    runner = make_task_runner(settings, len(wanted))
    inner = fleet_pairs.with_options(task_runner=runner)
    results = inner(pairs=[list(p) for p in wanted], kinds=list(kinds or KINDS), dry_run=dry_run)
    return publish_fleet_summary(results)


def run_fleet(
    pairs: list[tuple[str, str]] | None = None, kinds: list[str] | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Run `fleet_sync` (blocking) and return its per-pair reports."""
    return fleet_sync(pairs=[list(p) for p in pairs] if pairs else None, kinds=kinds, dry_run=dry_run)
