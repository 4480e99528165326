"""Coursera client against the Coursera sandbox over real HTTP (no Prefect)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from learnsync.core.http import FAST_RETRY, ApiError, PagingLoopError
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page, page_digest
from learnsync.providers.coursera import PROVIDER
from learnsync.providers.coursera.client import CourseraClient
from learnsync.providers.coursera.settings import CourseraSettings
from learnsync.sandboxes.coursera import CourseraSandboxConfig, create_app
from learnsync.sandboxes.server import SandboxServer
from tests.providers.known_pages import check_known_body_is_not_decoded

ORG = "Xy12AbOrg"


def make_settings(url: str, **changes: Any) -> ProviderSettings:
    # The legacy refresh-token grant, whose token endpoint the sandbox serves on its own host.
    values: dict[str, Any] = dict(base_url=url, org_id=ORG, client_id="learnsync-client", client_secret=SecretStr("sandbox-secret"),
                                  refresh_token=SecretStr("sandbox-refresh-token"), refresh_token_url=f"{url}/oauth2/v1/token",
                                  page_size=100, requests_per_second=200, timeout_seconds=5, retry=FAST_RETRY)
    values.update(changes)
    return CourseraSettings(**values)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(create_app(CourseraSandboxConfig(n_courses=250, n_activities=400))) as srv:
        yield srv


@asynccontextmanager
async def open_client(url: str, **changes: Any) -> AsyncIterator[CourseraClient]:
    # Clients are opened inside each test so they live on the test's own event loop.
    c = CourseraClient(make_settings(url, **changes))
    try:
        yield c
    finally:
        await c.aclose()


async def walk_catalog(client: CourseraClient) -> list[Page]:
    pages, token = [], None
    while True:
        page = await client.fetch_catalog_page("contents", token)
        pages.append(page)
        token = page.next_token
        if token is None:
            return pages


async def walk_stats(client: CourseraClient, window: DateWindow) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    token = None
    while True:
        page = await client.fetch_stats_page(window, token)
        records.extend(page.records)
        token = page.next_token
        if token is None:
            return records


def ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


async def test_catalog_pages_until_the_end_with_every_id_once(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        pages = await walk_catalog(client)
        assert len(pages) == 3
        ids = [r["id"] for p in pages for r in p.records]
        assert len(ids) == len(set(ids)) == 250
        assert set(ids) == set(server.app.state.store.contents)
        assert [p.next_token for p in pages] == ["100", "200", None]


def _second_parse(self: httpx.Response, **kwargs: Any) -> Any:
    raise AssertionError("body parsed twice")


async def test_token_and_pages_are_parsed_once(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpx.Response, "json", _second_parse)  # send() parsed them; json_body hands them over
    async with open_client(server.url) as client:
        assert len((await client.fetch_catalog_page("contents", None)).records) == 100


async def test_provider_spec_builds_the_client(server: SandboxServer) -> None:
    c = PROVIDER.make_client(make_settings(server.url))
    try:
        assert len((await c.fetch_catalog_page("contents", None)).records) == 100
    finally:
        await c.aclose()


async def test_stats_walk_every_program_and_every_row_once(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        records = await walk_stats(client, DateWindow())
        assert sorted(r["id"] for r in records) == sorted(server.app.state.store.enrollments)


@pytest.mark.rule("COURSERA-27")
async def test_stats_window_filters_last_activity(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        window = DateWindow(since=date(2025, 9, 1), until=date(2025, 11, 1))
        records = await walk_stats(client, window)
        expected = {e["id"] for e in server.app.state.store.enrollments.values()
                    if e["lastActivityAt"] and ms(window.since) <= e["lastActivityAt"] < ms(window.until)}
        assert expected and {r["id"] for r in records} == expected


@pytest.mark.rule("COURSERA-27")
async def test_stats_window_keeps_activity_at_midnight_of_since(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        row = {"id": "edge~p~c", "externalId": "learner1@example.com", "programId": server.app.state.store.programs[0]["id"],
               "contentId": "c", "contentType": "Course", "lastActivityAt": ms(date(2025, 10, 1))}
        server.app.state.store.add_activity(row)
        records = await walk_stats(client, DateWindow(since=date(2025, 10, 1), until=date(2025, 10, 2)))
        assert "edge~p~c" in {r["id"] for r in records}


async def test_bad_credentials_raise_api_error(server: SandboxServer) -> None:
    async with open_client(server.url, client_secret=SecretStr("wrong-secret")) as client:
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("contents", None)
    assert caught.value.status == 401 and caught.value.code == "invalid_client"
    assert "wrong-secret" not in str(caught.value)


async def test_client_credentials_flow_without_refresh_token(server: SandboxServer) -> None:
    async with open_client(server.url, refresh_token=None) as client:
        assert len((await client.fetch_catalog_page("contents", None)).records) == 100
    assert server.app.state.auth.refreshed == 0  # no refresh_token grant was used
    async with open_client(server.url, refresh_token=None, client_secret=SecretStr("nope")) as bad:
        with pytest.raises(ApiError) as caught:
            await bad.fetch_catalog_page("contents", None)
    assert caught.value.code == "invalid_client"


async def test_expired_refresh_token_raises_invalid_grant(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        server.app.state.auth.expire_refresh_token()
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("contents", None)
        assert caught.value.status == 400 and caught.value.code == "invalid_grant"


async def test_access_token_is_cached_and_renewed_on_401(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        await client.fetch_catalog_page("contents", None)
        await client.fetch_catalog_page("contents", "100")
        assert server.app.state.auth.issued == 1  # cached
        server.app.state.auth.expire_access_tokens()
        page = await client.fetch_catalog_page("contents", "200")
        assert len(page.records) == 50
        assert server.app.state.auth.issued == 2
        assert client.retry_stats.by_reason == {"unauthorized": 1}


async def test_429_with_retry_after_is_retried_and_succeeds(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        server.app.state.faults.add("status", status=429, retry_after=1, path="/contents", times=1)
        page = await client.fetch_catalog_page("contents", None)
        assert len(page.records) == 100
        assert server.app.state.faults.fired == {"status:429": 1}
        assert client.retry_stats.retries == 1


async def test_repeated_page_token_raises_paging_loop_error() -> None:
    with SandboxServer(create_app(CourseraSandboxConfig(n_courses=350, n_activities=5, repeat_page_token=True))) as srv:
        async with open_client(srv.url) as client:
            with pytest.raises(PagingLoopError):
                await walk_catalog(client)


async def test_invalid_record_does_not_break_the_page(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        store = server.app.state.store
        for content_id in list(store.contents):
            store.remove_course(content_id)
        store.upsert_course({"id": "Course~bad", "partners": "not a list", "name": ["nope"]})
        store.upsert_course({"id": "Course~ok", "name": "Fine", "extraMetadata": {"definition": {"estimatedLearningTime": "3600"}}})
        page = await client.fetch_catalog_page("contents", None)
        assert [r["id"] for r in page.records] == ["Course~bad", "Course~ok"]
        assert page.records[0]["partners"] == "not a list"  # kept raw for the mapping to quarantine
        assert page.records[1]["extraMetadata"]["definition"]["estimatedLearningTime"] == 3600.0
        assert client.invalid_records == 1


async def test_wrong_org_raises_forbidden(server: SandboxServer) -> None:
    async with open_client(server.url, org_id="OtherOrg") as client:
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("contents", None)
    assert caught.value.status == 403 and caught.value.code == "FORBIDDEN"


async def test_secrets_are_not_in_repr(server: SandboxServer) -> None:
    async with open_client(server.url) as client:
        await client.fetch_catalog_page("contents", None)
        text = repr(client) + str(client)
        assert "sandbox-secret" not in text and "sandbox-refresh-token" not in text
        token = await client.tokens.token()
        assert token and token not in text


async def test_a_page_parses_again_from_its_body(server: SandboxServer) -> None:
    """The retry cache keeps `Page.raw`; `parse_catalog_page` gives back the same page."""
    async with open_client(server.url) as client:
        await client.fetch_catalog_page("contents", None)
        fetched = await client.fetch_catalog_page("contents", "100")
        again = client.parse_catalog_page("contents", fetched.raw)
    assert fetched.raw and fetched.digest == page_digest(fetched.raw)  # records, next and total: all in the body
    assert again.records == fetched.records
    assert (again.next_token, again.total) == (fetched.next_token, fetched.total) == ("200", 250)


async def test_a_known_page_body_comes_back_unparsed_but_page_one_always_parses(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(server.url) as client:
        await check_known_body_is_not_decoded(client, "contents", "100", monkeypatch, total=250)

async def test_default_settings_use_client_credentials_at_the_api_host_and_the_ent_api_prefix(server: SandboxServer) -> None:
    settings = CourseraSettings(base_url=server.url, retry=FAST_RETRY)
    assert settings.refresh_token is None and settings.api_prefix == "/ent/api"
    client = CourseraClient(settings)
    try:
        assert client.token_url == "/oauth2/client_credentials/token"
        assert client.path("contents") == f"/ent/api/businesses.v1/{ORG}/contents"
        assert len((await client.fetch_catalog_page("contents", None)).records) == 100
    finally:
        await client.aclose()
    assert server.app.state.auth.refreshed == 0 and server.app.state.auth.issued == 1


def test_an_empty_refresh_token_in_the_environment_turns_the_legacy_grant_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from learnsync.providers.coursera.client import token_grant
    from learnsync.providers.kit.auth import ClientCredentialsGrant, RefreshTokenGrant
    from learnsync.providers.settings import Settings

    monkeypatch.setenv("LEARNSYNC_COURSERA__REFRESH_TOKEN", "r3fr3sh")
    legacy = Settings().coursera
    assert isinstance(token_grant(legacy)[1], RefreshTokenGrant)
    monkeypatch.setenv("LEARNSYNC_COURSERA__REFRESH_TOKEN", "")
    cleared = Settings().coursera
    assert isinstance(token_grant(cleared)[1], ClientCredentialsGrant)


async def test_a_legacy_tenant_is_read_under_its_api_prefix() -> None:
    with SandboxServer(create_app(CourseraSandboxConfig(n_courses=30, n_activities=5, api_prefix="/api"))) as srv:
        async with open_client(srv.url, api_prefix="/api") as legacy:
            assert len((await legacy.fetch_catalog_page("contents", None)).records) == 30
        async with open_client(srv.url) as current:  # the /ent/api default is not served there
            with pytest.raises(ApiError):
                await current.fetch_catalog_page("contents", None)
