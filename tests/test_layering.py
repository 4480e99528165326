"""The layering of learnsync's folders: the foundation below everything, the entry points on top.

The installed distribution exposes one top-level package, `learnsync`; the repository keeps one
folder per part, mapped by setuptools' package-dir (pyproject.toml). Each part may import only the
parts below it, so no two folders import each other.
"""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder -> the part it holds (providers/kit is a part of its own, below the providers)
FOLDERS = {
    "core": "core", "providers/kit": "kit", "providers": "providers", "lms360": "lms360", "statestore": "statestore",
    "tasks": "tasks", "flows": "flows", "sandboxes": "sandboxes", "deployments": "entry", "bench": "entry", "learnsync": "entry",
}
SUBPACKAGES = {"core", "providers", "lms360", "statestore", "tasks", "flows", "sandboxes", "deployments", "bench"}
ENTRY = {"deployments", "bench"}
# part -> the parts it may import (besides itself)
ALLOWED = {
    "core": set(),
    "kit": {"core"},
    "providers": {"core", "kit"},
    "lms360": {"core", "kit"},
    "statestore": {"core"},
    "tasks": {"core", "kit", "providers", "lms360", "statestore"},
    "flows": {"core", "kit", "providers", "lms360", "statestore", "tasks"},
    "sandboxes": {"core", "kit", "providers", "lms360"},
    "entry": {"core", "kit", "providers", "lms360", "statestore", "tasks", "flows", "sandboxes"},
}
# The kit builds on the types the engine and every provider share (providers/base.py).
EXCEPTIONS = {("kit", "learnsync.providers.base")}


def part_of_file(path: Path) -> str | None:
    rel = path.relative_to(ROOT).as_posix()
    for folder, part in FOLDERS.items():
        if rel.startswith(folder + "/"):
            return part
    return None


def part_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "learnsync":
        return None
    if len(parts) == 1 or parts[1] not in SUBPACKAGES:
        return "entry"
    if parts[1] == "providers" and len(parts) > 2 and parts[2] == "kit":
        return "kit"
    return "entry" if parts[1] in ENTRY else parts[1]


def source_files() -> list[Path]:
    return [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]


def test_every_import_goes_down_the_layers():
    wrong: dict[str, set[str]] = defaultdict(set)
    for path in source_files():
        source = part_of_file(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                target = part_of_module(name)
                if target is None or target == source or (source, name) in EXCEPTIONS:
                    continue
                if target not in ALLOWED[source or "entry"]:
                    wrong[f"{path.relative_to(ROOT)} ({source})"].add(f"{name} ({target})")
    assert not wrong, dict(wrong)


def test_the_distribution_exposes_one_top_level_package_mapped_from_the_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    declared = set(config["packages"])
    on_disk = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(ROOT / folder).parts
            name = ".".join((package, *rel))
            # a folder mapped on its own (learnsync.providers inside learnsync) is found once, by its own mapping
            if not any(other != package and other.startswith(package + ".") and name.startswith(other) for other in mapping):
                on_disk.add(name)
    assert declared == on_disk
    assert {name.split(".")[0] for name in declared} == {"learnsync"}
