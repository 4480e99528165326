"""OpenClassrooms client against the sandbox over real HTTP (no Prefect)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from learnsync.core.http import FAST_RETRY, ApiError, PagingLoopError
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, page_digest
from learnsync.providers.openclassrooms.client import OpenClassroomsClient
from learnsync.sandboxes.openclassrooms import OpenClassroomsSandboxConfig, create_app
from learnsync.sandboxes.server import SandboxServer

SECRET = "s3cr3t-do-not-leak"


def make_settings(url: str, **overrides) -> ProviderSettings:
    values = dict(
        base_url=url, client_id="oc-client", client_secret=SecretStr(SECRET), org_id="org-4242",
        page_size=100, requests_per_second=1000, timeout_seconds=5, retry=FAST_RETRY,
    )  # fmt: skip
    values.update(overrides)
    return ProviderSettings(**values)


def sandbox(**overrides):
    config = OpenClassroomsSandboxConfig(client_id="oc-client", client_secret=SECRET, **overrides)
    return create_app(config)


async def read_catalog(client: OpenClassroomsClient) -> tuple[list[dict], int]:
    records, token, pages = [], None, 0
    while True:
        page = await client.fetch_catalog_page("courses", token)
        records += page.records
        pages += 1
        token = page.next_token
        if token is None:
            return records, pages


async def read_stats(client: OpenClassroomsClient, window: DateWindow) -> list[dict]:
    records, token = [], None
    while True:
        page = await client.fetch_stats_page(window, token)
        records += page.records
        token = page.next_token
        if token is None:
            return records


@pytest.fixture(scope="module")
def server():
    app = sandbox(n_courses=250, n_activities=300)
    with SandboxServer(app) as srv:
        yield srv, app


async def test_catalog_pages_until_the_end_with_every_id_once(server):
    srv, app = server
    client = OpenClassroomsClient(make_settings(srv.url))
    try:
        records, pages = await read_catalog(client)
    finally:
        await client.aclose()
    ids = [r["id"] for r in records]
    assert pages == 3 and len(ids) == 250 and len(set(ids)) == 250
    assert set(map(str, ids)) == set(app.state.store.courses)
    assert {"title", "url", "duration_hours", "image_url"} <= set(records[0])  # Python names, not wire names


def _second_parse(self: httpx.Response, **kwargs: Any) -> Any:
    raise AssertionError("body parsed twice")


async def test_token_and_pages_are_parsed_once(server, monkeypatch):
    monkeypatch.setattr(httpx.Response, "json", _second_parse)  # send() parsed them; json_body hands them over
    srv, _ = server
    client = OpenClassroomsClient(make_settings(srv.url))
    try:
        assert len((await client.fetch_catalog_page("courses", None)).records) == 100
    finally:
        await client.aclose()


async def test_token_is_cached_across_pages(server):
    srv, app = server
    before = app.state.requests["token"]
    client = OpenClassroomsClient(make_settings(srv.url))
    try:
        await read_catalog(client)
        await read_catalog(client)
    finally:
        await client.aclose()
    assert app.state.requests["token"] - before == 1


async def test_expired_token_is_renewed_on_401(server):
    srv, app = server
    client = OpenClassroomsClient(make_settings(srv.url))
    try:
        first = await client.fetch_catalog_page("courses", None)
        app.state.tokens.clear()  # the server forgets every token: the next call gets a 401
        second = await client.fetch_catalog_page("courses", first.next_token)
    finally:
        await client.aclose()
    assert len(second.records) == 100


@pytest.mark.rule("OC-16")
async def test_stats_window_is_half_open_on_activity_day():
    app = sandbox(n_activities=0)
    store = app.state.store
    days = {"before": "2025-10-31T23:59:59Z", "first": "2025-11-01T00:00:00Z", "last": "2025-11-06T23:00:00Z", "until": "2025-11-07T08:00:00Z"}
    for name, when in days.items():
        store.add_activity({"userEmail": f"{name}@example.com", "courseId": 1, "progress": 10, "timeSpent": 6,
                            "startedAt": "2025-10-01T00:00:00Z", "lastActivityAt": when, "completedAt": None})  # fmt: skip
    with SandboxServer(app) as srv:
        client = OpenClassroomsClient(make_settings(srv.url))
        try:
            inside = await read_stats(client, DateWindow(since=date(2025, 11, 1), until=date(2025, 11, 7)))
            everything = await read_stats(client, DateWindow())
            empty = await read_stats(client, DateWindow(since=date(2025, 11, 7), until=date(2025, 11, 7)))
        finally:
            await client.aclose()
    assert sorted(r["user_email"] for r in inside) == ["first@example.com", "last@example.com"]
    assert len(everything) == 4 and empty == []
    assert inside[0]["time_spent_minutes"] == 6  # renamed from the wire's timeSpent


async def test_stats_pages_through_all_progress_rows(server):
    srv, app = server
    client = OpenClassroomsClient(make_settings(srv.url, page_size=64))
    try:
        rows = await read_stats(client, DateWindow())
    finally:
        await client.aclose()
    assert len(rows) == len(app.state.store.activities) == 300


async def test_bad_credentials_raise_api_error_without_the_secret(server):
    srv, _ = server
    client = OpenClassroomsClient(make_settings(srv.url, client_secret=SecretStr("wrong-" + SECRET)))
    try:
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("courses", None)
    finally:
        await client.aclose()
    assert caught.value.status == 401 and caught.value.code == "invalid_client"
    assert SECRET not in str(caught.value)


async def test_wrong_organization_is_refused(server):
    srv, _ = server
    client = OpenClassroomsClient(make_settings(srv.url, org_id="someone-else"))
    try:
        with pytest.raises(ApiError) as caught:
            await client.fetch_catalog_page("courses", None)
    finally:
        await client.aclose()
    assert caught.value.status == 403 and caught.value.code == "access_denied"


async def test_429_with_retry_after_is_retried_and_succeeds(server):
    srv, app = server
    app.state.faults.add("status", status=429, retry_after=0.2, path="/courses", times=1)
    client = OpenClassroomsClient(make_settings(srv.url))
    try:
        page = await client.fetch_catalog_page("courses", None)
    finally:
        await client.aclose()
        app.state.faults.clear()
    assert len(page.records) == 100 and app.state.faults.fired.get("status:429", 0) >= 1


async def test_sandbox_rate_limit_429_is_absorbed():
    app = sandbox(n_courses=120, requests_per_second=5, retry_after_on_429=0.2)
    with SandboxServer(app) as srv:
        client = OpenClassroomsClient(make_settings(srv.url, page_size=20))
        try:
            records, pages = await read_catalog(client)
        finally:
            await client.aclose()
    assert pages == 6 and len(records) == 120 and app.state.requests["throttled"] >= 1


async def test_repeated_page_token_raises_paging_loop_error():
    app = sandbox(n_courses=250, repeat_page=True)
    with SandboxServer(app) as srv:
        client = OpenClassroomsClient(make_settings(srv.url))
        try:
            with pytest.raises(PagingLoopError):
                await read_catalog(client)
        finally:
            await client.aclose()


async def test_malformed_records_do_not_break_a_page():
    app = sandbox(n_courses=200, bad_ratio=0.3)
    with SandboxServer(app) as srv:
        client = OpenClassroomsClient(make_settings(srv.url, page_size=200))
        try:
            page = await client.fetch_catalog_page("courses", None)
        finally:
            await client.aclose()
    assert len(page.records) == 200 and page.next_token is None
    assert any(r.get("duration_hours") == "ten hours" for r in page.records)  # passed on raw for quarantine


async def test_secrets_are_not_in_the_client_repr(server):
    srv, _ = server
    client = OpenClassroomsClient(make_settings(srv.url))
    try:
        await client.fetch_catalog_page("courses", None)
        text = repr(client)
        token = await client.tokens.token()
    finally:
        await client.aclose()
    assert SECRET not in text and "Bearer" not in text and token not in text


async def test_a_catalog_page_digest_covers_its_content_range_and_request(server):
    """Next token and total come from the status and Content-Range (and the requested start and
    size when it lacks them): the digest covers them with the body. The body alone cannot give
    the page back, so the client keeps no `raw`, parses no body again and leaves no page unparsed."""
    srv, _ = server
    seen: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    http = httpx.AsyncClient(base_url=srv.url, event_hooks={"response": [keep]})
    client = OpenClassroomsClient(make_settings(srv.url), http=http)
    try:
        await client.fetch_catalog_page("courses", None)
        page = await client.fetch_catalog_page("courses", "100")
        stats = await client.fetch_stats_page(DateWindow(), None)
    finally:
        await http.aclose()
    response = seen[-2]  # the second catalog page (after the token and page 1)
    head = json.dumps([206, response.headers["Content-Range"], 100, 100]).encode()
    assert page.digest == page_digest(head + b"\0" + response.content) != page_digest(response.content)
    assert page.raw is None and stats.digest is None
    with pytest.raises(ValueError):
        client.parse_catalog_page("courses", response.content)
    http2 = httpx.AsyncClient(base_url=srv.url)
    again_client = OpenClassroomsClient(make_settings(srv.url), http=http2)
    again_client.known_pages = {page.digest: page.next_token}
    try:
        await again_client.fetch_catalog_page("courses", None)
        again = await again_client.fetch_catalog_page("courses", "100")
    finally:
        await http2.aclose()
    assert again.records == page.records  # a known digest is still parsed


async def test_a_grown_catalog_changes_page_one_digest_though_its_body_is_the_same():
    app = sandbox(n_courses=150, n_activities=0)
    with SandboxServer(app) as srv:
        client = OpenClassroomsClient(make_settings(srv.url))
        try:
            before = await client.fetch_catalog_page("courses", None)
            unchanged = await client.fetch_catalog_page("courses", None)
            app.state.store.upsert_course({**next(iter(app.state.store.courses.values())), "id": 999_999})
            grown = await client.fetch_catalog_page("courses", None)
        finally:
            await client.aclose()
    assert unchanged.digest == before.digest  # same page, same digest: its mapping is reused
    assert grown.records == before.records and (before.total, grown.total) == (150, 151)
    assert grown.digest != before.digest


async def test_the_partner_api_paths_are_settings(server):
    from learnsync.providers.openclassrooms.settings import OpenClassroomsSettings

    srv, _ = server
    base = make_settings(srv.url).model_dump()
    settings = OpenClassroomsSettings(**base)
    client = OpenClassroomsClient(settings)
    try:
        assert len((await client.fetch_catalog_page("courses", None)).records) == 100
    finally:
        await client.aclose()
    moved = OpenClassroomsClient(OpenClassroomsSettings(**{**base, "catalog_path": "/v2/partners/{partner_id}/catalog"}))
    try:
        with pytest.raises(ApiError) as caught:
            await moved.fetch_catalog_page("courses", None)
    finally:
        await moved.aclose()
    assert caught.value.status == 404 and "/v2/partners/org-4242/catalog" in str(caught.value)
