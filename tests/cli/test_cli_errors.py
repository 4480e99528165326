"""Every user mistake ends in one line naming the setting, value or record and what to do, a
documented exit code, and no traceback (`--debug` shows it). Checked before anything slow starts."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from learnsync.errors import CONFIG, UNREACHABLE, USAGE
from tests.cli.helpers import REPO, assert_one_line_error, clean_env, run_cli


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "env", "code", "fragments"),
    [
        (["sync", "content", "-p", "foo"], {}, USAGE, ["unknown provider 'foo'", "udemy, coursera, edflex, openclassrooms"]),
        (["sync", "content", "-p", "udemy", "--platform", "eu"], {}, USAGE, ["unknown 360Learning platform 'eu'", "LEARNSYNC_PLATFORMS"]),
        (["sync", "content", "-p", "udemy"], {"LEARNSYNC_DATABASE_URL": "not-a-url"}, CONFIG, ["LEARNSYNC_DATABASE_URL='not-a-url'", "sqlite:///"]),
        (["sync", "content", "-p", "udemy"], {"LEARNSYNC_PLATFORMS": '{"eu": {bad'}, CONFIG, ["LEARNSYNC_PLATFORMS is not valid JSON", "expected e.g."]),
        (["sync", "content", "-p", "udemy"], {"LEARNSYNC_ARCHIVE_GUARD_RATIO": "half"}, CONFIG, ["LEARNSYNC_ARCHIVE_GUARD_RATIO='half'", "(0, 1]"]),
        (["sync", "content", "-p", "udemy"], {"LEARNSYNC_ARCHIVE_GUARD_RATIO": "nan"}, CONFIG, ["LEARNSYNC_ARCHIVE_GUARD_RATIO='nan'", "(0, 1]"]),
        (["sync", "content", "-p", "udemy"], {"LEARNSYNC_ARCHIVE_GUARD_RATIO": "-1"}, CONFIG, ["LEARNSYNC_ARCHIVE_GUARD_RATIO='-1'", "(0, 1]"]),
        (["backfill", "stats", "-p", "udemy", "--since", "2026-02-01", "--until", "2026-01-01"], {}, USAGE, ["--since 2026-02-01 must be before --until 2026-01-01"]),
        (["backfill", "stats", "-p", "udemy", "--since", "yesterday"], {}, USAGE, ["--since 'yesterday' is not a date", "YYYY-MM-DD"]),
        (["backfill", "stats", "-p", "udemy", "--since", "2026-01-01", "--window-days", "0"], {}, USAGE, ["--window-days", "greater than or equal to 1"]),
        (["share", "-p", "udemy", "--group", "not-a-group"], {}, USAGE, ["--group 'not-a-group' is not a 360Learning group id"]),
        (["sandbox", "udemyy"], {}, USAGE, ["unknown sandbox 'udemyy'", "did you mean 'udemy'?"]),
        (["configure", "-p", "udemy", "-o", "tags_sync=maybe"], {}, USAGE, ["tags_sync", "'maybe' is not a boolean", "true/false"]),
        (["configure", "-p", "udemy", "-o", "tagz=1"], {}, USAGE, ["unknown option 'tagz'", "tags_sync"]),
        (["sync", "content"], {}, USAGE, ["Missing option '--provider'"]),
    ],
    ids=lambda v: v if isinstance(v, int) else None,
)
def test_a_mistake_is_one_line_with_its_exit_code(tmp_path, args, env, code, fragments):
    result = run_cli(args, cwd=tmp_path, env=clean_env(**env))
    assert_one_line_error(result, code, *fragments)
    assert not (tmp_path / ".learnsync").exists()  # refused before any state was touched


def test_a_real_host_with_the_sandbox_credentials_is_refused_naming_what_to_set(tmp_path):
    env = clean_env(LEARNSYNC_LMS360__BASE_URL="https://app.360learning.com", LEARNSYNC_LMS360__CLIENT_ID="my-client")
    line = assert_one_line_error(run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=env), CONFIG, "https://app.360learning.com")
    for name in ("LEARNSYNC_LMS360__CLIENT_SECRET", "LEARNSYNC_LMS360__GROUP_ID", "LEARNSYNC_LMS360__AUTHOR_ID"):
        assert name in line
    assert "LEARNSYNC_LMS360__CLIENT_ID" not in line  # set: not missing
    provider = clean_env(LEARNSYNC_UDEMY__BASE_URL="https://acme.udemy.com", LEARNSYNC_UDEMY__CLIENT_ID="id", LEARNSYNC_UDEMY__CLIENT_SECRET="s")
    assert_one_line_error(run_cli(["status"], cwd=tmp_path, env=provider), CONFIG, "LEARNSYNC_UDEMY__ORG_ID")


def test_a_usage_error_is_reported_before_prefect_is_even_imported(tmp_path):
    code = (
        "import sys\nfrom learnsync.cli import app\n"
        "try:\n    app(['sync', 'content', '-p', 'foo'])\nexcept SystemExit as e:\n    print('exit', e.code, 'prefect' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().endswith("exit 2 False"), proc.stdout + proc.stderr


def test_debug_shows_the_traceback_after_the_same_line(tmp_path):
    plain = run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=clean_env(LEARNSYNC_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:1/x"))
    debug = run_cli(["--debug", "sync", "content", "-p", "udemy"], cwd=tmp_path, env=clean_env(LEARNSYNC_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:1/x"))
    line = assert_one_line_error(plain, UNREACHABLE, "postgresql+psycopg://u@127.0.0.1:1/x", "is the database server running")
    assert debug.exit_code == UNREACHABLE and "Traceback" in debug.stderr and line in debug.stderr
    after = run_cli(["sync", "content", "-p", "udemy", "--debug"], cwd=tmp_path, env=clean_env(LEARNSYNC_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:1/x"))
    assert "Traceback" in after.stderr  # --debug is accepted after the command too


def test_postgresql_without_its_driver_says_what_to_install(tmp_path):
    shim = tmp_path / "shim" / "psycopg"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    env = clean_env(LEARNSYNC_DATABASE_URL="postgresql+psycopg://learnsync@127.0.0.1/learnsync", PYTHONPATH=str(shim.parent))
    assert_one_line_error(run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=env), CONFIG,
                          "LEARNSYNC_DATABASE_URL", 'pip install -e ".[postgres]"')


def test_postgresql_down_names_the_database_and_fails_at_once(tmp_path):
    url = f"postgresql+psycopg://learnsync:hunter2@127.0.0.1:{_closed_port()}/learnsync"
    result = run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=clean_env(LEARNSYNC_DATABASE_URL=url))
    assert_one_line_error(result, UNREACHABLE, "the state DB postgresql+psycopg://learnsync:***@127.0.0.1", "is the database server running")
    assert "hunter2" not in result.output


def test_a_sync_with_no_sandbox_running_fails_in_seconds_naming_the_host(tmp_path):
    port = _closed_port()
    result = run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=clean_env(LEARNSYNC_LMS360__BASE_URL=f"http://127.0.0.1:{port}"))
    assert_one_line_error(result, UNREACHABLE, f"127.0.0.1:{port} (LEARNSYNC_LMS360__BASE_URL) does not answer", "learnsync sandbox all")
    assert result.seconds < 30  # no retries for minutes, no Prefect start-up


def test_a_host_that_accepts_but_never_answers_fails_within_seconds(tmp_path):
    with socket.socket() as silent:  # the handshake completes in the backlog; no byte ever comes back
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli(["sync", "content", "-p", "udemy"], cwd=tmp_path, env=clean_env(LEARNSYNC_LMS360__BASE_URL=url))
    assert_one_line_error(result, UNREACHABLE, f"{url[7:]} (LEARNSYNC_LMS360__BASE_URL) does not answer", "no answer within 5s")
    assert result.seconds < 30


def test_exit_codes_are_documented_in_help_and_readme(tmp_path):
    from learnsync.errors import EXIT_CODES

    help_text = run_cli(["--help"], cwd=tmp_path).stdout
    readme = (REPO / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"{code}  {meaning}" in help_text
        assert f"| {code} |" in readme
    assert "issue" not in run_cli(["bench", "--help"], cwd=tmp_path).stdout.lower()


def test_faults_on_a_sandbox_that_is_not_running_name_its_address(tmp_path):
    port = _closed_port()
    result = run_cli(["faults", "list", f"http://127.0.0.1:{port}"], cwd=tmp_path)
    assert_one_line_error(result, UNREACHABLE, f"127.0.0.1:{port}", "does not answer")


def test_sandbox_all_starts_every_sandbox_prints_the_settings_and_stops_on_ctrl_c(tmp_path):
    import os
    import signal
    import time

    import httpx

    base = _free_ports(5)
    proc = subprocess.Popen([sys.executable, "-c", "from learnsync.cli import app; app()", "sandbox", "all", "--port", str(base)],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{base + 4}/", timeout=1).status_code:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        answers = [httpx.get(f"http://127.0.0.1:{base + i}/", timeout=5).status_code for i in range(5)]
    finally:
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert all(code > 0 for code in answers)
    assert proc.returncode == 0 and "Traceback" not in stdout + stderr, stderr
    for i, var in enumerate(("LMS360", "UDEMY", "COURSERA", "EDFLEX", "OPENCLASSROOMS")):
        assert f"export LEARNSYNC_{var}__BASE_URL=http://127.0.0.1:{base + i}" in stdout
    assert "sandboxes stopped" in stdout


def _free_ports(n: int) -> int:
    """The first of n consecutive free loopback ports."""
    import random

    for _ in range(200):
        base = random.randint(20_000, 60_000)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")
