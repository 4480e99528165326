"""docs/ and the code agree on the rule ids.

Every rule of docs/rules/ (and every API fact of docs/lms360.md) is proven by at least one test
marked `@pytest.mark.rule("<id>")`; every marker names an id docs/ defines; every test named
`test_rule_*` or `test_decision_*` says which rule it proves; the decisions a rule depends on
exist and list it back; and the code cites docs/ only by ids and pages that exist. Test files are
read with `ast` (nothing is imported or collected), so this runs in well under a second.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RULE_PAGES = sorted((DOCS / "rules").glob("*.md")) + [DOCS / "lms360.md"]
PREFIXES = ("UDEMY", "COURSERA", "EDFLEX", "OC", "V2", "RUN", "API")
ID = r"(?:" + "|".join(PREFIXES) + r")-\d{2}"
RULE_ROW = re.compile(rf"^\|\s*({ID})\s*\|(.*)\|\s*$", re.M)  # a table row whose first cell is an id
DECISION_HEADING = re.compile(r"^## (D-\d{2}) ", re.M)
DECISION_ID = re.compile(r"\bD-\d{2}\b")
ANY_ID = re.compile(rf"\b(?:{ID}|D-\d{{2}})\b")
CITATION = re.compile(r"\(docs: ([^)]*)\)")  # (docs: D-06) / (docs: COURSERA-04, V2-27)
PAGE_CITATION = re.compile(r"\(docs/([\w/.-]+\.md)(?:: ([^)]+))?\)")  # (docs/lms360.md: Statistics)
# What the code must no longer point at (sources outside the repository), split so this file
# does not match itself.
STALE = re.compile(
    "|".join(("decisions( \\.md)? ?#", r"(?<!docs/)decisions" + r"\.md", "providers" + r"\.md", "360learning-v2" + r"\.md", "rule" + " book"))
)
CODE_DIRS = ("learnsync", "lms360", "providers", "tasks", "flows", "statestore", "sandboxes", "deployments", "bench", "tests")
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".md", ".mako", ".txt", ".cfg", ".ini"}


@cache
def rule_rows() -> dict[str, list[tuple[Path, str]]]:
    """Every id defined in a rule table, with where it is defined and the rest of its row."""
    rows: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for page in RULE_PAGES:
        for match in RULE_ROW.finditer(page.read_text(encoding="utf-8")):
            rows[match.group(1)].append((page, match.group(2)))
    return dict(rows)


@cache
def decisions() -> dict[str, str]:
    """Decision id -> its section of docs/decisions.md."""
    text = (DOCS / "decisions.md").read_text(encoding="utf-8")
    heads = list(DECISION_HEADING.finditer(text))
    return {h.group(1): text[h.start() : heads[i + 1].start() if i + 1 < len(heads) else len(text)] for i, h in enumerate(heads)}


def _rule_marker_args(decorator: ast.expr) -> list[ast.expr] | None:
    """The arguments of a `pytest.mark.rule(...)` decorator, else None."""
    if not isinstance(decorator, ast.Call):
        return None
    func = decorator.func
    if isinstance(func, ast.Attribute) and func.attr == "rule" and isinstance(func.value, ast.Attribute) and func.value.attr == "mark":
        return list(decorator.args)
    return None


@cache
def all_tests() -> list[tuple[str, list[ast.expr] | None]]:
    """(`path::name`, rule marker arguments or None) of every test function under tests/."""
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                args = None
                for decorator in node.decorator_list:
                    marker = _rule_marker_args(decorator)
                    if marker is not None:
                        args = (args or []) + marker
                found.append((f"{path.relative_to(ROOT)}::{node.name}", args))
    return found


@cache
def marked() -> dict[str, list[str]]:
    """Rule id -> the tests marked with it."""
    by_id: dict[str, list[str]] = defaultdict(list)
    for test, args in all_tests():
        for arg in args or []:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                by_id[arg.value].append(test)
    return dict(by_id)


def code_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for folder in CODE_DIRS:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts]
    return files


def test_the_docs_define_rules_and_decisions() -> None:
    assert len(rule_rows()) > 100 and {i.split("-")[0] for i in rule_rows()} == set(PREFIXES)
    assert list(decisions()) == [f"D-{n:02d}" for n in range(1, len(decisions()) + 1)]


def test_every_rule_id_is_defined_once() -> None:
    twice = {i: [str(p.relative_to(ROOT)) for p, _ in rows] for i, rows in rule_rows().items() if len(rows) > 1}
    assert not twice, f"rule ids defined more than once: {twice}"


def test_every_rule_has_a_test_marked_with_it() -> None:
    unproven = sorted(set(rule_rows()) - set(marked()))
    assert not unproven, f"rules no test is marked with (add @pytest.mark.rule): {', '.join(unproven)}"


def test_every_rule_marker_names_rules_of_the_docs() -> None:
    problems = []
    for test, args in all_tests():
        if args is None:
            continue
        if not args:
            problems.append(f"{test}: @pytest.mark.rule() names no rule")
        for arg in args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                problems.append(f"{test}: a rule id must be a string literal, not {ast.unparse(arg)}")
            elif arg.value not in rule_rows():
                problems.append(f"{test}: {arg.value!r} is no rule id of docs/rules/ or docs/lms360.md")
    assert not problems, "\n".join(problems)


def test_every_rule_test_names_the_rule_it_proves() -> None:
    unnamed = [t for t, args in all_tests() if t.split("::")[1].startswith(("test_rule_", "test_decision_")) and not args]
    assert not unnamed, "rule tests without @pytest.mark.rule:\n" + "\n".join(unnamed)


def test_rules_cite_existing_decisions_and_each_decision_lists_its_rules() -> None:
    cited: dict[str, set[str]] = defaultdict(set)
    for rule, rows in rule_rows().items():
        for decision in DECISION_ID.findall(rows[0][1].rsplit("|", 1)[-1]):  # the last column
            cited[decision].add(rule)
    unknown = sorted(set(cited) - set(decisions()))
    assert not unknown, f"rules depend on decisions docs/decisions.md does not have: {unknown}"
    for decision, text in decisions().items():
        listed = set(re.findall(ID, text.split("Followed by:", 1)[1])) if "Followed by:" in text else set()
        assert listed == cited.get(decision, set()), (
            f"{decision}: 'Followed by' lists {sorted(listed)}, the rule tables cite it from {sorted(cited.get(decision, set()))}"
        )
        assert listed or "Not yet followed" in text, f"{decision} is followed by no rule and not marked 'Not yet followed'"


def test_rules_point_at_files_that_exist() -> None:
    missing = [
        f"{rule}: {path}"
        for rule, rows in rule_rows().items()
        for path in re.findall(r"`([\w./-]+/[\w.-]+\.(?:py|yaml))`", rows[0][1])
        if not (ROOT / path).is_file()
    ]
    assert not missing, "rules whose 'Where' names a file the repository does not have:\n" + "\n".join(missing)


def test_code_cites_docs_by_ids_and_pages_that_exist() -> None:
    known = set(rule_rows()) | set(decisions())
    problems = []
    this = Path(__file__).resolve()
    for path in code_files():
        if path.resolve() == this:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            ids = ANY_ID.findall(match.group(1))
            if not ids or any(i not in known for i in ids):
                problems.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        for match in PAGE_CITATION.finditer(text):
            page = DOCS / match.group(1)
            if not page.is_file():
                problems.append(f"{path.relative_to(ROOT)}: {match.group(0)} (no such page)")
                continue
            headings = re.findall(r"^#+ (.*)$", page.read_text(encoding="utf-8"), re.M)
            for section in (match.group(2) or "").split(", ") if match.group(2) else ():
                if not any(section.lower() in h.lower() for h in headings):
                    problems.append(f"{path.relative_to(ROOT)}: {match.group(0)} (no section {section!r})")
    assert not problems, "citations of docs/ that name nothing:\n" + "\n".join(problems)


@pytest.mark.parametrize("stale", ["decisions #6", "decisions.md #3", "see providers.md 2.4", "360learning-v2.md §5", "the rule book"])
def test_the_stale_citation_pattern_sees_the_old_forms(stale: str) -> None:
    assert STALE.search(stale)


def test_code_cites_nothing_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    stale = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in code_files()
        if path.resolve() != this
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if STALE.search(line)
    ]
    assert not stale, "cite docs/ instead (docs: ID) of sources outside the repository:\n" + "\n".join(stale)
