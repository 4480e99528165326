"""Without a reachable Prefect API, 360Learning's limits stay per process (the client's own token
bucket and semaphore), with one warning; a secret given as a block reference names what failed."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from learnsync.core.http import RateLimiter
from learnsync.core.settings import Lms360Settings
from learnsync.lms360 import limits
from learnsync.lms360.limits import platform_limiters


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api"


@pytest.mark.rule("V2-40")
def test_unreachable_prefect_api_falls_back_to_the_per_process_limiters(caplog, monkeypatch):
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    monkeypatch.setitem(limits._UNREACHABLE, "warned", False)
    settings = Lms360Settings(platform="fallback-test", writes_per_second=20)
    writes, bulk = platform_limiters(settings, RateLimiter(20), asyncio.Semaphore(2))

    async def use() -> float:
        started = time.monotonic()
        for _ in range(30):
            await writes.acquire()
        async with bulk, bulk.__class__(bulk.local, bulk.shared):
            assert bulk.local.locked()  # both local slots held
        return time.monotonic() - started

    with temporary_settings(updates={PREFECT_API_URL: closed_port_url(), PREFECT_CLIENT_MAX_RETRIES: 0}), caplog.at_level(logging.WARNING, "learnsync.lms360"):
        seconds = asyncio.run(use())
    assert 0.4 < seconds < 10  # 30 writes at 20/s after a burst of 20: the local bucket still paces them
    warnings = [r.getMessage() for r in caplog.records if "kept per process only" in r.getMessage()]
    assert len(warnings) == 1 and "fallback-test" in warnings[0]
    assert writes.shared.enabled is False


def test_a_secret_block_that_cannot_be_read_names_the_setting_and_the_block(monkeypatch):
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from learnsync.core.secret_blocks import SecretBlockError
    from learnsync.providers.settings import load_settings

    monkeypatch.setenv("LEARNSYNC_LMS360__CLIENT_SECRET", "prefect-secret:learnsync-lms360-client-secret")
    with temporary_settings(updates={PREFECT_API_URL: closed_port_url(), PREFECT_CLIENT_MAX_RETRIES: 0}):
        with pytest.raises(SecretBlockError) as info:
            load_settings()
    assert str(info.value).startswith("LEARNSYNC_LMS360__CLIENT_SECRET: Prefect Secret block 'learnsync-lms360-client-secret'")
