"""Every request has a total deadline: a server answering one byte at a time cannot hold a run.

httpx's timeout bounds each read, so a body dripped byte by byte never trips it. The sandboxes'
`drip` fault does exactly that, over real HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from learnsync.core.http import ApiError, RetryPolicy
from learnsync.core.settings import Lms360Settings, ProviderSettings
from learnsync.lms360 import Lms360Client
from learnsync.providers.udemy import UdemyClient
from learnsync.sandboxes.lms360 import Lms360SandboxConfig
from learnsync.sandboxes.lms360 import create_app as lms360_app
from learnsync.sandboxes.server import SandboxServer
from learnsync.sandboxes.udemy import UdemySandboxConfig
from learnsync.sandboxes.udemy import create_app as udemy_app

QUICK = RetryPolicy(attempts=2, base_wait=0.01, max_wait=0.02, jitter=0.0, retry_after_cap=0.1)
DRIP = 0.05  # seconds per byte: a catalog page of some KB would take minutes


@pytest.fixture
def udemy():
    with SandboxServer(udemy_app(UdemySandboxConfig(n_courses=30, n_activities=0))) as srv:
        yield srv


def udemy_settings(url: str, **overrides) -> ProviderSettings:
    base = dict(base_url=url, org_id="100028", page_size=30, requests_per_second=1000, retry=QUICK, timeout_seconds=0.5)
    return ProviderSettings(**(base | overrides))


@pytest.mark.rule("RUN-17")
async def test_a_dripping_provider_fails_within_the_deadline_naming_its_host(udemy):
    faults = udemy.app.state.faults
    faults.add("drip", path=r"/courses/list/$", delay=DRIP, times=None)
    started = time.monotonic()
    async with UdemyClient(udemy_settings(udemy.url, request_deadline_seconds=1.0)) as client:
        async with asyncio.timeout(20):  # today's behaviour: minutes per page
            with pytest.raises(ApiError) as failure:
                await client.fetch_catalog_page("courses", None)
    elapsed = time.monotonic() - started
    assert elapsed < QUICK.attempts * 1.0 + 3.0, elapsed  # slack for a loaded machine; unbounded without a deadline
    message = str(failure.value)
    assert "deadline" in message and udemy.url in message, message
    assert faults.fired["drip"] == QUICK.attempts  # retried like any transient fault, then reported


@pytest.mark.rule("RUN-17")
async def test_one_dripped_answer_is_retried_and_the_page_comes_through(udemy):
    udemy.app.state.faults.add("drip", path=r"/courses/list/$", delay=DRIP, times=1)
    async with UdemyClient(udemy_settings(udemy.url, request_deadline_seconds=0.8)) as client:
        async with asyncio.timeout(20):
            page = await client.fetch_catalog_page("courses", None)
        assert len(page.records) == 30
        assert client.retry_stats.by_reason == {"deadline": 1}


@pytest.mark.rule("RUN-17")
async def test_the_default_deadline_is_a_multiple_of_the_timeout_on_360learning_too():
    app = lms360_app(Lms360SandboxConfig(rate_limits_enabled=False))
    with SandboxServer(app) as srv:
        app.state.faults.add("drip", path=r"/api/v2/users$", delay=DRIP, times=None)
        settings = Lms360Settings(base_url=srv.url, retry=QUICK, timeout_seconds=0.25)  # no deadline set: 4 x 0.25 s
        started = time.monotonic()
        async with Lms360Client(settings) as client:
            async with asyncio.timeout(20):
                with pytest.raises(ApiError) as failure:
                    await client.list_users()
        elapsed = time.monotonic() - started
    assert elapsed < QUICK.attempts * 1.0 + 3.0, elapsed  # slack for a loaded machine; unbounded without a deadline
    assert "deadline" in str(failure.value) and srv.url in str(failure.value)
    assert app.state.faults.fired["drip"] == QUICK.attempts


def test_a_deadline_setting_must_be_positive():
    with pytest.raises(ValueError):
        ProviderSettings(request_deadline_seconds=0)
    with pytest.raises(ValueError):
        Lms360Settings(request_deadline_seconds=-1)
    assert Lms360Settings().request_deadline_seconds is None  # the default: 4 x timeout_seconds


async def test_a_client_without_any_timeout_has_no_deadline():
    from learnsync.core.http import request_deadline, set_request_deadline

    async with httpx.AsyncClient(timeout=None) as plain:
        assert request_deadline(plain) is None
        assert request_deadline(set_request_deadline(plain, 3.0)) == 3.0
    async with httpx.AsyncClient(timeout=2.0) as timed:
        assert request_deadline(timed) == 8.0
