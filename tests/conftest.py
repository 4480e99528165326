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
    fast = '{"attempts": 6, "base_wait": 0.01, "max_wait": 0.2, "jitter": 0.1, "retry_after_cap": 2.0}'
    monkeypatch.setenv("LEARNSYNC_LMS360__RETRY", fast)
    for p in ("UDEMY", "COURSERA", "EDFLEX", "OPENCLASSROOMS"):
        monkeypatch.setenv(f"LEARNSYNC_{p}__RETRY", fast)
    return tmp_path


@pytest.fixture
def fleet(learnsync_env, monkeypatch, request):
    """All sandboxes needed by a test on loopback, with learnsync pointed at them.

    Parametrize indirectly with a dict {"providers": [...], "configs": {...}} or use the default (all).
    """
    from learnsync.sandboxes_runtime import start_fleet
    from providers.registry import available_providers

    param = getattr(request, "param", {}) or {}
    f = start_fleet(param.get("providers") or available_providers(), param.get("configs") or {})
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    yield f
    f.close()
