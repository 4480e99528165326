"""Stages shown in the Prefect run graph when there is a flow run, plain calls otherwise."""

from __future__ import annotations

import logging
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


async def name_running_task(name: str) -> None:
    """Rename the running task run with what it learned while running (a bulk job's 360Learning
    operation id): in the API at once when its record is there, and in every state it reports
    after (the server records a task run from its state events, name included)."""
    from prefect.client.orchestration import get_client
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    if context is None:
        return
    context.task_run.name = name
    try:
        async with get_client() as client:
            await client.set_task_run_name(context.task_run.id, name)
    except Exception as error:  # not recorded yet: the next state event carries the name
        logging.getLogger("learnsync.tasks").debug("task run %s renamed on its next state (%s)", name, error)
