"""UdemyClient against the Udemy sandbox over real HTTP."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import SecretStr

from learnsync.http import FAST_RETRY, ApiError, PagingLoopError
from learnsync.settings import ProviderSettings
from providers.base import DateWindow
from providers.udemy import PROVIDER, UdemyClient
from sandboxes.server import SandboxServer
from sandboxes.udemy import UdemySandboxConfig, create_app
from sandboxes.udemy.data import activity_day

ANCHOR = date(2025, 11, 7)


@pytest.fixture(scope="module")
def sandbox():
    app = create_app(UdemySandboxConfig(n_courses=250, n_activities=400, anchor=ANCHOR))
    with SandboxServer(app) as srv:
        yield srv


def settings(url: str, **overrides) -> ProviderSettings:
    base = dict(base_url=url, org_id="100028", page_size=100, requests_per_second=1000, retry=FAST_RETRY)
    return ProviderSettings(**(base | overrides))


async def read_all(client: UdemyClient, stream: str) -> tuple[list[dict], int]:
    records, token, pages = [], None, 0
    while True:
        page = await client.fetch_catalog_page(stream, token)
        records += page.records
        pages += 1
        token = page.next_token
        if token is None:
            return records, pages


async def test_courses_are_paged_until_the_end(sandbox):
    async with UdemyClient(settings(sandbox.url)) as client:
        records, pages = await read_all(client, "courses")
    ids = [r["id"] for r in records]
    assert pages == 3
    assert len(ids) == len(set(ids)) == 250


async def test_page_token_is_the_page_number(sandbox):
    async with UdemyClient(settings(sandbox.url)) as client:
        first = await client.fetch_catalog_page("courses", None)
        second = await client.fetch_catalog_page("courses", first.next_token)
    assert first.next_token == "2" and second.next_token == "3"


async def test_learning_paths_stream_is_read(sandbox):
    async with UdemyClient(settings(sandbox.url)) as client:
        records, _ = await read_all(client, "learning_paths")
    assert records and all("sections" in r for r in records)


async def test_stats_window_is_half_open_and_filters_activity_dates(sandbox):
    window = DateWindow(since=date(2025, 11, 1), until=date(2025, 11, 4))
    async with UdemyClient(settings(sandbox.url, page_size=50)) as client:
        records, token = [], None
        while True:
            page = await client.fetch_stats_page(window, token)
            records += page.records
            if (token := page.next_token) is None:
                break
    expected = [r for r in sandbox.app.state.store.activities(None, None) if date(2025, 11, 1) <= (activity_day(r) or date.min) < date(2025, 11, 4)]
    assert records and len(records) == len(expected)
    assert {activity_day(r) for r in records} <= {date(2025, 11, 1), date(2025, 11, 2), date(2025, 11, 3)}


async def test_empty_stats_window_makes_no_call(sandbox):
    async with UdemyClient(settings(sandbox.url)) as client:
        page = await client.fetch_stats_page(DateWindow(since=date(2025, 11, 3), until=date(2025, 11, 3)), None)
    assert page.records == [] and page.next_token is None


async def test_bad_credentials_raise_api_error_without_the_secret(sandbox):
    secret = "wrong-secret-value"
    async with UdemyClient(settings(sandbox.url, client_secret=SecretStr(secret))) as client:
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("courses", None)
    assert caught.value.status == 401
    assert secret not in str(caught.value)


async def test_429_with_retry_after_is_retried_and_succeeds(sandbox):
    faults = sandbox.app.state.faults
    faults.add("status", status=429, retry_after=0.1, path="/courses/list/", times=2)
    async with UdemyClient(settings(sandbox.url)) as client:
        page = await client.fetch_catalog_page("courses", None)
    assert len(page.records) == 100
    assert client.stats.retries == 2


async def test_repeated_page_token_raises_paging_loop_error():
    app = create_app(UdemySandboxConfig(n_courses=50, n_activities=0, loop_on_page=2, anchor=ANCHOR))
    with SandboxServer(app) as srv:
        async with UdemyClient(settings(srv.url, page_size=10)) as client:
            with pytest.raises(PagingLoopError):
                await read_all(client, "courses")


async def test_invalid_records_do_not_break_a_page():
    app = create_app(UdemySandboxConfig(n_courses=10, n_activities=0, anchor=ANCHOR))
    app.state.store.upsert_course({"id": None, "title": ["not", "a", "title"]})
    with SandboxServer(app) as srv:
        async with UdemyClient(settings(srv.url)) as client:
            page = await client.fetch_catalog_page("courses", None)
    assert len(page.records) == 11
    assert {"id": None, "title": ["not", "a", "title"]} in page.records


def test_secrets_are_not_in_repr():
    client = UdemyClient(settings("http://127.0.0.1:1", client_secret=SecretStr("top-secret-42")))
    assert "top-secret-42" not in repr(client)
    assert "top-secret-42" not in repr(vars(client))


def test_provider_spec_declares_streams_and_schedules():
    assert PROVIDER.catalog_streams({}) == ("courses",)
    assert PROVIDER.catalog_streams({"learning_paths_sync": True}) == ("courses", "learning_paths")
    assert (PROVIDER.content_cron, PROVIDER.stats_cron) == ("30 7 * * *", "45 7 * * *")
    assert PROVIDER.default_options == {"tags_sync": False, "learning_paths_sync": False}
    assert isinstance(PROVIDER.make_client(settings("http://127.0.0.1:1")), UdemyClient)
