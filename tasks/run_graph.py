"""Stages shown in the Prefect run graph when there is a flow run, plain calls otherwise."""

from __future__ import annotations

from typing import Any


async def in_run_graph(stage: Any, *args: Any) -> Any:
    """Run the Prefect task `stage` as a task run of the current flow run (named in the UI);
    outside a flow run (a library call, a unit test) call its function directly."""
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return await stage.fn(*args)
    return await stage(*args)
