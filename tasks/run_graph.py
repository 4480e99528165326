"""Stages shown in the Prefect run graph when there is a flow run, plain calls otherwise."""

from __future__ import annotations

from typing import Any

from prefect.utilities.annotations import quote


async def in_run_graph(stage: Any, *args: Any) -> Any:
    """Run the Prefect task `stage` as a task run of the current flow run (named in the UI);
    outside a flow run (a library call, a unit test) call its function directly.

    Every argument is quoted: Prefect would otherwise walk (and rebuild) each list, dict and
    dataclass it is given, looking for futures; a chunk of pages holds thousands of records."""
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return await stage.fn(*args)
    return await stage(*(quote(a) for a in args))


def stage_param(name: str) -> Any:
    """A parameter of the running task, unquoted (for task run names)."""
    from prefect.runtime import task_run

    value = task_run.parameters.get(name)
    return value.unquote() if isinstance(value, quote) else value
