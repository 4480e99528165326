"""Scale-out and the fast paths (concurrent pages, columnar rules) keep the rules' meaning."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from learnsync.core.http import FAST_RETRY
from learnsync.providers.base import DateWindow, MappingContext
from learnsync.providers.registry import get_provider
from learnsync.providers.settings import Settings
from learnsync.sandboxes.fleet import sandbox_app
from learnsync.sandboxes.server import SandboxServer
from learnsync.tasks.extract import iter_stats_chunks, read_announced_pages, read_first_page, read_page_chunk

FAST = {"attempts": 6, "base_wait": 0.01, "max_wait": 0.2, "jitter": 0.1, "retry_after_cap": 2.0}


def _client(name: str, url: str, page_size: int = 20):
    settings = Settings().provider(name).model_copy(
        update={"base_url": url, "page_size": page_size, "requests_per_second": 1000, "retry": FAST_RETRY}
    )
    return get_provider(name).make_client(settings)


def _ids(records: list[dict]) -> list[str]:
    return [str(r.get("id") or r.get("courseId") or r.get("contentId") or r.get("slug") or r) for r in records]


# --------------------------------------------------------------------------- concurrent pages


@pytest.mark.parametrize("name", ["udemy", "coursera", "edflex", "openclassrooms"])
def test_announced_pages_read_the_same_catalog_as_the_sequential_walk(name):
    spec = get_provider(name)
    stream = spec.catalog_streams(dict(spec.default_options))[0]

    async def walk(url: str) -> tuple[list[dict], list[dict], list[str] | None]:
        client = _client(name, url)
        try:
            sequential, token = [], None
            while True:
                chunk = await read_page_chunk(client, stream, token, 3)
                sequential += chunk["records"]
                token = chunk["next_token"]
                if token is None:
                    break
            head = await read_first_page(client, stream, 10)
            rest = await read_announced_pages(client, stream, head["tokens"] or [], asyncio.Semaphore(3))
            assert rest["next_token"] is None
            return sequential, head["records"] + rest["records"], head["tokens"]
        finally:
            await client.aclose()

    with SandboxServer(sandbox_app(name, n_courses=95)) as server:
        sequential, concurrent, tokens = asyncio.run(walk(server.url))
    assert tokens is not None and len(tokens) >= 4  # the client announced its pages
    assert len(concurrent) == len(sequential) > 80
    assert _ids(concurrent) == _ids(sequential)


@pytest.mark.parametrize("name", ["udemy", "openclassrooms"])
def test_concurrent_stats_pages_stream_the_same_rows_in_order(name):
    window = DateWindow(None, datetime.now(UTC).date() + timedelta(days=1))

    async def read(url: str, concurrency: int) -> pd.DataFrame:
        client = _client(name, url, page_size=25)
        try:
            chunks = [c async for c in iter_stats_chunks(client, window, chunk_rows=60, concurrency=concurrency)]
        finally:
            await client.aclose()
        assert all(len(c) <= 60 + 25 for c in chunks)  # bounded chunks
        return pd.concat(chunks, ignore_index=True)

    with SandboxServer(sandbox_app(name, n_courses=40, n_activities=230)) as server:
        one = asyncio.run(read(server.url, 1))
        many = asyncio.run(read(server.url, 4))
    assert len(one) > 150
    pd.testing.assert_frame_equal(one.astype(str), many.astype(str))


# --------------------------------------------------------------------------- columnar rules


def _activity_frame() -> pd.DataFrame:
    from learnsync.providers.udemy.models import UdemyCourseActivity
    from learnsync.sandboxes.udemy.data import generate

    data = generate(3, 300, 60, 4000, anchor=date(2026, 6, 1), n_learning_paths=0)
    records = [UdemyCourseActivity.model_validate(r).model_dump(exclude_unset=True) for r in data.activities]
    odd = {
        0: {"course_start_date": "2025-02-30T10:00:00Z"},  # no such day
        1: {"course_start_date": " 2025-01-03T10:00:00Z "},
        2: {"course_start_date": "2025-01-03"},
        3: {"course_last_accessed_date": "1980-01-01T00:00:00Z"},  # before the plausible range
        4: {"user_email": "bad-mail"},
        5: {"user_email": "  "},
        6: {"completion_ratio": None},
        7: {"course_completion_date": "2025-01-03T10:00:00.5Z"},
        8: {"course_start_date": ""},
        9: {"completion_ratio": 150.0},
        10: {"course_enroll_date": "2024-13-01T00:00:00Z", "course_start_date": None},
        11: {"user_email": " Learner7@Example.COM "},
    }
    for i, change in odd.items():
        records[i].update(change)
    return pd.DataFrame.from_records(records)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None).reset_index(drop=True)


def test_udemy_stats_read_typed_and_object_pages_alike():
    from learnsync.providers.udemy import mapping

    raw = _activity_frame()
    ctx = MappingContext(owner_lang="en")
    typed = mapping.map_stats(raw, ctx)  # Arrow text and numpy numbers, as clean pages give
    mixed = mapping.map_stats(raw.astype(object), ctx)  # the same values as Python objects
    pd.testing.assert_frame_equal(_plain(typed.stats), _plain(mixed.stats))
    pd.testing.assert_frame_equal(_plain(typed.quarantine), _plain(mixed.quarantine))
    assert typed.skipped == mixed.skipped and len(typed.quarantine) >= 2


@pytest.mark.rule("V2-33")
def test_stats_rules_vectorised_iso_and_hashes():
    from learnsync.tasks.stats_rules import _iso_from_ms, payload_hashes

    ms = np.random.default_rng(1).integers(-2_000_000_000_000, 4_000_000_000_000, 20_000)
    want = pd.Series(pd.to_datetime(ms, unit="ms", utc=True)).dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23) + "Z"
    assert list(_iso_from_ms(ms)) == list(want)
    # Hashes are stored and compared across runs and processes: they must never drift.
    assert list(payload_hashes(np.array([100]), np.array([5000]), np.array([1767225600000]), np.array([1767312000000]))) == [
        payload_hashes(np.array([100]), np.array([5000]), np.array([1767225600000]), np.array([1767312000000]))[0]
    ]
    one = payload_hashes(np.array([1, 1]), np.array([2, 2]), np.array([3, 3]), np.array([4, 5]))
    assert one[0] != one[1] and all(h.startswith("h2:") and len(h) == 19 for h in one)


def test_attempts_are_read_for_the_chunk_pairs_only(tmp_path):
    from learnsync.statestore.store import StateStore

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    pk = store.upsert_integration("udemy", "default", integration_id="i", external_platform="Udemy", group_id="g",
                                  author_id="a", options={}, filters={}, active=True)["id"]  # fmt: skip
    other = store.upsert_integration("udemy", "b", integration_id="j", external_platform="Udemy", group_id="g",
                                     author_id="a", options={}, filters={}, active=True)["id"]  # fmt: skip
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"course_external_id": str(c), "user_email": f"l{u}@x.io", "first_activity_at": base + timedelta(hours=c, minutes=u, days=a),
         "attempt_no": 1 + a, "completed": a == 0, "payload_hash": f"h{c}{u}{a}"}
        for c in range(40) for u in range(4) for a in range(2)
    ]  # fmt: skip
    store.apply_stat_results(pk, rows)
    store.apply_stat_results(other, rows[:8])
    pairs = [("3", "l1@x.io"), ("3", "l1@x.io"), ("0", "l2@x.io"), ("99", "l1@x.io")] + [(str(c), "l3@x.io") for c in range(500)]
    got = store.load_attempts_for(pk, pairs)
    everything = store.load_attempts(pk)
    wanted = {(c, u) for c, u in pairs}
    expected = everything[[(c, u) in wanted for c, u in zip(everything["course_external_id"], everything["user_email"])]]
    order = ["course_external_id", "user_email", "first_activity_at"]
    pd.testing.assert_frame_equal(got.sort_values(order).reset_index(drop=True), expected.sort_values(order).reset_index(drop=True))
    assert len(got) == 2 * (2 + 40) and store.load_attempts_for(pk, []).empty


# --------------------------------------------------------------------------- Dask


UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 120, "n_activities": 300, "n_learning_paths": 0}}}


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("runner", ["dask", "threads"])
@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
def test_two_platforms_sync_in_parallel_through_the_configured_task_runner(fleet, monkeypatch, runner):
    from prefect.task_runners import ThreadPoolTaskRunner

    from learnsync.flows.fleet_sync import make_task_runner, run_fleet
    from learnsync.flows.runtime import state_store

    expected = ThreadPoolTaskRunner
    if runner == "dask":
        expected = pytest.importorskip("prefect_dask").DaskTaskRunner
    with SandboxServer(sandbox_app("lms360")) as second:
        platform = {"platform": "second", "base_url": second.url, "poll_interval_seconds": 0.02,
                    "poll_max_interval_seconds": 0.2, "retry": FAST}  # fmt: skip
        monkeypatch.setenv("LEARNSYNC_PLATFORMS", json.dumps({"second": platform}))
        monkeypatch.setenv("LEARNSYNC_TASK_RUNNER", runner)
        assert isinstance(make_task_runner(Settings(), 2), expected)

        results = run_fleet([("udemy", "default"), ("udemy", "second")])

        default, other = results["udemy@default"], results["udemy@second"]
        first_lms, second_lms = fleet.app("lms360").state.store, second.app.state.store
        for result, lms in ((default, first_lms), (other, second_lms)):
            assert "error" not in result, result
            synced = len(lms.courses())
            assert result["content"]["counts"]["created"] == synced > 100
            assert result["stats"]["counts"]["created"] == len(lms.attempts()) > 100
            if runner == "dask":
                assert result["worker_pid"] != os.getpid()  # ran in a Dask worker process
    integrations = state_store(os.environ["LEARNSYNC_DATABASE_URL"]).list_integrations()
    assert {(i["provider"], i["platform"]) for i in integrations} == {("udemy", "default"), ("udemy", "second")}
