"""The standard tests every registered provider with a sandbox runs, derived from the registry
(a new provider gets them without a line here): its real client against its sandbox over real
HTTP, no Prefect. Data faults (bad records, skipped and repeated pages) have their own shared
suite in tests/sandboxes/test_data_faults.py; provider-specific behaviour stays in
tests/providers/test_<key>_client.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from learnsync.core.http import FAST_RETRY, ApiError
from learnsync.providers.base import MappingContext, Page
from learnsync.providers.registry import get_provider
from learnsync.sandboxes.fleet import provider_sandboxes, sandbox_app
from learnsync.sandboxes.server import SandboxServer
from learnsync.tasks.extract import record_keys

PAGE_SIZE = 25
MAX_PAGES = 500  # a walk longer than this is a loop the client did not catch


def client_for(key: str, url: str, **overrides: Any) -> Any:
    spec = get_provider(key)
    values: dict[str, Any] = {"base_url": url, "page_size": PAGE_SIZE, "requests_per_second": 1000, "retry": FAST_RETRY, "timeout_seconds": 5}
    return spec.make_client(spec.settings_model(**{**values, **overrides}))


def streams(key: str) -> tuple[str, ...]:
    spec = get_provider(key)
    return spec.catalog_streams(dict(spec.default_options))


async def walk(client: Any, stream: str) -> list[Page]:
    pages, token = [], None
    while len(pages) < MAX_PAGES:
        page = await client.fetch_catalog_page(stream, token)
        pages.append(page)
        token = page.next_token
        if token is None or not page.records:
            return pages
    raise AssertionError(f"{stream}: more than {MAX_PAGES} pages")


def read(key: str, url: str, stream: str, **overrides: Any) -> tuple[list[Page], Any]:
    async def go() -> tuple[list[Page], Any]:
        client = client_for(key, url, **overrides)
        try:
            return await walk(client, stream), client
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module", params=provider_sandboxes())
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, str]]:
    key = request.param
    app = sandbox_app(key, seed=5, n_courses=130)
    with SandboxServer(app) as server:
        yield key, app, server.url


@pytest.fixture(autouse=True)
def no_faults(served: tuple[str, Any, str]) -> Iterator[None]:
    yield
    served[1].state.faults.clear()


def test_every_catalog_record_is_read_once_and_agrees_with_the_announced_total(served: tuple[str, Any, str]) -> None:
    key, _, url = served
    for stream in streams(key):
        pages, _ = read(key, url, stream)
        records = [r for p in pages for r in p.records or []]
        assert len(record_keys(records)) == len(records), f"{key}/{stream}: a record was served twice"
        if pages[0].total is not None:
            assert len(records) == pages[0].total, f"{key}/{stream}: read {len(records)} of {pages[0].total}"
    first = streams(key)[0]
    pages, _ = read(key, url, first)
    assert sum(len(p.records or []) for p in pages) >= 130 and len(pages) > 1  # several pages at PAGE_SIZE


def test_the_announced_later_pages_are_the_pages_a_sequential_walk_reads(served: tuple[str, Any, str]) -> None:
    key, _, url = served

    async def go() -> tuple[list[Page], list[Page] | None]:
        stream = streams(key)[0]
        sequential, announcing = client_for(key, url), client_for(key, url)  # a walk's loop guard is per client
        try:
            pages = await walk(sequential, stream)
            first = await announcing.fetch_catalog_page(stream, None)
            tokens = announcing.catalog_page_tokens(stream, first)
            if tokens is None:
                return pages, None
            return pages, [await announcing.fetch_catalog_page(stream, t) for t in tokens]
        finally:
            await sequential.aclose()
            await announcing.aclose()

    sequential, announced = asyncio.run(go())
    if announced is None:
        pytest.skip(f"{key} does not announce its later pages")
    seen = sorted(record_keys([r for p in sequential[1:] for r in p.records or []]))
    assert sorted(record_keys([r for p in announced for r in p.records or []])) == seen


def test_transient_answers_are_retried_and_counted(served: tuple[str, Any, str]) -> None:
    key, app, url = served
    app.state.faults.add("status", status=503, times=2)
    pages, client = read(key, url, streams(key)[0])
    assert sum(len(p.records or []) for p in pages) >= 130
    assert (client.retry_stats.by_reason or {}).get("http503") == 2


def test_an_unauthorized_answer_renews_a_token_once_and_basic_credentials_fail_clearly(served: tuple[str, Any, str]) -> None:
    key, app, url = served

    async def go() -> tuple[Any, Any]:
        client = client_for(key, url)
        try:
            stream = streams(key)[0]
            await client.fetch_catalog_page(stream, None)  # the token, if any, is fetched here
            app.state.faults.add("status", status=401, times=1)
            try:
                return await client.fetch_catalog_page(stream, None), client
            except ApiError as exc:
                return exc, client
        finally:
            await client.aclose()

    outcome, client = asyncio.run(go())
    if client.tokens is not None:
        assert isinstance(outcome, Page) and outcome.records, f"{key}: the page after a renewed token"
    else:
        assert isinstance(outcome, ApiError) and outcome.status == 401
        assert str(client.settings.client_secret.get_secret_value()) not in str(outcome)


def test_an_empty_catalog_is_a_walk_of_one_page_without_records() -> None:
    for key in provider_sandboxes():
        with SandboxServer(sandbox_app(key, seed=5, n_courses=0)) as server:
            pages, _ = read(key, server.url, streams(key)[0])
        assert len(pages) == 1 and not pages[0].records and pages[0].total in (None, 0), key


def test_the_sandbox_serves_the_same_data_for_the_same_seed_and_other_data_for_another() -> None:
    for key in provider_sandboxes():
        stream = streams(key)[0]
        firsts = []
        for seed in (5, 5, 6):
            with SandboxServer(sandbox_app(key, seed=seed, n_courses=40)) as server:
                pages, _ = read(key, server.url, stream)
            firsts.append([r for p in pages for r in p.records or []])
        assert firsts[0] == firsts[1], f"{key}: same seed, other data"
        assert firsts[0] != firsts[2], f"{key}: another seed, same data"


def test_the_mapping_turns_every_record_read_into_a_course_a_quarantine_row_or_an_ignored_row(served: tuple[str, Any, str]) -> None:
    import pandas as pd

    key, _, url = served
    spec = get_provider(key)
    for stream in streams(key):
        pages, _ = read(key, url, stream)
        records = [r for p in pages for r in p.records or []]
        result = spec.map_catalog(pd.DataFrame.from_records(records), stream, MappingContext(options=dict(spec.default_options)))
        accounted = set(result.courses["externalId"].astype(str)) | set(result.quarantine["external_id"].astype(str)) | set(
            result.ignored["external_id"].astype(str)
        )
        assert len(accounted) >= len(record_keys(records)) > 0, f"{key}/{stream}: records vanished in the mapping"
