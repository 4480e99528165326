"""`learnsync doctor` end to end: the CLI (typer's CliRunner) against the sandboxes over HTTP."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from learnsync.cli import app
from learnsync.errors import CONFIG

runner = CliRunner()


def doctor(*args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = runner.invoke(app, ["doctor", *args])
    return result.exit_code, result.output, time.monotonic() - started


def test_a_healthy_fleet_passes_and_the_state_db_and_prefect_api_are_named(fleet, learnsync_env):
    code, out, seconds = doctor()
    assert code == 0, out
    assert "no problem found" in out and "FAIL" not in out
    assert f"state database: sqlite:///{learnsync_env / 'state.db'}" in out and "Prefect API" in out
    for provider in ("udemy", "coursera", "edflex", "openclassrooms"):
        assert f"{provider} token" in out or provider == "udemy"  # Udemy has no token: Basic auth on every call
        assert f"{provider} stats page" in out
    assert "360Learning default integrations read: scope integrations:read granted" in out
    assert "360Learning default bulk-operations read" in out
    assert seconds < 30


def test_a_wrong_360_host_fails_in_seconds_with_the_host_named(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_LMS360__BASE_URL", "http://127.0.0.1:9")
    code, out, seconds = doctor("--provider", "edflex")
    assert code == CONFIG
    line = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert "360Learning default token: cannot reach http://127.0.0.1:9" in line and "LEARNSYNC_LMS360__BASE_URL" in line
    assert "Traceback" not in out and seconds < 10
    assert "1 problem(s)" in out


@pytest.mark.parametrize("fleet", [{"providers": ["coursera", "openclassrooms"]}], indirect=True)
def test_a_wrong_secret_is_one_line_naming_the_setting_and_never_the_secret(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_COURSERA__CLIENT_SECRET", "not-the-secret-42")
    monkeypatch.setenv("LEARNSYNC_LMS360__CLIENT_SECRET", "wrong-360-secret")
    code, out, _ = doctor("--provider", "coursera", "--provider", "openclassrooms")
    assert code == CONFIG
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 2, out
    assert any("coursera token" in f and "LEARNSYNC_COURSERA__CLIENT_SECRET" in f for f in fails)
    assert any("360Learning default token" in f and "LEARNSYNC_LMS360__CLIENT_SECRET" in f for f in fails)
    assert "not-the-secret-42" not in out and "wrong-360-secret" not in out
    assert "ok   openclassrooms courses page" in out


@pytest.mark.parametrize(
    "fleet", [{"providers": ["openclassrooms"], "configs": {"openclassrooms": {"data_faults": {"wrong_type": 5}}}}], indirect=True
)
def test_provider_records_that_differ_from_the_mapping_are_reported_field_by_field(fleet):
    code, out, _ = doctor("--provider", "openclassrooms")
    assert code == CONFIG
    line = next(line for line in out.splitlines() if line.startswith("FAIL openclassrooms courses page"))
    assert "unexpected type" in line and "of 100 records" in line


@pytest.mark.parametrize("fleet", [{"providers": ["edflex"]}], indirect=True)
def test_a_moved_endpoint_is_named_with_the_setting_to_change(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_EDFLEX__STATISTICS_PATH", "/connect/v9/statistics")
    code, out, _ = doctor("--provider", "edflex")
    assert code == CONFIG
    line = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert "edflex stats page" in line and "/connect/v9/statistics" in line and "LEARNSYNC_EDFLEX" in line
