"""Flow run names: the same for every run of a deployment, those Prefect never started included.

A run Prefect cancels before it starts (a deployment's CANCEL_NEW: another run was going) never
runs its flow, so it keeps the random name the server gave it (`marble-pudu`). The run that was
going names them as its flow names its own runs, from their parameters, when it ends.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("learnsync.flows")

MAX_RENAMED = 50  # per run: the newest first


def run_parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters a name is made from: given, else the running flow run's."""
    if parameters is not None:
        return parameters
    from prefect.runtime import flow_run

    return dict(flow_run.parameters)


def run_name_of(flow: Any, parameters: dict[str, Any]) -> str:
    """The name `flow` gives a run with these parameters (its defaults filled in)."""
    signature = inspect.signature(flow.fn)
    values = {k: p.default for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}
    values.update(parameters)
    namer: str | Callable[..., str] = flow.flow_run_name
    return namer(values) if callable(namer) else namer.format(**values)


async def name_runs_never_started() -> int:
    """Name the runs of this run's deployment that Prefect cancelled before they started; how many."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None or context.flow is None:
        return 0
    renamed = 0
    try:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[context.flow_run.deployment_id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CANCELLED])),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=MAX_RENAMED,
            )
            for run in runs:
                if run.run_count:  # it ran, and was named then
                    continue
                name = run_name_of(context.flow, dict(run.parameters or {}))
                if run.name != name:
                    await client.set_flow_run_name(run.id, name)
                    renamed += 1
    except Exception as error:  # naming never fails a run
        log.warning("Runs cancelled before they started were not named: %s", error)
    if renamed:
        log.info("%d run(s) of this deployment cancelled before they started (another run was going) named %s", renamed, context.flow_run.name)
    return renamed
