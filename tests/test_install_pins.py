"""A fresh install runs what the tests passed with: the README's two set-up commands and CI
install through constraints.txt, which pins every dependency within pyproject's ranges."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[canonicalize_name(name)] = version
    return out


def test_readme_commands_and_ci_install_through_the_constraints():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^python3 -m venv .+$", readme, flags=re.M)
    assert len(commands) == 2 and all("pip install -c constraints.txt -e " in c for c in commands), commands
    assert commands[0].endswith("learnsync demo") and commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].replace("pip install -c", "pip install -q -c") in ci


def test_every_dependency_is_pinned_within_its_declared_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    pinned = pins()
    for req in declared:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in constraints.txt"
        assert req.specifier.contains(pinned[name], prereleases=True), f"{req.name}=={pinned[name]} is outside {req.specifier}"
    # The versions the real-server tests decided on (reasons in pyproject.toml).
    assert pinned["prefect"] == "3.9.1"
    assert tuple(int(p) for p in pinned["fastapi"].split(".")[:2]) < (0, 151)
