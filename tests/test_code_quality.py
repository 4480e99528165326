"""The linter and the type checker keep the code honest: ruff over the repository; mypy (the
project's settings in pyproject.toml) over the whole installed package `learnsync`, and mypy
--strict over the foundation (learnsync.core) and the provider kit (learnsync.providers.kit)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRICT_PACKAGES = ("learnsync.core", "learnsync.providers.kit")
PACKAGE = "learnsync"


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def _installed_names(tree: Path) -> Path:
    """The repository's folders as the distribution installs them (a tree of links), for mypy,
    which cannot follow the editable install's package-dir mapping."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    top = tree / "learnsync"
    top.mkdir(parents=True)
    for file in (ROOT / mapping["learnsync"]).glob("*.py"):
        (top / file.name).symlink_to(file)
    for package, folder in mapping.items():
        if package != "learnsync":
            (top / package.split(".", 1)[1]).symlink_to(ROOT / folder, target_is_directory=True)
    return tree


def test_mypy_on_the_whole_package(tmp_path: Path) -> None:
    tree = _installed_names(tmp_path / "tree")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), "-p", PACKAGE],
        capture_output=True, text=True, cwd=tmp_path, env={"MYPYPATH": str(tree), "PATH": ""},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "no issues found" in done.stdout


def test_mypy_strict_on_the_foundation_and_the_provider_kit(tmp_path: Path) -> None:
    tree = _installed_names(tmp_path / "tree")
    packages = [arg for p in STRICT_PACKAGES for arg in ("-p", p)]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--strict", "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), *packages],
        capture_output=True, text=True, cwd=tmp_path, env={"MYPYPATH": str(tree), "PATH": ""},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "no issues found" in done.stdout
