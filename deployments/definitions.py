"""The one definition of learnsync's deployments.

`deployments/prefect.yaml` is rendered from it (`python -m learnsync.deployments.render`; a test keeps the
committed file equal to the render), `learnsync deploy` registers exactly that file with
`prefect deploy`, and `learnsync serve` builds the same deployments without a work pool.

Schedules are the help pages' "Central European Time", i.e. Europe/Paris (DST-aware; docs: UDEMY-24):
Udemy 07:30/07:45, Edflex 08:00/08:20, Coursera 08:45/09:00, OpenClassrooms 09:30/09:45.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learnsync.providers.registry import available_providers, get_provider, provider_keys
from learnsync.providers.settings import env_prefix

WORK_POOL = "learnsync-process"
ONE_AT_A_TIME = {"limit": 1, "collision_strategy": "CANCEL_NEW"}
SECRET_PREFIX = "prefect-secret:"  # learnsync.core.secret_blocks resolves these at run time

# Settings a worker needs, taken from the environment of whoever runs `prefect deploy` (a
# variable unset there becomes empty, which learnsync reads as "the default"). Secrets are
# never among them: see `secret_settings`.
ENGINE_SETTINGS_FROM_DEPLOYER = (
    "LEARNSYNC_DATABASE_URL",
    "LEARNSYNC_PLATFORMS",
    "LEARNSYNC_TASK_RUNNER",
    "LEARNSYNC_LMS360__BASE_URL",
    "LEARNSYNC_LMS360__CLIENT_ID",
    "LEARNSYNC_LMS360__GROUP_ID",
    "LEARNSYNC_LMS360__AUTHOR_ID",
    "LEARNSYNC_LMS360__OWNER_LANG",
)
PROVIDER_SETTINGS_FROM_DEPLOYER = ("BASE_URL", "CLIENT_ID", "ORG_ID")


def settings_from_deployer() -> tuple[str, ...]:
    """The engine's settings, then each registered provider's endpoint and ids."""
    return ENGINE_SETTINGS_FROM_DEPLOYER + tuple(
        env_prefix(key) + name for key in provider_keys() for name in PROVIDER_SETTINGS_FROM_DEPLOYER
    )


def secret_settings() -> dict[str, str]:
    """Secret settings -> the Prefect Secret block holding each: 360Learning's client secret, then
    each registered provider's `secret_fields` (`learnsync-coursera-refresh-token`...). They are
    references resolved by the flow run itself: the deployment (and the UI) only holds the name."""
    out = {"LEARNSYNC_LMS360__CLIENT_SECRET": "learnsync-lms360-client-secret"}
    for key in provider_keys():
        for name in get_provider(key).settings_model.secret_fields:
            out[env_prefix(key) + name.upper()] = f"learnsync-{key}-{name.replace('_', '-')}"
    return out

ENTRYPOINTS = {
    "content": "learnsync.flows.content_sync.content_sync",
    "stats": "learnsync.flows.stats_sync.stats_sync",
    "backfill": "learnsync.flows.stats_sync.stats_backfill",
    "fleet": "learnsync.flows.fleet_sync.fleet_sync",
    "reconcile": "learnsync.flows.reconcile.reconcile",
}


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str


@dataclass(frozen=True)
class DeploymentDefinition:
    """One deployment, as both `prefect deploy` and `prefect.serve` get it."""

    name: str  # e.g. "udemy-content-default"
    kind: str  # content | stats | reconcile | backfill | fleet
    parameters: dict[str, Any]
    description: str
    tags: tuple[str, ...]
    schedules: tuple[Schedule, ...] = ()
    concurrency_limit: dict[str, Any] = field(default_factory=lambda: dict(ONE_AT_A_TIME))
    provider: str | None = None
    platform: str = "default"

    @property
    def entrypoint(self) -> str:
        return ENTRYPOINTS[self.kind]

    @property
    def flow_name(self) -> str:
        return {"content": "content-sync", "stats": "stats-sync", "backfill": "stats-backfill", "fleet": "fleet-sync", "reconcile": "reconcile"}[self.kind]

    @property
    def full_name(self) -> str:
        """`flow/deployment`, as `prefect deployment run` takes it."""
        return f"{self.flow_name}/{self.name}"


def job_variables() -> dict[str, Any]:
    env = {name: "{{ $" + name + " }}" for name in settings_from_deployer()}
    env.update({name: SECRET_PREFIX + block for name, block in secret_settings().items()})
    return {"env": env}


def definitions(platform: str = "default", providers: list[str] | None = None) -> list[DeploymentDefinition]:
    """Content and stats per provider (daily), drift repair (weekly), a backfill and the fleet (on demand)."""
    keys = providers or available_providers()
    out: list[DeploymentDefinition] = []
    for key in keys:
        spec = get_provider(key)
        for kind, cron, what in (("content", spec.content_cron, "catalog"), ("stats", spec.stats_cron, "learner statistics")):
            out.append(
                DeploymentDefinition(
                    name=f"{key}-{kind}-{platform}",
                    kind=kind,
                    parameters={"provider": key, "platform": platform},
                    description=f"Daily {spec.display_name} {what} sync into 360Learning platform {platform!r}.",
                    tags=("learnsync", key, kind, platform),
                    schedules=(Schedule(cron, spec.timezone),),
                    provider=key,
                    platform=platform,
                )
            )
        if spec.reconcile_cron:  # weekly drift repair (learnsync reconcile), before any daily sync
            out.append(
                DeploymentDefinition(
                    name=f"{key}-reconcile-{platform}",
                    kind="reconcile",
                    parameters={"provider": key, "platform": platform},
                    description=(
                        f"Weekly drift repair of {spec.display_name} on 360Learning platform {platform!r}: what an admin "
                        "archived, deleted or edited in 360Learning is reported and repaired."
                    ),
                    tags=("learnsync", key, "reconcile", platform),
                    schedules=(Schedule(spec.reconcile_cron, spec.timezone),),
                    provider=key,
                    platform=platform,
                )
            )
    out.append(
        DeploymentDefinition(
            name=f"backfill-{platform}",
            kind="backfill",
            parameters={"platform": platform, "window_days": 7},
            description=(
                f"Historical learner statistics of one provider into 360Learning platform {platform!r}: pick "
                "provider, since and until (until excluded). Runs in windows of window_days; the daily "
                "watermark stays where it is, and a daily stats run of the same provider waits for it."
            ),
            tags=("learnsync", "backfill", platform),
            concurrency_limit={"limit": 1, "collision_strategy": "ENQUEUE"},
            platform=platform,
        )
    )
    out.append(
        DeploymentDefinition(
            name="fleet-sync" if platform == "default" else f"fleet-sync-{platform}",
            kind="fleet",
            parameters={"kinds": ["content", "stats"]},
            description=(
                "Every provider on every platform in one run, on demand (no schedule): catching a fleet up "
                "after an outage. LEARNSYNC_TASK_RUNNER=dask runs the pairs on a Dask LocalCluster."
            ),
            tags=("learnsync", "fleet"),
            platform=platform,
        )
    )
    return out


def to_prefect_yaml(defs: list[DeploymentDefinition], work_pool: str = WORK_POOL) -> dict[str, Any]:
    """The `prefect deploy --all` document for these definitions."""
    deployments = []
    pool = {"name": work_pool, "work_queue_name": "default", "job_variables": job_variables()}  # one YAML anchor
    for d in defs:
        entry: dict[str, Any] = {
            "name": d.name,
            "entrypoint": d.entrypoint,
            "description": d.description,
            "tags": list(d.tags),
            "parameters": dict(d.parameters),
        }
        if d.schedules:
            entry["schedules"] = [{"cron": s.cron, "timezone": s.timezone} for s in d.schedules]
        entry["concurrency_limit"] = dict(d.concurrency_limit)
        entry["work_pool"] = pool
        deployments.append(entry)
    # `pull: []`: the flows are imported from the installed learnsync package, so a worker
    # needs no copy of any directory of the machine that deployed.
    return {"name": "learnsync", "prefect-version": _prefect_version(), "pull": [], "deployments": deployments}


def _prefect_version() -> str:
    import prefect

    return ".".join(prefect.__version__.split(".")[:2]) + ".0"


HEADER = """\
# learnsync deployments on a Prefect work pool. Rendered from deployments/definitions.py
# (`python -m learnsync.deployments.render > deployments/prefect.yaml`); do not edit by hand.
#
#   prefect work-pool create learnsync-process --type process
#   prefect deploy --all --prefect-file deployments/prefect.yaml    (same as `learnsync deploy`)
#   prefect worker start --pool learnsync-process
#
# Workers need learnsync installed (the entrypoints are module paths, nothing is pulled).
# Settings: every `{{ $LEARNSYNC_... }}` job variable takes the value the variable has where
# `prefect deploy` runs (empty when unset: the default). Secrets: `prefect-secret:NAME` makes
# the flow run read the Prefect Secret block NAME; create those blocks first (README, Runbook).
# Cached catalog pages: start workers with PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK (e.g. an
# s3-bucket block) or a shared PREFECT_RESULTS_LOCAL_STORAGE_PATH, so a retried run picked up
# by another worker reuses the pages its first attempt fetched.
"""


def render_prefect_yaml(platform: str = "default", providers: list[str] | None = None, work_pool: str = WORK_POOL) -> str:
    import yaml

    doc = to_prefect_yaml(definitions(platform, providers), work_pool)
    text = yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + text.replace("&id001", "&work_pool").replace("*id001", "*work_pool")
