"""Every provider's content and stats deployments, with the documented schedules.

Times are the help pages' "Central European Time", i.e. Europe/Paris (DST-aware; docs: UDEMY-24, COURSERA-01, EDFLEX-01, OC-01):
Udemy 07:30/07:45, Edflex 08:00/08:20, Coursera 08:45/09:00, OpenClassrooms 09:30/09:45
(chosen so no two providers overlap). One run at a time per provider and platform: a new
run is cancelled while one runs (deployment concurrency limit, CANCEL_NEW). Drift repair
(`reconcile`) runs weekly, on Sunday mornings, one provider after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from providers.registry import available_providers, get_provider

ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
# Weekly drift repair, before any daily sync of the day.
RECONCILE_CRONS = {"udemy": "0 5 * * 0", "edflex": "15 5 * * 0", "coursera": "30 5 * * 0", "openclassrooms": "45 5 * * 0"}


@dataclass(frozen=True)
class PlannedDeployment:
    name: str  # e.g. "udemy-content-default"
    flow: str  # "content" | "stats" | "reconcile"
    provider: str
    platform: str
    cron: str
    timezone: str


def planned_deployments(platform: str = "default", providers: list[str] | None = None) -> list[PlannedDeployment]:
    out = []
    for key in providers or available_providers():
        spec = get_provider(key)
        out.append(PlannedDeployment(f"{key}-content-{platform}", "content", key, platform, spec.content_cron, spec.timezone))
        out.append(PlannedDeployment(f"{key}-stats-{platform}", "stats", key, platform, spec.stats_cron, spec.timezone))
        if key in RECONCILE_CRONS:
            out.append(PlannedDeployment(f"{key}-reconcile-{platform}", "reconcile", key, platform, RECONCILE_CRONS[key], spec.timezone))
    return out


def runner_deployments(platform: str = "default", providers: list[str] | None = None, paused: bool = False) -> list[Any]:
    """RunnerDeployments for `prefect.serve(...)` (no work pool needed) or `prefect.deploy(...)`."""
    from flows.content_sync import content_sync
    from flows.reconcile import reconcile
    from flows.stats_sync import stats_sync

    flows = {"content": content_sync, "stats": stats_sync, "reconcile": reconcile}
    return [
        flows[d.flow].to_deployment(
            name=d.name,
            schedules=[Cron(d.cron, timezone=d.timezone)],
            parameters={"provider": d.provider, "platform": d.platform},
            concurrency_limit=ONE_AT_A_TIME,
            tags=["learnsync", d.provider, d.flow, d.platform],
            description=f"{d.provider} {d.flow} sync into 360Learning platform {d.platform!r}",
            paused=paused,
        )
        for d in planned_deployments(platform, providers)
    ]
