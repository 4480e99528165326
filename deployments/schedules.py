"""Every provider's scheduled deployments (the documented times, docs: UDEMY-24, COURSERA-01, EDFLEX-01, OC-01), and their `prefect.serve` form.

The deployments themselves are defined once, in deployments/definitions.py. One run at a time
per provider and platform: a new run is cancelled while one runs (CANCEL_NEW).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnsync.deployments.definitions import DeploymentDefinition, definitions


@dataclass(frozen=True)
class PlannedDeployment:
    name: str  # e.g. "udemy-content-default"
    flow: str  # "content" | "stats"
    provider: str
    platform: str
    cron: str
    timezone: str


def planned_deployments(platform: str = "default", providers: list[str] | None = None) -> list[PlannedDeployment]:
    """The scheduled (daily) deployments with their cron in the provider's time zone."""
    return [
        PlannedDeployment(d.name, d.kind, d.provider or "", d.platform, d.schedules[0].cron, d.schedules[0].timezone)
        for d in definitions(platform, providers)
        if d.schedules
    ]


def _flow(d: DeploymentDefinition) -> Any:
    from prefect.utilities.importtools import import_object

    return import_object(d.entrypoint)


def runner_deployments(platform: str = "default", providers: list[str] | None = None, paused: bool = False) -> list[Any]:
    """The same deployments as `prefect.yaml`, without a work pool, for `prefect.serve(...)`."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    return [
        _flow(d).to_deployment(
            name=d.name,
            schedules=[Cron(s.cron, timezone=s.timezone) for s in d.schedules] or None,
            parameters=dict(d.parameters),
            concurrency_limit=ConcurrencyLimitConfig(**d.concurrency_limit),
            tags=list(d.tags),
            description=d.description,
            paused=paused,
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for d in definitions(platform, providers)
    ]
