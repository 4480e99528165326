"""deployments/prefect.yaml (what `prefect deploy --all` reads) is the render of the one
definition in deployments/definitions.py, agrees with the documented schedules, is portable
(no path of the deploying machine, no secret value) and every entrypoint is a Prefect flow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.utilities.importtools import import_object

from learnsync.deployments.definitions import render_prefect_yaml, secret_settings
from learnsync.deployments.schedules import planned_deployments

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
ENTRYPOINTS = {"content": "learnsync.flows.content_sync.content_sync", "stats": "learnsync.flows.stats_sync.stats_sync", "reconcile": "learnsync.flows.reconcile.reconcile"}


def document() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text())


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in document()["deployments"]}


def test_prefect_yaml_is_the_render_of_the_deployment_definitions():
    assert PREFECT_YAML.read_text() == render_prefect_yaml(), "run: python -m learnsync.deployments.render > deployments/prefect.yaml"


@pytest.mark.rule("UDEMY-24", "COURSERA-01", "EDFLEX-01", "OC-01")
def test_prefect_yaml_has_every_provider_deployment_with_the_rule_book_schedule():
    declared = deployments()
    for planned in planned_deployments("default"):
        d = declared[planned.name]
        assert d["entrypoint"] == ENTRYPOINTS[planned.flow]
        assert d["parameters"] == {"provider": planned.provider, "platform": planned.platform}
        assert d["schedules"] == [{"cron": planned.cron, "timezone": "Europe/Paris"}]
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        assert set(d["tags"]) == {"learnsync", planned.provider, planned.flow, "default"}


def test_prefect_yaml_on_demand_deployments_and_every_entrypoint_is_a_flow():
    declared = deployments()
    fleet, backfill = declared["fleet-sync"], declared["backfill-default"]
    assert "schedules" not in fleet and fleet["parameters"] == {"kinds": ["content", "stats"]}
    assert "schedules" not in backfill and backfill["entrypoint"] == "learnsync.flows.stats_sync.stats_backfill"
    assert set(declared) == {d.name for d in planned_deployments("default")} | {"fleet-sync", "backfill-default"}
    for d in declared.values():
        assert isinstance(import_object(d["entrypoint"]), Flow), d["entrypoint"]
        assert d["work_pool"]["name"] == "learnsync-process"


def test_backfill_deployment_asks_for_provider_since_until_and_window_days():
    from prefect.utilities.callables import parameter_schema

    backfill = deployments()["backfill-default"]
    schema = parameter_schema(import_object(backfill["entrypoint"]))
    assert {"provider", "since", "until", "window_days"} <= set(schema.properties)
    assert {"provider", "since"} <= set(schema.required)  # the analyst picks them in the UI
    assert backfill["parameters"] == {"platform": "default", "window_days": 7}


def test_prefect_yaml_is_portable_and_holds_no_secret():
    doc = document()
    assert doc["pull"] == []  # nothing to copy from the deploying machine: flows are imported from learnsync
    text = PREFECT_YAML.read_text()
    assert str(ROOT) not in text and "/home/" not in text and "/work/" not in text
    for d in doc["deployments"]:
        env = d["work_pool"]["job_variables"]["env"]
        for setting, block in secret_settings().items():
            assert env[setting] == f"prefect-secret:{block}"
        assert "sandbox-secret" not in str(env)
        others = {k: v for k, v in env.items() if k not in secret_settings()}
        assert all(v == "{{ $" + k + " }}" for k, v in others.items()), others
