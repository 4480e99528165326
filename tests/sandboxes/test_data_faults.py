"""Data-level faults, the same switches on every provider sandbox (sandboxes/data_faults.py).

Each provider sandbox runs once per module on loopback; every test switches one fault over HTTP,
reads the stream with the provider's real client, maps it with the provider's real mapping, and
compares with a clean read. Faulty records are quarantined (or handled by the rule the provider's
mapping documents: clamp, fallback, unset...) while the rest maps as before; nothing raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pandas as pd
import pytest
from pydantic import SecretStr

from learnsync.core.http import FAST_RETRY, PagingLoopError
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import CatalogResult, DateWindow, MappingContext, Page, StatsResult
from learnsync.providers.registry import get_provider
from learnsync.sandboxes import data_faults as df
from learnsync.sandboxes.server import SandboxServer

NOW = datetime.now(UTC)
CTX = MappingContext(owner_lang="en", now=NOW)
PAGE_SIZE = 20


def _udemy() -> Any:
    from learnsync.sandboxes.udemy import UdemySandboxConfig, create_app

    return create_app(UdemySandboxConfig(n_courses=70, n_activities=90, n_learning_paths=1, anchor=date(2025, 11, 7)))


def _coursera() -> Any:
    from learnsync.sandboxes.coursera import CourseraSandboxConfig, create_app

    return create_app(CourseraSandboxConfig(n_courses=70, n_activities=90, n_programs=2))


def _edflex() -> Any:
    from learnsync.sandboxes.edflex import EdflexSandboxConfig, create_app

    return create_app(EdflexSandboxConfig(n_courses=90, n_activities=90, bad_record_ratio=0.0))


def _openclassrooms() -> Any:
    from learnsync.sandboxes.openclassrooms import OpenClassroomsSandboxConfig, create_app

    return create_app(OpenClassroomsSandboxConfig(n_courses=70, n_activities=90))


@dataclass(frozen=True)
class Provider:
    key: str
    make_app: Callable[[], Any]
    stream: str  # catalog stream the engine reads
    org_id: str | None
    # how each mapping handles each record kind (see the notes of each sandbox's DATA_FAULT_STREAMS)
    catalog: dict[str, str]
    stats: dict[str, str]


# Outcomes: quarantine | unset (field left NA) | kept (passed on) | fallback (owner language)
# | dup-ignored | dup-quarantined | dup-unflagged | clamped | zero-progress | na (kind not applicable)
_COMMON_STATS = {
    "missing_required": "quarantine",
    "wrong_type": "quarantine",
    "bad_email": "quarantine",
    "progress_out_of_range": "clamped",
    "negative_duration": "unset",
    "future_date": "kept",
    "duplicate_id_in_page": "dup-unflagged",
    "unknown_language": "na",
}
PROVIDERS = {
    "udemy": Provider(
        "udemy", _udemy, "courses", "100028",
        catalog={"missing_required": "quarantine", "wrong_type": "quarantine", "negative_duration": "unset",
                 "future_date": "kept", "duplicate_id_in_page": "dup-ignored", "unknown_language": "fallback"},
        stats=_COMMON_STATS,
    ),
    "coursera": Provider(
        "coursera", _coursera, "contents", "Xy12AbOrg",
        catalog={"missing_required": "quarantine", "wrong_type": "quarantine", "negative_duration": "unset",
                 "future_date": "kept", "duplicate_id_in_page": "dup-quarantined", "unknown_language": "quarantine"},
        stats=_COMMON_STATS,
    ),
    "edflex": Provider(
        "edflex", _edflex, "resources", None,
        catalog={"missing_required": "quarantine", "wrong_type": "quarantine", "negative_duration": "unset",
                 "future_date": "na", "duplicate_id_in_page": "dup-unflagged", "unknown_language": "fallback"},
        stats={**_COMMON_STATS, "progress_out_of_range": "zero-progress"},
    ),
    "openclassrooms": Provider(
        "openclassrooms", _openclassrooms, "courses", "org-4242",
        catalog={"missing_required": "quarantine", "wrong_type": "quarantine", "negative_duration": "unset",
                 "future_date": "na", "duplicate_id_in_page": "dup-quarantined", "unknown_language": "fallback"},
        stats=_COMMON_STATS,
    ),
}
for _p in PROVIDERS.values():
    for _kind in df.RECORD_KINDS:
        _p.catalog.setdefault(_kind, "na")  # bad_email, progress_out_of_range: activity only


@dataclass
class Env:
    provider: Provider
    server: SandboxServer
    clean_catalog: tuple[list[dict[str, Any]], CatalogResult]
    clean_stats: tuple[list[dict[str, Any]], StatsResult]

    @property
    def app(self) -> Any:
        return self.server.app

    def admin(self, method: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.server.url + "/_sandbox/data-faults", timeout=10, **kwargs)

    def client(self) -> Any:
        settings = ProviderSettings(
            base_url=self.server.url, org_id=self.provider.org_id, client_secret=SecretStr("sandbox-secret"),
            page_size=PAGE_SIZE, requests_per_second=10_000, timeout_seconds=5, retry=FAST_RETRY,
        )  # fmt: skip
        return get_provider(self.provider.key).make_client(settings)

    def catalog(self) -> tuple[list[dict[str, Any]], list[Page]]:
        return asyncio.run(_walk(self.client(), lambda c, t: c.fetch_catalog_page(self.provider.stream, t)))

    def stats(self) -> tuple[list[dict[str, Any]], list[Page]]:
        return asyncio.run(_walk(self.client(), lambda c, t: c.fetch_stats_page(DateWindow(), t)))

    def map_catalog(self, records: list[dict[str, Any]]) -> CatalogResult:
        return get_provider(self.provider.key).map_catalog(pd.DataFrame.from_records(records), self.provider.stream, CTX)

    def map_stats(self, records: list[dict[str, Any]]) -> StatsResult:
        return get_provider(self.provider.key).map_stats(pd.DataFrame.from_records(records), CTX)


async def _walk(client: Any, fetch: Callable[[Any, str | None], Any]) -> tuple[list[dict[str, Any]], list[Page]]:
    records: list[dict[str, Any]] = []
    pages: list[Page] = []
    token: str | None = None
    try:
        while True:
            page = await fetch(client, token)
            pages.append(page)
            records.extend(page.records)
            token = page.next_token
            if token is None:
                return records, pages
    finally:
        await client.aclose()


@pytest.fixture(scope="module", params=list(PROVIDERS))
def env(request: pytest.FixtureRequest):
    provider = PROVIDERS[request.param]
    with SandboxServer(provider.make_app()) as server:
        env = Env(provider, server, ([], None), ([], None))  # type: ignore[arg-type]
        records, _ = env.catalog()
        env.clean_catalog = (records, env.map_catalog(records))
        rows, _ = env.stats()
        env.clean_stats = (rows, env.map_stats(rows))
        yield env


@pytest.fixture
def faults(env: Env):
    env.admin("DELETE")
    yield env
    env.admin("DELETE")


def _switch(env: Env, kind: str, count: int, group: str) -> dict[str, Any]:
    response = env.admin("POST", json={"kind": kind, "count": count, "stream": group})
    assert response.status_code == 200, response.text
    assert response.json()["faults"][kind] == {"count": count, "rate": None, "stream": group, "page": None}
    return response.json()


def _faulted(env: Env, kind: str) -> list[dict[str, Any]]:
    return env.admin("GET").json()["faulted"].get(kind, [])


def _ids(frame: pd.DataFrame, column: str) -> list[str]:
    return [str(v) for v in frame[column].tolist()]


# --------------------------------------------------------------------------- catalog record faults


@pytest.mark.parametrize("kind", df.RECORD_KINDS)
def test_catalog_record_fault(faults: Env, kind: str) -> None:
    env, outcome = faults, faults.provider.catalog[kind]
    clean_records, clean = env.clean_catalog
    _switch(env, kind, 3, "catalog")
    records, pages = env.catalog()
    result = env.map_catalog(records)  # never raises
    hits = _faulted(env, kind)
    assert len(records) == len(clean_records) == pages[0].total  # record faults never change the count

    if outcome == "na":
        assert hits == [] and env.admin("GET").json()["injected"].get(kind, 0) == 0
        assert records == clean_records
        return
    assert len(hits) == 3 and env.admin("GET").json()["injected"][kind] == 3
    keys = {h["key"] for h in hits}
    assert keys <= set(_ids(clean.courses, "externalId")), "faults hit records that mapped fine before"
    mapped = _ids(result.courses, "externalId")
    quarantined = _ids(result.quarantine, "external_id")
    untouched = set(_ids(clean.courses, "externalId")) - keys - {h.get("served_key") for h in hits}
    assert untouched <= set(mapped)  # the rest maps as before
    assert (set(quarantined) - set(_ids(clean.quarantine, "external_id"))) <= keys | {h.get("served_key") for h in hits}
    by_id = result.courses.set_index("externalId", drop=False)

    if outcome == "quarantine":
        assert keys <= set(quarantined) and not keys & set(mapped)
        rows = result.quarantine[result.quarantine["external_id"].astype(str).isin(keys)]
        assert rows["field"].notna().all() and rows["reason"].notna().all()
        assert len(result.courses) == len(clean.courses) - 3
    elif outcome == "unset":
        assert keys <= set(mapped) and by_id.loc[list(keys), "duration"].isna().all()
    elif outcome == "kept":
        assert keys <= set(mapped) and len(result.courses) == len(clean.courses)
    elif outcome == "fallback":
        assert keys <= set(mapped) and (by_id.loc[list(keys), "defaultLang"] == "en").all()
    else:  # duplicates: each faulted record took the id of the record before it in the page
        served = [h["served_key"] for h in hits]
        assert not keys & set(mapped)
        if outcome == "dup-ignored":
            assert set(served) <= set(_ids(result.ignored, "external_id"))
            assert all(mapped.count(s) == 1 for s in served)
        elif outcome == "dup-quarantined":
            assert set(served) <= set(quarantined)
            assert all(mapped.count(s) == 1 for s in served)
        else:
            assert all(mapped.count(s) == 2 for s in served)  # the mapping lets both through


# --------------------------------------------------------------------------- stats record faults


@pytest.mark.parametrize("kind", df.RECORD_KINDS)
def test_stats_record_fault(faults: Env, kind: str) -> None:
    env, outcome = faults, faults.provider.stats[kind]
    clean_rows, clean = env.clean_stats
    _switch(env, kind, 3, "stats")
    rows, _ = env.stats()
    result = env.map_stats(rows)  # never raises
    hits = _faulted(env, kind)
    assert len(rows) == len(clean_rows)

    if outcome == "na":
        assert hits == [] and rows == clean_rows
        return
    assert len(hits) == 3
    n_quarantined = len(result.quarantine) - len(clean.quarantine)
    kept = len(result.stats)
    if outcome == "quarantine":
        assert n_quarantined == 3 and kept == len(clean.stats) - 3
        new = result.quarantine.iloc[len(clean.quarantine):] if len(clean.quarantine) else result.quarantine
        assert new["external_id"].notna().all() and new["field"].notna().all() and new["reason"].notna().all()
        assert not new["external_id"].astype(str).str.contains("@").any()  # never the e-mail alone
        return
    assert n_quarantined == 0 and kept == len(clean.stats)  # the other outcomes keep every row
    if outcome == "clamped":
        assert result.skipped["progress_clamped"] - clean.skipped.get("progress_clamped", 0) == 3
        assert result.stats["progress"].between(0, 100).all()
    elif outcome == "zero-progress":  # Edflex: progress comes from a status; unknown statuses read as 0
        assert (result.stats["progress"] == 0).sum() > (clean.stats["progress"] == 0).sum()
    elif outcome == "unset":
        assert result.stats["time_spent_ms"].isna().sum() - clean.stats["time_spent_ms"].isna().sum() == 3
    elif outcome == "kept":
        assert (result.stats["last_activity_at"] > pd.Timestamp(NOW)).sum() == 3
        assert (clean.stats["last_activity_at"] > pd.Timestamp(NOW)).sum() == 0
    elif outcome == "dup-unflagged":  # two rows for one learner x course: the engine's stats rules dedupe
        pairs = ["course_external_id", "user_email"]
        before = int(clean.stats.duplicated(pairs).sum())
        assert 1 <= int(result.stats.duplicated(pairs).sum()) - before <= 3


# --------------------------------------------------------------------------- paging faults


def test_skip_page_returns_fewer_records_than_the_announced_total(faults: Env) -> None:
    env = faults
    clean_records, _ = env.clean_catalog
    _switch(env, "skip_page", 1, "catalog")
    records, pages = env.catalog()
    total = pages[0].total
    assert total == len(clean_records) and all(p.total == total for p in pages)
    assert len(records) == total - PAGE_SIZE  # one page of 20 never read, no error raised
    assert [(h["asked"], h["served"]) for h in _faulted(env, "skip_page")] == [(2, 3)]  # mid-traversal
    again, _ = env.catalog()  # fired once: the next traversal is whole
    assert len(again) == total


def test_repeat_page_is_caught_as_a_paging_loop(faults: Env) -> None:
    env = faults
    _switch(env, "repeat_page", 1, "catalog")
    with pytest.raises(PagingLoopError):
        env.catalog()
    assert env.admin("GET").json()["injected"] == {"repeat_page": 1}
    records, _ = env.catalog()
    assert len(records) == len(env.clean_catalog[0])


def test_stats_paging_faults(faults: Env) -> None:
    env = faults
    _switch(env, "skip_page", 1, "stats")
    rows, _ = env.stats()
    assert len(rows) < len(env.clean_stats[0])
    env.admin("DELETE")
    _switch(env, "repeat_page", 1, "stats")
    with pytest.raises(PagingLoopError):
        env.stats()


def test_repeat_page_at_a_chosen_page_serves_that_page_twice(faults: Env) -> None:
    env = faults
    env.admin("POST", json={"kind": "repeat_page", "count": 1, "stream": env.provider.stream, "page": 3})
    with pytest.raises(PagingLoopError):
        env.catalog()
    assert _faulted(env, "repeat_page") == [{"stream": env.provider.stream, "asked": 3, "served": 2}]


# --------------------------------------------------------------------------- switches


def test_rate_picks_the_same_records_on_every_read(faults: Env) -> None:
    env = faults
    assert env.admin("POST", json={"kind": "missing_required", "rate": 0.2, "stream": "catalog"}).status_code == 200
    first, _ = env.catalog()
    picked = {h["key"] for h in _faulted(env, "missing_required")}
    second, _ = env.catalog()
    assert first == second and {h["key"] for h in _faulted(env, "missing_required")} == picked
    n = len(env.clean_catalog[0])
    assert 0.05 * n < len(picked) < 0.4 * n
    snapshot = env.admin("GET").json()
    assert snapshot["served"]["missing_required"] == 2 * len(picked)


def test_python_switches_and_clear(faults: Env) -> None:
    env = faults
    registry: df.DataFaults = env.app.state.data_faults
    registry.set("wrong_type", 2, stream="catalog")
    registry.set("bad_email", 1, stream="stats")
    env.catalog()
    env.stats()
    assert registry.injected() == {"wrong_type": 2, "bad_email": 1}
    registry.clear()
    records, _ = env.catalog()
    assert records == env.clean_catalog[0] and registry.injected() == {}


def test_http_admin_validates_and_removes_one_kind(faults: Env) -> None:
    env = faults
    for bad in ({"kind": "nope", "count": 1}, {"kind": "bad_email"}, {"kind": "bad_email", "count": 1, "rate": 0.5},
                {"kind": "bad_email", "rate": 2.0}, {"kind": "bad_email", "count": 1, "stream": "elsewhere"},
                {"kind": "bad_email", "count": 1, "page": 2}, {"count": 1}):
        assert env.admin("POST", json=bad).status_code == 400, bad
    body = env.admin("POST", json=[{"kind": "bad_email", "count": 1}, {"kind": "skip_page", "rate": 0.5}]).json()
    assert set(body["faults"]) == {"bad_email", "skip_page"}
    assert set(body["kinds"]) == set(df.KINDS) and set(body["applicable"]) and body["notes"]
    assert env.admin("DELETE", params={"kind": "skip_page"}).status_code == 204
    assert set(env.admin("GET").json()["faults"]) == {"bad_email"}
    assert env.admin("POST", json={"kind": "bad_email", "count": 0}).json()["faults"] == {}


def test_config_switches_faults_on_at_start() -> None:
    from learnsync.sandboxes.openclassrooms import OpenClassroomsSandboxConfig, create_app

    app = create_app(OpenClassroomsSandboxConfig(n_courses=30, n_activities=0,
                                                 data_faults={"missing_required": 2, "skip_page": {"count": 1, "page": 2}}))  # fmt: skip
    assert set(app.state.data_faults.snapshot()["faults"]) == {"missing_required", "skip_page"}
    with pytest.raises(ValueError):
        create_app(OpenClassroomsSandboxConfig(data_faults={"missing_required": True}))
