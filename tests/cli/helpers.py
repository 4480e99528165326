"""Run the `learnsync` CLI as a user does (a subprocess) or through typer's runner, and check
what a person sees: one error line, no traceback, the documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without LEARNSYNC_ settings of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSYNC_")}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_cli(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> CliResult:
    """`learnsync ARGS` in a subprocess (the console script's entry point)."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from learnsync.cli import app; app()", *args],
        cwd=cwd, env=env if env is not None else clean_env(), capture_output=True, text=True, timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def assert_one_line_error(result: Any, exit_code: int, *fragments: str) -> str:
    """Exactly one `error:` line holding every fragment, no traceback, the exit code; returns the line."""
    text = result.output if not isinstance(result, CliResult) else result.output
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, text
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.exit_code == exit_code, (result.exit_code, text)
    return lines[0]
