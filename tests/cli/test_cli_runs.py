"""The CLI against live sandboxes: failures named with the setting to fix, nothing silently
dropped, a status made for on-call, the dry run's item-level diff, retries and progress shown."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learnsync.cli import app
from learnsync.errors import CONFIG, ITEM_ERRORS, RUN_FAILED
from tests.cli.helpers import assert_one_line_error, clean_env, run_cli
from tests.e2e.helpers import lms, provider_store, store, writes

OC = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 40, "n_activities": 100, "bad_ratio": 0.05}}}
OC_CLEAN = {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 30, "n_activities": 50}}}
UNKNOWN_GROUP = "000000000000000000000000"
OTHER_GROUP = "62be0535045424d93edaad7c"  # a sandbox group besides the integration's


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
def test_a_wrong_360_secret_names_the_settings_before_any_run(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_LMS360__CLIENT_SECRET", "not-the-secret")
    result = cli("sync", "content", "-p", "openclassrooms")
    assert_one_line_error(result, CONFIG, "refused the credentials", "invalid_client: the client id or secret is wrong",
                          "LEARNSYNC_LMS360__CLIENT_ID", "LEARNSYNC_LMS360__CLIENT_SECRET")
    assert "not-the-secret" not in result.output
    assert store().list_runs() == []  # refused before a run started


@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
def test_share_or_deactivate_with_no_integration_says_what_to_run_first(fleet):
    for args in (["share", "-p", "openclassrooms", "--group", OTHER_GROUP], ["deactivate", "-p", "openclassrooms"]):
        assert_one_line_error(cli(*args), CONFIG, "no openclassrooms integration on platform default",
                              "learnsync sync content --provider openclassrooms")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
def test_a_wrong_provider_secret_fails_the_run_naming_its_settings(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_OPENCLASSROOMS__CLIENT_SECRET", "nope")
    result = cli("sync", "content", "-p", "openclassrooms")
    assert_one_line_error(result, CONFIG, "refused the credentials", "LEARNSYNC_OPENCLASSROOMS__CLIENT_SECRET")
    run = store().list_runs()[0]
    assert run["status"] == "failed" and "401" in run["error"]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
@pytest.mark.rule("V2-23")
def test_share_reports_every_refused_item_and_exits_3(fleet):
    assert cli("sync", "content", "-p", "openclassrooms").exit_code == 0
    courses = len(lms(fleet).courses())
    bad = cli("share", "-p", "openclassrooms", "--group", UNKNOWN_GROUP)
    assert bad.exit_code == ITEM_ERRORS, bad.output
    assert "Traceback" not in bad.output
    assert f"catalog 0/{courses}, library 0/{courses}" in bad.output
    assert f"not shared ({2 * courses} item(s))" in bad.output and "groupNotFound" in bad.output
    as_json = cli("share", "-p", "openclassrooms", "--group", UNKNOWN_GROUP, "--output", "json")
    data = json.loads(as_json.stdout)
    assert as_json.exit_code == ITEM_ERRORS and data["failed_count"] == 2 * courses
    assert {f["group"] for f in data["failed"]} == {UNKNOWN_GROUP} and all("groupNotFound" in f["reason"] for f in data["failed"])
    good = cli("share", "-p", "openclassrooms", "--group", OTHER_GROUP, "--target", "catalog")
    assert good.exit_code == 0 and f"catalog {courses}/{courses}" in good.output


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [{"providers": ["udemy"], "configs": {"udemy": {"n_courses": 20, "n_activities": 40}}}], indirect=True)
def test_configure_options_are_typed_zero_means_off(fleet):
    off = cli("configure", "-p", "udemy", "-o", "tags_sync=0", "-o", "learning_paths_sync=no")
    assert off.exit_code == 0, off.output
    assert store().get_integration("udemy")["options"] == {"tags_sync": False, "learning_paths_sync": False}
    on = cli("configure", "-p", "udemy", "-o", "tags_sync=YES")
    assert on.exit_code == 0 and store().get_integration("udemy")["options"]["tags_sync"] is True


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
@pytest.mark.rule("RUN-12")
def test_dry_run_prints_the_item_level_diff_as_a_table_and_as_json(fleet):
    assert cli("sync", "content", "-p", "openclassrooms").exit_code == 0
    oc = provider_store(fleet, "openclassrooms")
    courses = [c for c in oc.course_list() if c.get("status") == "active"]
    changed, gone = courses[0], courses[1]
    old_title = changed["title"]
    oc.set_course(changed["id"], title="A brand new title")
    oc.remove_course(gone["id"])
    writes_before = writes(fleet)
    table = cli("sync", "content", "-p", "openclassrooms", "--dry-run")
    assert table.exit_code == 0, table.output
    assert "dry run: what a real run would do" in table.output
    assert "A brand new title" in table.output and "missing" in table.output
    result = cli("sync", "content", "-p", "openclassrooms", "--dry-run", "--output", "json")
    report = json.loads(result.stdout)
    planned = {p["external_id"]: p for p in report["planned"]}
    assert planned[str(changed["id"])]["action"] == "updated"
    assert planned[str(changed["id"])]["changes"]["name"][1] == "A brand new title"
    assert planned[str(changed["id"])]["changes"]["name"][0] == old_title
    assert planned[str(gone["id"])]["action"] == "archived" and planned[str(gone["id"])]["reason"] == "missing"
    assert report["planned_total"] == len(planned) == 2
    assert writes(fleet) == writes_before  # nothing sent
    assert all(not r["dry_run"] for r in store().list_runs())  # and nothing recorded


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
def test_each_retry_is_shown_with_its_reason_and_wait(fleet):
    lms_url = fleet.url("lms360")
    added = cli("faults", "add", lms_url, "--kind", "status", "--status", "503", "--path", "/api/v2/bulk/", "--times", "3")
    assert added.exit_code == 0
    result = cli("sync", "content", "-p", "openclassrooms")
    assert result.exit_code == 0, result.output
    retries = [ln for ln in result.output.splitlines() if ln.startswith("retry ")]
    assert len(retries) == 3, result.output
    assert all("http503" in ln and "next try in" in ln and "/api/v2/bulk/" in ln for ln in retries)
    assert [ln.split("attempt ")[1].split(" ")[0] for ln in retries] == ["1", "2", "3"]
    assert "provider pages read" in result.output and "items pushed in 1 bulk job(s)" in result.output
    assert "3 request(s) retried" in result.output


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC], indirect=True)
def test_status_shows_runs_errors_quarantine_and_lifecycle_for_on_call(fleet, tmp_path):
    first = cli("sync", "content", "-p", "openclassrooms")
    assert first.exit_code == ITEM_ERRORS, first.output  # bad records quarantined
    cli("faults", "add", fleet.url("openclassrooms"), "--kind", "status", "--status", "500", "--times", "0")
    failed = cli("sync", "content", "-p", "openclassrooms")
    assert failed.exit_code in (RUN_FAILED, 6), failed.output
    cli("faults", "clear", fleet.url("openclassrooms"))
    # English only archives most of this French catalog: refused by the mass-archive guard unless forced
    guarded = cli("filters", "-p", "openclassrooms", "-l", "en")
    assert guarded.exit_code == RUN_FAILED and "refusing to archive" in guarded.output, guarded.output
    assert cli("filters", "-p", "openclassrooms", "-l", "en", "--force").exit_code in (0, ITEM_ERRORS)
    result = cli("status", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (pair,) = data["integrations"]
    runs = pair["runs"]
    assert [r["status"] for r in runs[:2]] == ["failed", "completed_with_errors"]
    assert "http500" in runs[0]["error"] and runs[0]["seconds"] is not None
    assert runs[1]["counts"]["quarantined"] > 0 and runs[1]["flow_run_id"]
    quarantine = data["quarantine"]
    assert len(quarantine) == runs[1]["counts"]["quarantined"] or len(quarantine) >= 1
    assert all(q["field"] and q["reason"] and q["since"] and q["runs"] >= 1 for q in quarantine)
    assert any(a["kind"] == "filters" and a["params"]["filters"] == {"languages": ["en"]} for a in data["lifecycle"])
    table = cli("status")
    assert table.exit_code == 0
    for text in ("openclassrooms on default: active", "failed", "http500", "open quarantine (", "lifecycle actions", "filters",
                 runs[0]["flow_run_id"][:8], runs[1]["flow_run_id"][:8], f"latest flow run: {runs[0]['flow_run_url']}"):
        assert text in table.output, text
    chart = tmp_path / "history.png"
    drawn = cli("status", "--chart", str(chart))
    assert drawn.exit_code == 0 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5_000


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
def test_status_is_read_only_and_says_when_the_db_is_missing_or_older(fleet, tmp_path):
    from learnsync.statestore.db import current_revision, make_engine, upgrade

    assert cli("sync", "content", "-p", "openclassrooms").exit_code == 0
    missing = run_cli(["status", "--db", str(tmp_path / "nowhere.db")], cwd=tmp_path)
    assert_one_line_error(missing, CONFIG, f"no state DB at {tmp_path / 'nowhere.db'}")
    assert not (tmp_path / "nowhere.db").exists()
    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(make_engine(old_url), "0001")
    old = run_cli(["status", "--db", old_url], cwd=tmp_path)
    assert old.exit_code == 0 and "older schema" in old.stderr, old.output
    assert current_revision(make_engine(old_url)) == "0001"  # status did not migrate it


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder whose files even root cannot write (a read-only tmpfs), or skip."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder, lambda: folder.chmod(0o555)
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a read-only filesystem here")
    try:
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_read_only_folder_for_the_default_state_db_is_named_before_anything_runs(read_only_folder):
    folder, make_read_only = read_only_folder
    make_read_only()
    result = run_cli(["sync", "content", "-p", "udemy"], cwd=folder, env=clean_env())
    assert_one_line_error(result, CONFIG, f"cannot create the state DB folder {folder / '.learnsync'}", "LEARNSYNC_DATABASE_URL")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("fleet", [OC_CLEAN], indirect=True)
def test_a_read_only_state_db_is_read_by_status_and_refused_by_sync_naming_its_path(fleet, read_only_folder, tmp_path):
    folder, make_read_only = read_only_folder
    assert cli("sync", "content", "-p", "openclassrooms").exit_code == 0
    source = Path(os.environ["LEARNSYNC_DATABASE_URL"].removeprefix("sqlite:///"))
    from learnsync.statestore.db import dispose_engines

    dispose_engines()  # checkpoint the WAL into the file before copying it
    shutil.copy(source, folder / "state.db")
    make_read_only()
    before = hashlib.sha256((folder / "state.db").read_bytes()).hexdigest()
    env = clean_env(LEARNSYNC_DATABASE_URL=f"sqlite:///{folder / 'state.db'}", **{k: v for k, v in fleet.env().items()})
    status = run_cli(["status"], cwd=tmp_path, env=env)
    assert status.exit_code == 0 and "openclassrooms on default" in status.stdout, status.output
    assert hashlib.sha256((folder / "state.db").read_bytes()).hexdigest() == before
    sync = run_cli(["sync", "content", "-p", "openclassrooms"], cwd=tmp_path, env=env)
    assert_one_line_error(sync, CONFIG, str(folder), "read-only")
