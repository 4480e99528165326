"""`learnsync serve` builds the same deployments as prefect.yaml, only without a work pool."""

from __future__ import annotations

import asyncio

import pytest

from learnsync.deployments.definitions import definitions
from learnsync.deployments.schedules import runner_deployments

pytestmark = pytest.mark.server


def test_served_deployments_are_the_definitions_without_a_work_pool(prefect_api):
    from prefect.client.orchestration import get_client

    platform = "served"  # its own names: the work-pool deployments of the other tests stay as they are

    served = runner_deployments(platform)  # built outside the event loop, as `learnsync serve` does

    async def apply_and_read() -> dict:
        ids = [await d.apply() for d in served]
        async with get_client() as client:
            return {dep.name: dep for dep in [await client.read_deployment(i) for i in ids]}

    deps = asyncio.run(apply_and_read())
    for d in definitions(platform):
        dep = deps[d.name]
        assert dep.entrypoint == d.entrypoint and dep.work_pool_name is None
        assert (dep.description, sorted(dep.tags), dep.parameters) == (d.description, sorted(d.tags), d.parameters)
        assert sorted((s.schedule.cron, s.schedule.timezone) for s in dep.schedules) == [(s.cron, s.timezone) for s in d.schedules]
        assert (dep.concurrency_limit or dep.global_concurrency_limit.limit) == d.concurrency_limit["limit"]
        assert dep.concurrency_options.collision_strategy.value == d.concurrency_limit["collision_strategy"]
