"""The provider's integration in 360Learning: adopted by name and group, read every run,
drift patched back, a reserved name explained, an older installation's integration kept.
"""

from __future__ import annotations

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration
from learnsync.sandboxes.lms360.config import DEFAULT_AUTHORS, DEFAULT_GROUPS
from learnsync.sandboxes.lms360.schemas import IntegrationCreate, IntegrationPatch
from tests.e2e.helpers import lms, run, store, writes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
OC = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 15, "n_activities": 0}}}
NAME = "OpenClassrooms (learnsync)"


def _create(fleet, name: str, group: str) -> str:
    return lms(fleet).create_integration(IntegrationCreate(externalPlatform=name, groupId=group, authorId=DEFAULT_AUTHORS[0]))["_id"]


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-01")
def test_an_integration_of_the_same_name_in_another_group_is_not_adopted(fleet):
    elsewhere = _create(fleet, NAME, DEFAULT_GROUPS[1])
    row = run(configure_integration(provider="openclassrooms"))
    assert row["integration_id"] != elsewhere and row["group_id"] == DEFAULT_GROUPS[0]
    mine = [i for i in lms(fleet).integrations() if i["externalPlatform"] == NAME]
    assert sorted(i["groupId"] for i in mine) == sorted(DEFAULT_GROUPS[:2])


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-01", "V2-02")
def test_same_name_in_the_configured_group_is_adopted_and_drifted_settings_are_patched_back(fleet):
    existing = _create(fleet, NAME, DEFAULT_GROUPS[0])
    lms(fleet).patch_integration(existing, IntegrationPatch(defaultCompletion=False, defaultProgress=30, noGroupPropagation=True))
    row = run(configure_integration(provider="openclassrooms"))
    assert row["integration_id"] == existing
    back = next(i for i in lms(fleet).integrations() if i["_id"] == existing)
    assert (back["defaultCompletion"], back["defaultProgress"], back["noGroupPropagation"]) == (True, 0, False)
    # Changed again behind learnsync's back: the next sync run sets it back.
    lms(fleet).patch_integration(existing, IntegrationPatch(defaultProgress=70))
    run(content_sync(provider="openclassrooms"))
    assert next(i for i in lms(fleet).integrations() if i["_id"] == existing)["defaultProgress"] == 0


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-01")
def test_every_run_reads_its_integration_so_a_broken_360_url_fails_even_with_nothing_to_send(fleet, monkeypatch):
    run(content_sync(provider="openclassrooms"))
    again = run(content_sync(provider="openclassrooms"))
    assert again["counts"]["created"] == again["counts"]["updated"] == 0
    counts = lms(fleet).request_counts()
    assert counts.get("GET /api/v2/integrations", 0) >= 2  # read by both runs
    monkeypatch.setenv("LEARNSYNC_LMS360__CLIENT_SECRET", "wrong-secret")
    with pytest.raises(Exception) as failed:
        run(content_sync(provider="openclassrooms"))
    assert "invalid_client" in str(failed.value) and "wrong-secret" not in str(failed.value)


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-03")
def test_a_reserved_integration_name_is_a_clear_error_naming_the_setting(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_OPENCLASSROOMS__INTEGRATION_NAME", "OpenClassrooms")
    with pytest.raises(Exception) as failed:
        run(configure_integration(provider="openclassrooms"))
    message = str(failed.value)
    assert "reserved" in message and "LEARNSYNC_OPENCLASSROOMS__INTEGRATION_NAME" in message
    assert [i for i in lms(fleet).integrations()] == []


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-01")
def test_an_installation_whose_integration_has_the_old_name_keeps_it(fleet):
    # An older version named the integration after the provider and stored its id.
    old = _create(fleet, "OpenClassrooms (old)", DEFAULT_GROUPS[0])
    store().upsert_integration(
        "openclassrooms", "default", integration_id=old, external_platform="OpenClassrooms (old)",
        group_id=DEFAULT_GROUPS[0], author_id=DEFAULT_AUTHORS[0], options={}, filters={}, active=True,
    )
    report = run(content_sync(provider="openclassrooms"))
    assert report["counts"]["created"] > 0
    assert [i["_id"] for i in lms(fleet).integrations()] == [old]  # no second integration
    assert {c["integrationId"] for c in lms(fleet).courses()} == {old}
    assert writes(fleet) > 0


@pytest.mark.parametrize("fleet", [OC], indirect=True)
@pytest.mark.rule("V2-01")
def test_a_stored_integration_deleted_in_360_stops_syncs_and_configure_replaces_it(fleet):
    row = run(configure_integration(provider="openclassrooms"))
    lms(fleet).delete_integration(row["integration_id"])
    with pytest.raises(Exception) as failed:
        run(content_sync(provider="openclassrooms"))
    assert "no longer exists in 360Learning" in str(failed.value) and "learnsync configure" in str(failed.value)
    fresh = run(configure_integration(provider="openclassrooms"))
    assert fresh["integration_id"] != row["integration_id"]
    assert run(content_sync(provider="openclassrooms"))["counts"]["created"] > 0
