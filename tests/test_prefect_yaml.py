"""deployments/prefect.yaml (what `prefect deploy --all` reads) agrees with the documented
schedules in deployments/schedules.py, and every entrypoint is a Prefect flow."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from prefect import Flow

from deployments.schedules import planned_deployments

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINTS = {
    "content": "flows/content_sync.py:content_sync",
    "stats": "flows/stats_sync.py:stats_sync",
    "reconcile": "flows/reconcile.py:reconcile",
}


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]}


@pytest.mark.rule("UDEMY-24", "COURSERA-01", "EDFLEX-01", "OC-01")
def test_prefect_yaml_has_every_provider_deployment_with_the_rule_book_schedule():
    declared = deployments()
    for planned in planned_deployments("default"):
        d = declared[planned.name]
        assert d["entrypoint"] == ENTRYPOINTS[planned.flow]
        assert d["parameters"] == {"provider": planned.provider, "platform": planned.platform}
        assert d["schedules"] == [{"cron": planned.cron, "timezone": "Europe/Paris"}]
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}


def test_prefect_yaml_fleet_sync_is_on_demand_and_every_entrypoint_is_a_flow():
    declared = deployments()
    fleet = declared["fleet-sync"]
    assert "schedules" not in fleet and fleet["parameters"] == {"kinds": ["content", "stats"]}
    assert set(declared) == {d.name for d in planned_deployments("default")} | {"fleet-sync"}
    for d in declared.values():
        path, name = d["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow), d["entrypoint"]
        assert d["work_pool"]["name"] == "learnsync-process"
