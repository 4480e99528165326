"""EdflexClient against the Edflex sandbox over real HTTP (no Prefect)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from learnsync.core.http import FAST_RETRY, ApiError, PagingLoopError
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page, page_digest
from learnsync.providers.edflex.client import EdflexClient
from learnsync.providers.edflex.models import RESOURCE_RECORD_KEYS, STATISTIC_RECORD_KEYS
from learnsync.sandboxes.edflex import EdflexSandboxConfig, create_app
from learnsync.sandboxes.server import SandboxServer
from tests.providers.known_pages import check_known_body_is_not_decoded

SECRET = "very-secret-edflex-value"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Any, str]]:
    app = create_app(EdflexSandboxConfig(n_courses=250, n_activities=120, client_secret=SECRET, seed=11))
    with SandboxServer(app) as server:
        yield app, server.url


@pytest.fixture(autouse=True)
def no_faults(sandbox: tuple[Any, str]) -> Iterator[None]:
    yield
    sandbox[0].state.faults.clear()


def make_client(url: str, **overrides: Any) -> EdflexClient:
    values: dict[str, Any] = dict(
        base_url=url, client_secret=SECRET, page_size=100, requests_per_second=500, retry=FAST_RETRY, timeout_seconds=5
    )
    values.update(overrides)
    return EdflexClient(ProviderSettings(**values))


async def all_pages(fetch: Any) -> list[Page]:
    pages, token = [], None
    while True:
        page = await fetch(token)
        pages.append(page)
        token = page.next_token
        if token is None:
            return pages


async def test_catalog_pages_until_the_end_with_every_id_once(sandbox: tuple[Any, str]) -> None:
    app, url = sandbox
    client = make_client(url)
    try:
        pages = await all_pages(lambda t: client.fetch_catalog_page("resources", t))
    finally:
        await client.aclose()
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [p.next_token for p in pages] == ["2", "3", None]
    ids = [r["id"] for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == 250
    assert set(ids) == set(app.state.store.resources)
    assert set(pages[0].records[0]) == set(RESOURCE_RECORD_KEYS)


def _second_parse(self: httpx.Response, **kwargs: Any) -> Any:
    raise AssertionError("body parsed twice")


async def test_token_and_pages_are_parsed_once(sandbox: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpx.Response, "json", _second_parse)  # send() parsed them; json_body hands them over
    client = make_client(sandbox[1])
    try:
        assert len((await client.fetch_catalog_page("resources", None)).records) == 100
    finally:
        await client.aclose()


async def test_catalog_second_traversal_starts_over(sandbox: tuple[Any, str]) -> None:
    client = make_client(sandbox[1], page_size=200)
    try:
        for _ in range(2):  # the loop guard is reset by a token-less first page
            assert len([r for p in await all_pages(lambda t: client.fetch_catalog_page("resources", t)) for r in p.records]) == 250
    finally:
        await client.aclose()


@pytest.mark.rule("EDFLEX-27")
async def test_stats_window_is_half_open_on_activity_dates(sandbox: tuple[Any, str]) -> None:
    app, url = sandbox
    store = app.state.store
    for i, day in enumerate(["2030-01-01", "2030-01-02", "2030-01-03"]):
        store.add_activity({"id": f"st-win-{i}", "userEmail": "learner1@example.com", "resourceId": "r-x",
                            "status": "completed", "lastActivityAt": f"{day}T23:30:00Z"})  # fmt: skip
    client = make_client(url)
    try:
        window = DateWindow(date(2030, 1, 1), date(2030, 1, 3))
        records = [r for p in await all_pages(lambda t: client.fetch_stats_page(window, t)) for r in p.records]
        everything = [r for p in await all_pages(lambda t: client.fetch_stats_page(DateWindow(), t)) for r in p.records]
    finally:
        await client.aclose()
    assert sorted(r["id"] for r in records) == ["st-win-0", "st-win-1"]
    assert set(records[0]) == set(STATISTIC_RECORD_KEYS)
    # Unbounded window = full history (first run, stats_full_history_first_run).
    assert len(everything) == len(store.statistics) == 123


async def test_bad_credentials_raise_api_error_without_the_secret(sandbox: tuple[Any, str]) -> None:
    client = make_client(sandbox[1], client_secret="wrong-" + SECRET)
    try:
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("resources", None)
    finally:
        await client.aclose()
    assert caught.value.status == 401
    assert caught.value.code == "401"
    assert SECRET not in str(caught.value)


async def test_429_with_retry_after_is_retried_and_succeeds(sandbox: tuple[Any, str]) -> None:
    app, url = sandbox
    rule = app.state.faults.add("status", status=429, retry_after=1, path="/connect/v1/resources", times=1)
    client = make_client(url)
    try:
        page = await client.fetch_catalog_page("resources", None)
    finally:
        await client.aclose()
    assert rule.fired == 1
    assert len(page.records) == 100


async def test_server_errors_and_dropped_connections_are_retried(sandbox: tuple[Any, str]) -> None:
    app, url = sandbox
    app.state.faults.add("status", status=503, path="/connect/v1/statistics", times=1)
    app.state.faults.add("drop", path="/connect/v1/statistics", times=1)
    client = make_client(url)
    try:
        page = await client.fetch_stats_page(DateWindow(), None)
    finally:
        await client.aclose()
    assert len(page.records) == 100


async def test_expired_token_is_renewed_once(sandbox: tuple[Any, str]) -> None:
    app, url = sandbox
    client = make_client(url)
    try:
        await client.fetch_catalog_page("resources", None)
        issued = app.state.tokens.issued
        app.state.tokens.expire_all()
        # Concurrent pages refused with the same stale token renew it only once.
        pages = await asyncio.gather(
            client.fetch_catalog_page("resources", "2"),
            client.fetch_catalog_page("resources", "3"),
            client.fetch_stats_page(DateWindow(), None),
        )
    finally:
        await client.aclose()
    assert [len(p.records) for p in pages] == [100, 50, 100]
    assert app.state.tokens.issued == issued + 1


async def test_repeated_page_token_raises_paging_loop_error() -> None:
    with SandboxServer(create_app(EdflexSandboxConfig(n_courses=30, n_activities=0, loop_next_link=True))) as server:
        client = make_client(server.url, client_secret="sandbox-secret", page_size=10)
        try:
            with pytest.raises(PagingLoopError):
                await all_pages(lambda t: client.fetch_catalog_page("resources", t))
        finally:
            await client.aclose()


async def test_malformed_record_does_not_break_the_page(sandbox: tuple[Any, str]) -> None:
    app, url = sandbox
    store = app.state.store
    store.upsert_course({"id": "r-broken", "attributes": {"title": {"fr": "x"}, "image": "not-a-dict", "categories": "x"}})
    client = make_client(url, page_size=300)
    try:
        page = await client.fetch_catalog_page("resources", None)
    finally:
        store.remove_course("r-broken")
        await client.aclose()
    broken = next(r for r in page.records if r["id"] == "r-broken")
    assert broken["title"] == {"fr": "x"} and broken["image_url"] == "not-a-dict" and broken["categories"] == []


async def test_secrets_are_not_in_the_client_repr(sandbox: tuple[Any, str]) -> None:
    client = make_client(sandbox[1])
    try:
        await client.fetch_catalog_page("resources", None)  # holds an access token now
        text = repr(client) + str(client)
    finally:
        await client.aclose()
    assert SECRET not in text
    assert "Bearer" not in text and "token" not in text.lower()


async def test_unknown_catalog_stream_is_rejected(sandbox: tuple[Any, str]) -> None:
    client = make_client(sandbox[1])
    try:
        with pytest.raises(ValueError):
            await client.fetch_catalog_page("courses", None)
    finally:
        await client.aclose()


async def test_a_page_parses_again_from_its_body(sandbox: tuple[Any, str]) -> None:
    """The retry cache keeps `Page.raw`; `parse_catalog_page` gives back the same page."""
    client = make_client(sandbox[1])
    try:
        await client.fetch_catalog_page("resources", None)
        fetched = await client.fetch_catalog_page("resources", "2")
        again = client.parse_catalog_page("resources", fetched.raw)
    finally:
        await client.aclose()
    assert fetched.raw and fetched.digest == page_digest(fetched.raw)  # links.next and meta: all in the body
    assert again.records == fetched.records
    assert (again.next_token, again.total) == (fetched.next_token, fetched.total) == ("3", 250)


async def test_a_known_page_body_comes_back_unparsed_but_page_one_always_parses(
    sandbox: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(sandbox[1])
    try:
        await check_known_body_is_not_decoded(client, "resources", "2", monkeypatch, total=250)
    finally:
        await client.aclose()


class _NextLinkWithoutPageNumber(httpx.AsyncBaseTransport):
    """The sandbox over real HTTP, its links.next rewritten to a cursor (no page[number])."""

    def __init__(self) -> None:
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._http.handle_async_request(request)
        content = await response.aread()
        await response.aclose()
        body = json.loads(content)
        if isinstance(body, dict) and (body.get("links") or {}).get("next"):
            body["links"]["next"] = body["links"]["next"].split("?")[0] + "?cursor=opaque"
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self._http.aclose()


async def test_a_page_paged_by_the_request_gets_no_digest_and_a_known_body_is_still_parsed(
    sandbox: tuple[Any, str]
) -> None:
    """Without page[number] in links.next the next token is the request's page number + 1: the
    body alone is not the page. The last page (no next link) is, but in such a walk it is
    parsed anyway, so a chunk never mixes an unparsed page with pages it cannot parse later."""
    app, url = sandbox
    client = EdflexClient(
        ProviderSettings(base_url=url, client_secret=SECRET, page_size=100, requests_per_second=500, retry=FAST_RETRY),
        transport=_NextLinkWithoutPageNumber(),
    )
    try:
        pages = await all_pages(lambda t: client.fetch_catalog_page("resources", t))
        assert [p.next_token for p in pages] == ["2", "3", None]
        assert [(p.raw is not None, p.digest is not None) for p in pages] == [(False, False), (False, False), (True, True)]
        client.known_pages = {pages[2].digest: None}
        again = await all_pages(lambda t: client.fetch_catalog_page("resources", t))
    finally:
        await client.aclose()
    assert again[2].records == pages[2].records


async def test_default_page_size_is_edflex_documented_50_and_paths_are_settings(sandbox: tuple[Any, str]) -> None:
    from learnsync.providers.edflex.settings import EdflexSettings

    app, url = sandbox
    settings = EdflexSettings(base_url=url, client_secret=SECRET, requests_per_second=500, retry=FAST_RETRY)
    assert settings.page_size == 50
    client = EdflexClient(settings)
    try:
        page = await client.fetch_catalog_page("resources", None)
    finally:
        await client.aclose()
    assert len(page.records) == 50 and page.next_token == "2"
    moved = EdflexClient(settings.model_copy(update={"resources_path": "/connect/v2/resources"}))
    try:
        with pytest.raises(ApiError) as caught:  # the sandbox has no such path: the setting is what is called
            await moved.fetch_catalog_page("resources", None)
    finally:
        await moved.aclose()
    assert caught.value.status == 404 and "/connect/v2/resources" in str(caught.value)
