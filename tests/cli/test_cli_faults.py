"""Fault injection is switchable from the CLI on a running sandbox."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from learnsync.cli import app
from learnsync.sandboxes.fleet import sandbox_app
from learnsync.sandboxes.server import SandboxServer


def test_cli_faults_add_list_clear_on_a_running_sandbox():
    runner = CliRunner()
    with SandboxServer(sandbox_app("lms360")) as srv:
        added = runner.invoke(app, ["faults", "add", srv.url, "--kind", "status", "--status", "502", "--path", "/api/v2/integrations", "--times", "1"])
        assert added.exit_code == 0, added.output
        first = httpx.get(f"{srv.url}/api/v2/integrations")
        assert first.status_code == 502
        listed = runner.invoke(app, ["faults", "list", srv.url])
        assert "status:502" in listed.output
        runner.invoke(app, ["faults", "add", srv.url, "--kind", "status", "--status", "503", "--times", "0"])
        assert httpx.get(f"{srv.url}/api/v2/groups").status_code == 503
        cleared = runner.invoke(app, ["faults", "clear", srv.url])
        assert cleared.exit_code == 0
        assert httpx.get(f"{srv.url}/api/v2/groups").status_code == 401  # the real API answers again (no token)


def test_every_command_has_help():
    runner = CliRunner()
    for cmd in (["sandbox"], ["sync"], ["backfill"], ["status"], ["demo"], ["configure"], ["filters"], ["share"],
                ["deactivate"], ["deploy"], ["serve"], ["faults", "add"]):
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, cmd


def test_cli_data_faults_on_a_provider_sandbox():
    runner = CliRunner()
    with SandboxServer(sandbox_app("openclassrooms", n_courses=30)) as srv:
        added = runner.invoke(app, ["faults", "data", srv.url, "--kind", "missing_required", "--count", "2"])
        assert added.exit_code == 0, added.output
        assert "missing_required" in added.output
        cleared = runner.invoke(app, ["faults", "data", srv.url, "--clear"])
        assert cleared.exit_code == 0 and "cleared" in cleared.output


def test_cli_lms360_per_item_errors_and_job_error():
    runner = CliRunner()
    with SandboxServer(sandbox_app("lms360")) as srv:
        result = runner.invoke(app, ["faults", "lms360", srv.url, "--reject", "c-1", "--message", "boom", "--job-error", "down"])
        assert result.exit_code == 0, result.output
        store = srv.app.state.store
        assert store.rejection_for({"externalId": "c-1"}) == "boom"
        assert store.take_forced_bulk_error() == "down"
        runner.invoke(app, ["faults", "lms360", srv.url, "--clear"])
        assert store.rejection_for({"externalId": "c-1"}) is None


def test_cli_faults_add_every_kind_the_sandboxes_serve_and_refuses_an_unknown_one():
    import json
    import subprocess
    import sys

    def learnsync(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "learnsync.cli", *args], capture_output=True, text=True, timeout=60)

    with SandboxServer(sandbox_app("lms360")) as srv:
        # one invalid UTF-8 byte written into a value, as a user types it
        added = learnsync("faults", "add", srv.url, "--kind", "rewrite", "--path", "/api/v2/groups", "--find", '"error":"',
                          "--replace", '"error":"\\xff', "--times", "0")
        assert added.returncode == 0, added.stderr
        body = httpx.get(f"{srv.url}/api/v2/groups").content
        assert body == b'{"error":"\xffinvalid_token"}', body
        relinked = learnsync("faults", "add", srv.url, "--kind", "relink", "--target", "http://127.0.0.1:9", "--path", "/nothing")
        assert relinked.returncode == 0, relinked.stderr
        rules = {r["kind"]: r for r in json.loads(httpx.get(f"{srv.url}/_sandbox/faults").text)["rules"]}
        assert rules["relink"]["target"] == "http://127.0.0.1:9" and rules["rewrite"]["times"] is None
        wrong = learnsync("faults", "add", srv.url, "--kind", "rewrit")
        assert wrong.returncode == 2 and "unknown fault kind 'rewrit'" in wrong.stderr and "Traceback" not in wrong.stderr
        missing = learnsync("faults", "add", srv.url, "--kind", "relink")
        assert missing.returncode == 2 and "--target" in missing.stderr
