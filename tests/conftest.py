"""Shared fixtures: one Prefect test harness per session (only for e2e tests), sandboxes, env."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the whole session; slow CI machines need a generous start-up time."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def learnsync_env(tmp_path, monkeypatch):
    """A fresh state DB and fast retry/poll settings for one test."""
    monkeypatch.setenv("LEARNSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("LEARNSYNC_LMS360__POLL_INTERVAL_SECONDS", "0.02")
    monkeypatch.setenv("LEARNSYNC_LMS360__POLL_MAX_INTERVAL_SECONDS", "0.2")
    monkeypatch.setenv("LEARNSYNC_LMS360__BULK_SUBMIT_PATIENCE_SECONDS", "2")
    monkeypatch.setenv("LEARNSYNC_LMS360__BULK_WAIT_TIMEOUT_SECONDS", "60")
    # One session harness serves every test: a test that kills a run would leave its platform's
    # shared bulk slots leased for minutes. The cross-process limits have their own tests.
    monkeypatch.setenv("LEARNSYNC_LMS360__GLOBAL_LIMITS", "false")
    fast = '{"attempts": 6, "base_wait": 0.01, "max_wait": 0.2, "jitter": 0.1, "retry_after_cap": 2.0}'
    monkeypatch.setenv("LEARNSYNC_LMS360__RETRY", fast)
    from learnsync.providers.registry import provider_keys
    from learnsync.providers.settings import env_prefix

    for key in provider_keys():
        monkeypatch.setenv(f"{env_prefix(key)}RETRY", fast)
    return tmp_path


@pytest.fixture
def fleet(learnsync_env, monkeypatch, request):
    """All sandboxes needed by a test on loopback, with learnsync pointed at them.

    Parametrize indirectly with a dict {"providers": [...], "configs": {...}} or use the default (all).
    """
    from learnsync.sandboxes.fleet import provider_sandboxes, start_fleet

    param = getattr(request, "param", {}) or {}
    configs = dict(param.get("configs") or {})
    if CONTRACT_AUDIT:  # record the 360Learning traffic for the contract tally (see below)
        configs["lms360"] = {**configs.get("lms360", {}), "record_traffic": True}
    f = start_fleet(param.get("providers") or provider_sandboxes(), configs)
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    yield f
    if CONTRACT_AUDIT:
        # A fleet whose 360 sandbox plays a platform with a course-skill link calls it on purpose.
        _audit(f.app("lms360").state.traffic.exchanges(), default=not configs["lms360"].get("course_skills_endpoint"), test=request.node.nodeid)
    f.close()


# LEARNSYNC_CONTRACT_AUDIT=1 checks the 360Learning traffic of every test using `fleet` against the
# published OpenAPI documents (tests/contract) and prints the tally at the end of the run.
CONTRACT_AUDIT = bool(os.environ.get("LEARNSYNC_CONTRACT_AUDIT"))
_TALLY: dict[str, int] = {"exchanges": 0, "invalid requests": 0, "invalid responses": 0, "undefined endpoint calls": 0}
_PROBLEMS: dict[str, int] = {}
_FIRST_SEEN: dict[str, str] = {}  # problem line -> the first test it was seen in


def _audit(exchanges: list, default: bool = True, test: str = "") -> None:
    from tests.contract.conftest import breakdown, judge
    from tests.contract.openapi_contract import Contract

    verdict = judge(Contract(), exchanges)
    _TALLY["exchanges"] += verdict.exchanges
    _TALLY["invalid requests"] += len(verdict.requests_invalid)
    _TALLY["invalid responses"] += len(verdict.responses_invalid)
    if not default:
        _TALLY["calls to a configured non-v2 endpoint"] = _TALLY.get("calls to a configured non-v2 endpoint", 0) + len(verdict.undefined)
        verdict.undefined = []
    _TALLY["undefined endpoint calls"] += len(verdict.undefined)
    for line, n in breakdown(verdict.requests_invalid + verdict.responses_invalid).items():
        _PROBLEMS[line] = _PROBLEMS.get(line, 0) + n
        _FIRST_SEEN.setdefault(line, test)
    for call in verdict.undefined:
        key = "undefined: " + call.split(" ")[0] + " " + __import__("re").sub(r"[0-9a-f]{24}", "{id}", call.split(" ", 1)[1])
        _PROBLEMS[key] = _PROBLEMS.get(key, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if CONTRACT_AUDIT:
        terminalreporter.write_line("360Learning contract audit: " + ", ".join(f"{k} {v}" for k, v in _TALLY.items()))
        for line, n in sorted(_PROBLEMS.items(), key=lambda kv: -kv[1]):
            where = f"  (first in {_FIRST_SEEN[line]})" if line in _FIRST_SEEN else ""
            terminalreporter.write_line(f"  {n:6d}  {line}{where}")
