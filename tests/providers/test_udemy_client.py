"""UdemyClient against the Udemy sandbox over real HTTP."""

from __future__ import annotations

import copy
import random
from datetime import UTC, date, datetime
from typing import Any, get_type_hints

import httpx
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from learnsync.core.http import FAST_RETRY, ApiError, PagingLoopError
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow
from learnsync.providers.kit.records import record_schema
from learnsync.providers.udemy import PROVIDER, UdemyClient, models
from learnsync.providers.udemy.client import RECORDS
from learnsync.sandboxes import data_faults
from learnsync.sandboxes.server import SandboxServer
from learnsync.sandboxes.udemy import UdemySandboxConfig, create_app
from learnsync.sandboxes.udemy.app import DATA_FAULT_STREAMS
from learnsync.sandboxes.udemy.data import activity_day, generate
from tests.providers.known_pages import check_known_body_is_not_decoded

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


async def test_a_page_parses_again_from_its_body(sandbox):
    """The retry cache keeps `Page.raw`; `parse_catalog_page` gives back the same page."""
    async with UdemyClient(settings(sandbox.url)) as client:
        fetched = await client.fetch_catalog_page("courses", "2")
        again = client.parse_catalog_page("courses", fetched.raw)
    assert fetched.raw and again.records == fetched.records
    assert (again.next_token, again.total) == (fetched.next_token, fetched.total) == ("3", 250)


async def test_a_known_page_body_comes_back_unparsed_but_page_one_always_parses(sandbox, monkeypatch):
    """The engine lists the digests of bodies it already mapped: the client need not parse them."""
    async with UdemyClient(settings(sandbox.url)) as client:
        await check_known_body_is_not_decoded(client, "courses", "2", monkeypatch, total=250)


@pytest.mark.rule("UDEMY-01")
async def test_learning_paths_stream_is_read(sandbox):
    async with UdemyClient(settings(sandbox.url)) as client:
        records, _ = await read_all(client, "learning_paths")
    assert records and all("sections" in r for r in records)


@pytest.mark.rule("UDEMY-35")
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


@pytest.mark.rule("UDEMY-35")
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
    assert client.retry_stats.retries == 2


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


async def test_pages_are_parsed_once(sandbox, monkeypatch):
    def second_parse(self: httpx.Response, **kwargs: Any) -> Any:
        raise AssertionError("page body parsed twice")

    monkeypatch.setattr(httpx.Response, "json", second_parse)  # send() parsed it; json_body hands it over
    async with UdemyClient(settings(sandbox.url)) as client:
        page = await client.fetch_catalog_page("courses", None)
    assert len(page.records) == 100


# --------------------------------------------------------------------------- record schemas

MODELS = [
    models.UdemyLocale, models.UdemyPromoVideo, models.UdemyCourse, models.UdemyEditor, models.UdemyPathItem,
    models.UdemyPathSection, models.UdemyLearningPath, models.UdemyCourseActivity,
]
ODD_VALUES = [None, "", "  x  ", 0, -1, 2.5, True, "12", [], {}, ["a", 1], {"locale": 3}, [{"label": 720, "file": None}]]


def _model_path(model: type[BaseModel], raw: Any) -> Any:
    """What the client used to do per record: the pydantic model, dumped without unset fields."""
    try:
        return model.model_validate(raw).model_dump(exclude_unset=True)
    except ValidationError:
        return raw if isinstance(raw, dict) else {"_raw": raw}


def _odd_records(records: list[dict], seed: int) -> list[Any]:
    """The records, then copies of some with odd values in two fields, then non-records."""
    rng = random.Random(seed)
    odd = []
    for record in rng.sample(records, min(len(records), 60)):
        record = copy.deepcopy(record)
        for key in rng.sample(sorted(record), min(len(record), 2)):
            record[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        odd.append(record)
    return records + odd + ["not a record", 7, None]


def test_record_schemas_have_the_model_fields():
    for model in MODELS:
        assert list(get_type_hints(record_schema(model))) == list(model.model_fields), model.__name__


@pytest.mark.parametrize("kind", ["courses", "learning_paths", "activity"])
def test_record_schemas_validate_pages_as_the_models_did(kind):
    data = generate(3, 300, 20, 400, n_learning_paths=40, anchor=ANCHOR)
    records = {"courses": data.courses, "learning_paths": data.learning_paths, "activity": data.activities}[kind]
    faults = data_faults.DataFaults(DATA_FAULT_STREAMS, seed=5, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    for fault in ("missing_required", "wrong_type", "negative_duration", "future_date", "duplicate_id_in_page", "unknown_language"):
        faults.set(fault, rate=0.05)
    served = faults.apply(kind, copy.deepcopy(records))
    model = models.RECORD_MODELS[kind]
    assert all(_model_path(model, raw) is not raw for raw in records)  # a clean page: validated whole
    for page in (copy.deepcopy(records), served, _odd_records(copy.deepcopy(records), 9)):
        expected = [_model_path(model, raw) for raw in copy.deepcopy(page)]
        # repr: same values, same types (1 is not 1.0) and the same key order
        assert repr(RECORDS[kind](page)[0]) == repr(expected)


def test_secrets_are_not_in_repr():
    client = UdemyClient(settings("http://127.0.0.1:1", client_secret=SecretStr("top-secret-42")))
    assert "top-secret-42" not in repr(client)
    assert "top-secret-42" not in repr(vars(client))


@pytest.mark.rule("UDEMY-01", "UDEMY-24")
def test_provider_spec_declares_streams_and_schedules():
    assert PROVIDER.catalog_streams({}) == ("courses",)
    assert PROVIDER.catalog_streams({"learning_paths_sync": True}) == ("courses", "learning_paths")
    assert (PROVIDER.content_cron, PROVIDER.stats_cron) == ("30 7 * * *", "45 7 * * *")
    assert PROVIDER.default_options == {"tags_sync": False, "learning_paths_sync": False}
    assert isinstance(PROVIDER.make_client(settings("http://127.0.0.1:1")), UdemyClient)
