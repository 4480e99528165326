"""What an engineer watching Prefect relies on: reports, guard, dry run, lifecycle, CLI."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from learnsync.cli import app
from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration, deactivate_integration, share_courses
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import lms, provider_store, run, store, synced_courses, writes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
OC = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 60, "n_activities": 200, "bad_ratio": 0.05}}}


async def _artifacts(key: str) -> list:
    async with get_client() as client:
        # read_artifacts() in 3.8 sends null filters the server rejects: post the filter as the UI does.
        response = await client._client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": [key]}}, "limit": 5, "sort": "CREATED_DESC"})
        return response.json()


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-10")
def test_run_report_artifacts_and_completed_with_errors_state(fleet):
    state = asyncio.run(content_sync(provider="openclassrooms", return_state=True))
    report = state.result()
    # bad_ratio makes some catalog records invalid: quarantined, the rest delivered
    assert report["counts"]["quarantined"] > 0 and report["counts"]["created"] > 0
    assert state.name == "Completed with errors" and state.is_completed()
    summary = asyncio.run(_artifacts("openclassrooms-content-default-summary"))
    counts = asyncio.run(_artifacts("openclassrooms-content-default-counts"))
    errors = asyncio.run(_artifacts("openclassrooms-content-default-errors"))
    assert summary and "Completed_with_errors".lower() in summary[0]["data"].lower().replace(" ", "_")
    assert counts and errors
    # Quarantine is kept in the state store with the field and the reason.
    quarantine = store().open_quarantine()
    assert len(quarantine) == report["counts"]["quarantined"]
    assert quarantine["reason"].str.len().min() > 0


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-17")
def test_guard_stops_a_mass_archive_unless_forced(fleet):
    run(content_sync(provider="openclassrooms"))
    oc = provider_store(fleet, "openclassrooms")
    for course in list(oc.course_list())[10:]:
        oc.remove_course(course["id"])
    before = writes(fleet)
    with pytest.raises(Exception, match="refusing to archive"):
        run(content_sync(provider="openclassrooms"))
    assert writes(fleet) == before
    assert all(c["status"] == "published" for c in synced_courses(fleet).values())
    forced = run(content_sync(provider="openclassrooms", force=True))
    assert forced["counts"]["archived"] > 0
    assert sum(c["status"] == "archived" for c in synced_courses(fleet).values()) == forced["counts"]["archived"]


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-12")
def test_dry_run_reports_the_full_diff_and_writes_nothing(fleet):
    report = run(content_sync(provider="openclassrooms", dry_run=True))
    assert report["dry_run"] and report["counts"]["created"] > 0
    assert synced_courses(fleet) == {} and writes(fleet) == 0
    assert store().list_integrations() == [] and store().list_runs() == []
    real = run(content_sync(provider="openclassrooms"))
    assert real["counts"]["created"] == report["counts"]["created"]


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-23", "V2-24")
def test_integration_lifecycle_configure_share_deactivate(fleet):
    row = run(configure_integration(provider="openclassrooms", options={"tags_sync": True}))
    listed = [i for i in lms(fleet).integrations() if i["externalPlatform"] == "OpenClassrooms (learnsync)"]
    assert len(listed) == 1 and listed[0]["_id"] == row["integration_id"] and row["options"]["tags_sync"] is True
    # Configuring again adopts the stored integration: no duplicate.
    run(configure_integration(provider="openclassrooms"))
    assert len([i for i in lms(fleet).integrations() if i["externalPlatform"] == "OpenClassrooms (learnsync)"]) == 1

    run(content_sync(provider="openclassrooms"))
    run(stats_sync(provider="openclassrooms"))
    other_group = "62be0535045424d93edaad7c"
    shared = run(share_courses(provider="openclassrooms", group_ids=[other_group]))
    courses = synced_courses(fleet)
    assert shared["shared"] == {"catalog": len(courses), "library": len(courses)}
    assert all(other_group in c["catalogGroupIds"] and other_group in c["libraryGroupIds"] for c in courses.values())

    attempts = len(lms(fleet).attempts())
    report = run(deactivate_integration(provider="openclassrooms"))
    assert all(c["status"] == "archived" for c in synced_courses(fleet).values())
    assert report["counts"]["archived"] == len(courses)
    assert len(lms(fleet).attempts()) == attempts  # learning data kept
    assert store().get_integration("openclassrooms")["active"] is False
    with pytest.raises(Exception, match="deactivated"):
        run(content_sync(provider="openclassrooms"))
    # Reactivating brings the catalog back at the next sync.
    run(configure_integration(provider="openclassrooms"))
    assert store().get_integration("openclassrooms")["active"] is True
    back = run(content_sync(provider="openclassrooms"))
    assert back["counts"]["restored"] == len(courses)


@pytest.mark.parametrize("fleet", [OC], indirect=True)
def test_cli_sync_prints_the_summary_and_status(fleet):
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "content", "--provider", "openclassrooms"])
    assert result.exit_code in (0, 3), result.output
    assert "created" in result.output and "quarantined" in result.output
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and "openclassrooms" in status.output


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("RUN-11")
def test_quarantined_record_is_retried_once_fixed_upstream(fleet):
    oc = provider_store(fleet, "openclassrooms")
    target = next(c for c in oc.course_list() if c.get("status") == "active" and c.get("title"))
    oc.set_course(target["id"], title=None)
    first = run(content_sync(provider="openclassrooms"))
    ext = str(target["id"])
    assert ext not in synced_courses(fleet)
    assert any(e["external_id"] == ext and e["outcome"] == "quarantined" for e in first["errors"])
    quarantine = store().open_quarantine()
    row = quarantine[quarantine["external_id"] == ext].iloc[0]
    assert row["provider"] == "openclassrooms" and row["field"] and row["reason"]
    # Fixed at the provider: the next run delivers it and closes the quarantine entry.
    oc.set_course(target["id"], title="Fixed upstream")
    second = run(content_sync(provider="openclassrooms"))
    assert synced_courses(fleet)[ext]["name"] == "Fixed upstream" and second["counts"]["created"] >= 1
    assert ext not in set(store().open_quarantine()["external_id"])
