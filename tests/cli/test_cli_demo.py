"""The demo leads somewhere: rerunnable in one folder, its suggestion works as printed, and a run
on a temporary Prefect server ends without alarming noise."""

from __future__ import annotations

import json
import shlex

import pytest

from learnsync.sandboxes.fleet import start_fleet
from tests.cli.helpers import clean_env, run_cli


@pytest.mark.usefixtures("prefect_harness")
def test_the_demo_reruns_in_one_folder_and_the_command_it_suggests_works(tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = clean_env(PREFECT_API_URL=PREFECT_API_URL.value() or "")
    for attempt in (1, 2):
        demo = run_cli(["demo", "-p", "udemy", "--courses", "20"], cwd=tmp_path, env=env, timeout=900)
        assert demo.exit_code == 0, (attempt, demo.output[-3000:])
        assert "Traceback" not in demo.output and "error:" not in demo.output
    suggestion = [ln for ln in demo.stdout.splitlines() if ln.startswith("Try: ")][-1].removeprefix("Try: ")
    command = shlex.split(suggestion)
    assert command[0] == "learnsync"
    status = run_cli(command[1:], cwd=tmp_path, env=env)
    assert status.exit_code == 0, status.output
    assert "udemy on default: active" in status.stdout and "completed" in status.stdout
    data = json.loads(run_cli([*command[1:], "--output", "json"], cwd=tmp_path, env=env).stdout)
    (udemy,) = data["integrations"]
    assert sorted(r["kind"] for r in udemy["runs"]) == ["content", "stats"]  # the second demo started afresh
    assert next(r for r in udemy["runs"] if r["kind"] == "content")["counts"]["created"] == 20


def test_a_sync_on_a_temporary_prefect_server_prints_no_alarming_noise(tmp_path):
    fleet = start_fleet(["udemy"], {"udemy": {"n_courses": 20, "n_activities": 20}})
    try:
        env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"), **fleet.env())
        env.pop("PREFECT_API_URL", None)
        result = run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=env, timeout=900)
    finally:
        fleet.close()
    assert result.exit_code == 0, result.output[-3000:]
    assert "Prefect API: a temporary local server" in result.stderr
    assert f"state DB: sqlite:///{tmp_path / '.learnsync' / 'state.db'}" in result.stderr
    for noise in ("Traceback", "ERROR", "telemetry", "Exception"):
        assert noise not in result.output, result.output[-3000:]
    assert "created" in result.stdout
