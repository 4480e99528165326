"""Drift repair end to end: the 360 sandbox is changed behind learnsync's back (courses deleted,
archived, restored, edited, added under the integration's name), then `reconcile` reports the
differences and repairs them through the confirmed path."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from learnsync.cli import app
from learnsync.flows.content_sync import content_sync
from learnsync.flows.reconcile import reconcile
from tests.e2e.helpers import lms, provider_store, run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
EDFLEX = {"providers": ["edflex"], "configs": {"edflex": {"n_courses": 40, "n_activities": 0, "bad_record_ratio": 0.0}}}


def _state(provider: str = "edflex"):
    s = store()
    return s.load_courses(s.get_integration(provider)["id"]).set_index("external_id")


@pytest.mark.parametrize("fleet", [EDFLEX], indirect=True)
def test_reconcile_reports_and_repairs_what_changed_in_360_behind_learnsyncs_back(fleet):
    run(content_sync(provider="edflex"))
    before = synced_courses(fleet)
    state = _state()
    active = sorted(state.index[state["status"] == "active"])
    archived = sorted(state.index[state["status"] == "archived"])
    deleted, archived_by_admin, edited = active[:3]
    sandbox = lms(fleet)
    sandbox.delete_course(before[deleted]["courseId"])
    sandbox.set_archived(before[archived_by_admin]["courseId"], True)
    sandbox.edit_course(before[edited]["courseId"], name="Renamed by an admin")
    iid = store().get_integration("edflex")["integration_id"]
    # A content sync does not see any of it: state says nothing changed at the provider.
    assert run(content_sync(provider="edflex"))["counts"]["unchanged"] == len(active)
    assert synced_courses(fleet)[edited]["name"] == "Renamed by an admin"

    # Dry run: every difference reported, nothing repaired, state untouched.
    writes_before = sandbox.request_counts()
    dry = run(reconcile(provider="edflex", dry_run=True))
    assert dry["skipped"] == {"missing": 1, "archived_elsewhere": 1, "edited": 1}
    assert any("1 missing, 1 archived elsewhere, 0 published elsewhere, 1 edited, 0 unknown" in n for n in dry["notes"])
    assert deleted not in synced_courses(fleet) and synced_courses(fleet)[edited]["name"] == "Renamed by an admin"
    assert not [k for k, v in sandbox.request_counts().items() if not k.startswith("GET") and v != writes_before.get(k, 0)
                and "oauth2" not in k]  # fmt: skip

    report = run(reconcile(provider="edflex"))
    after = synced_courses(fleet)
    # Missing: re-created from the payload last confirmed; the state follows the new course id.
    assert after[deleted]["status"] == "published" and after[deleted]["name"] == before[deleted]["name"]
    assert _state().at[deleted, "course_id"] == after[deleted]["courseId"] != before[deleted]["courseId"]
    # Archived by someone else: restored. Edited: the confirmed payload is sent again.
    assert after[archived_by_admin]["status"] == "published" and _state().at[archived_by_admin, "status"] == "active"
    assert after[edited]["name"] == before[edited]["name"]
    assert report["counts"]["created"] == 1 and report["counts"]["updated"] == 1 and report["counts"]["restored"] == 1
    assert report["counts"]["failed"] == 0
    # Nothing left to repair.
    again = run(reconcile(provider="edflex", dry_run=True))
    assert again["skipped"] == {} and again["counts"]["unchanged"] == len(active) + len(archived)
    assert {c["integrationId"] for c in lms(fleet).courses()} == {iid}


@pytest.mark.parametrize("fleet", [EDFLEX], indirect=True)
def test_reconcile_re_archives_a_course_published_again_and_reports_unknown_ones_through_the_cli(fleet):
    from learnsync.sandboxes.lms360.schemas import ExternalCourseDTO

    run(content_sync(provider="edflex"))
    gone = sorted(_state().index[_state()["status"] == "active"])[0]
    provider_store(fleet, "edflex").remove_course(gone)
    assert run(content_sync(provider="edflex"))["counts"]["archived"] == 1
    archived = [gone]
    sandbox = lms(fleet)
    sandbox.set_archived(synced_courses(fleet)[archived[0]]["courseId"], False)
    iid = store().get_integration("edflex")["integration_id"]
    stranger = sandbox.upsert_course(iid, ExternalCourseDTO(
        externalId="made-elsewhere", name="Made elsewhere", launchUrl="https://x.example/1", defaultLang="en",
        subjects=[], sources=[{"name": "Someone"}],
    ))  # fmt: skip

    result = CliRunner().invoke(app, ["reconcile", "--provider", "edflex"])
    assert result.exit_code == 0, result.output
    assert "published elsewhere" in result.output and stranger in result.output and "unknown to state" in result.output
    assert synced_courses(fleet)[archived[0]]["status"] == "archived"
    assert "made-elsewhere" not in _state().index  # reported, not adopted
