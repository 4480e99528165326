"""Re-syncs of an unchanged catalog reuse the stored mapping of its pages (tasks/mapped_chunks.py),
and never at the cost of a change, a failed course or a rule applied under another context."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select, update

import learnsync.providers.udemy as udemy_package
import learnsync.providers.udemy.client as udemy_client
from learnsync.flows.content_sync import content_sync
from learnsync.statestore.models import CourseState, MappedChunk
from tests.e2e.helpers import lms, provider_store, run, store, synced_courses, writes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
# 25 pages of 10: the head chunk (page 1) and chunks of pages 2-11, 12-21, 22-25.
UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 250, "n_activities": 0, "n_learning_paths": 0}}}
CHUNK_KEYS = {"", "2", "12", "22"}


@pytest.fixture
def calls(fleet, monkeypatch) -> dict[str, list[int]]:
    """Small pages, and a record of the rows each catalog mapping got and of the pages parsed."""
    monkeypatch.setenv("LEARNSYNC_UDEMY__PAGE_SIZE", "10")
    seen: dict[str, list[int]] = {"mapped_rows": [], "parsed_pages": []}
    spec = udemy_package.PROVIDER

    def counting_map(raw: Any, stream: str, ctx: Any) -> Any:
        seen["mapped_rows"].append(len(raw))
        return spec.map_catalog(raw, stream, ctx)

    parse = udemy_client.parse_page

    def counting_parse(body: Any, ctx: Any) -> Any:
        envelope = parse(body, ctx)
        seen["parsed_pages"].append(len(envelope.items))
        return envelope

    monkeypatch.setattr(udemy_package, "PROVIDER", dataclasses.replace(spec, map_catalog=counting_map))
    monkeypatch.setattr(udemy_client, "parse_page", counting_parse)
    return seen


def stored_chunks() -> dict[str, list[list[Any]]]:
    t = MappedChunk.__table__
    with store().engine.connect() as conn:
        return {r.chunk_key: r.pages for r in conn.execute(select(t.c.chunk_key, t.c.pages))}


def reset(calls: dict[str, list[int]]) -> None:
    for seen in calls.values():
        seen.clear()


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-07")
def test_resync_of_an_unchanged_catalog_reuses_every_chunk_mapping_and_writes_nothing(fleet, calls):
    first = run(content_sync(provider="udemy"))
    assert first["counts"]["created"] == 250
    assert sum(calls["mapped_rows"]) == 250 and len(calls["parsed_pages"]) == 25
    chunks = stored_chunks()
    assert set(chunks) == CHUNK_KEYS
    assert [len(chunks[k]) for k in ("", "2", "12", "22")] == [1, 10, 10, 4]  # [digest, next token] per page
    assert chunks["2"][-1][1] == "12" and chunks["22"][-1][1] is None

    reset(calls)
    before = writes(fleet)
    again = run(content_sync(provider="udemy"))
    assert again["counts"]["unchanged"] == 250 and again["status"] == "completed"
    assert writes(fleet) == before  # zero writes to 360Learning
    assert calls["mapped_rows"] == []  # no chunk mapped again
    assert calls["parsed_pages"] == [10]  # only page 1 (it sizes the walk); 24 pages left unparsed
    assert "courses: 4 of 4 chunks of pages unchanged since they were last mapped (mapping reused)" in again["notes"]


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-07")
def test_a_changed_page_is_mapped_again_and_only_its_course_is_updated(fleet, calls):
    run(content_sync(provider="udemy"))
    udemy = provider_store(fleet, "udemy")
    renamed = sorted(udemy.courses(), key=lambda c: c["id"])[120]["id"]  # listed on a page of chunk "12"
    udemy.set_course(renamed, title="Renamed at Udemy")

    reset(calls)
    report = run(content_sync(provider="udemy"))
    assert report["counts"]["updated"] == 1 and report["counts"]["unchanged"] == 249
    assert synced_courses(fleet)[str(renamed)]["name"] == "Renamed at Udemy"
    assert calls["mapped_rows"] == [100]  # the one chunk whose page changed, whole
    assert "courses: 3 of 4 chunks of pages unchanged since they were last mapped (mapping reused)" in report["notes"]
    # its stored mapping is the new one: the next run reuses all four
    reset(calls)
    assert run(content_sync(provider="udemy"))["counts"]["updated"] == 0
    assert calls["mapped_rows"] == []


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-07")
def test_a_course_whose_sync_failed_is_sent_again_from_a_reused_mapping(fleet, calls):
    """The stored mapping only replaces parsing: the plan still compares with what 360Learning confirmed."""
    rejected = sorted(str(c["id"]) for c in provider_store(fleet, "udemy").courses())[:2]
    lms(fleet).reject_items(rejected, "invalidInput: rejected by the platform")
    first = run(content_sync(provider="udemy"))
    assert first["counts"]["failed"] == 2 and not set(rejected) & set(synced_courses(fleet))
    # and a course whose stored hash is stale (as after a crash between job and confirmation)
    integration = store().get_integration("udemy")["id"]
    stale = sorted(set(synced_courses(fleet)) - set(rejected))[0]
    t = CourseState.__table__
    with store().engine.begin() as conn:
        conn.execute(update(t).where(t.c.integration_pk == integration, t.c.external_id == stale).values(payload_hash="stale"))

    lms(fleet).clear_rejections()
    reset(calls)
    again = run(content_sync(provider="udemy"))
    assert calls["mapped_rows"] == []  # every chunk came from the store...
    assert (again["counts"]["created"], again["counts"]["updated"], again["counts"]["unchanged"]) == (2, 1, 247)
    assert set(rejected) <= set(synced_courses(fleet))  # ...and the failed courses were sent
    hashes = store().load_courses(integration).set_index("external_id")["payload_hash"]
    assert hashes[stale] != "stale"


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
def test_quarantined_records_are_reported_again_from_a_reused_mapping_and_fixed_ones_synced(fleet, calls):
    faults = fleet.app("udemy").state.data_faults
    faults.set("missing_required", 1, stream="courses")
    first = run(content_sync(provider="udemy"))
    assert first["counts"]["quarantined"] == 1 and first["counts"]["created"] == 249
    reset(calls)
    again = run(content_sync(provider="udemy"))
    assert calls["mapped_rows"] == []
    assert again["counts"]["quarantined"] == 1 and again["counts"]["unchanged"] == 249
    # still open for the same reason: listed, but no longer news (docs: D-15)
    assert first["status"] == "completed_with_errors" and again["status"] == "completed" and again["recurring_quarantine"] == 1
    integration = store().get_integration("udemy")["id"]
    assert len(store().open_quarantine(integration)) == 1

    faults.clear()  # the provider fixes the record: its page changes
    fixed = run(content_sync(provider="udemy"))
    assert fixed["counts"]["created"] == 1 and fixed["counts"]["quarantined"] == 0
    assert len(calls["mapped_rows"]) == 1 and len(store().open_quarantine(integration)) == 0


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-07")
def test_another_mapping_context_maps_every_page_again(fleet, calls, monkeypatch):
    """Rule: a course without a known language takes the connector owner's. Another owner
    language (or other integration options, or other code) must not reuse mappings made before."""
    run(content_sync(provider="udemy"))
    monkeypatch.setenv("LEARNSYNC_LMS360__OWNER_LANG", "fr")
    reset(calls)
    report = run(content_sync(provider="udemy"))
    assert sum(calls["mapped_rows"]) == 250 and len(calls["parsed_pages"]) == 25
    assert not any("mapping reused" in n for n in report["notes"])
    reset(calls)
    assert any("4 of 4 chunks" in n for n in run(content_sync(provider="udemy"))["notes"])  # stored anew
    assert calls["mapped_rows"] == []


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-07")
def test_pages_the_catalog_no_longer_has_are_forgotten_and_dry_runs_store_nothing(fleet, calls, monkeypatch):
    dry = run(content_sync(provider="udemy", dry_run=True))
    assert dry["counts"]["created"] == 250 and stored_chunks() == {}
    run(content_sync(provider="udemy"))
    assert set(stored_chunks()) == CHUNK_KEYS
    udemy = provider_store(fleet, "udemy")
    for c in sorted(udemy.courses(), key=lambda c: c["id"])[-40:]:  # 21 pages left: no chunk "22"
        udemy.remove_course(c["id"])
    report = run(content_sync(provider="udemy"))
    assert report["counts"]["archived"] == 40
    assert set(stored_chunks()) == {"", "2", "12"}


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("RUN-07")
def test_mapping_cache_can_be_turned_off(fleet, calls, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_MAPPING_CACHE", "false")
    run(content_sync(provider="udemy"))
    reset(calls)
    again = run(content_sync(provider="udemy"))
    assert again["counts"]["unchanged"] == 250 and stored_chunks() == {}
    assert sum(calls["mapped_rows"]) == 250 and len(calls["parsed_pages"]) == 25


OTHERS = [
    {"providers": ["coursera"], "configs": {"coursera": {"n_courses": 60, "n_activities": 0}}},
    {"providers": ["edflex"], "configs": {"edflex": {"n_courses": 60, "n_activities": 0, "bad_record_ratio": 0.0}}},
    {"providers": ["openclassrooms"], "configs": {"openclassrooms": {"n_courses": 60, "n_activities": 0, "bad_ratio": 0.0}}},
]


@pytest.mark.parametrize("fleet", OTHERS, indirect=True, ids=["coursera", "edflex", "openclassrooms"])
def test_every_provider_reuses_the_mapping_of_unchanged_pages(fleet, monkeypatch):
    """Coursera and Edflex leave known pages unparsed; OpenClassrooms (paged by headers) parses
    them, and still reuses their mapping."""
    provider = next(name for name in fleet.servers if name != "lms360")
    monkeypatch.setenv(f"LEARNSYNC_{provider.upper()}__PAGE_SIZE", "5")
    first = run(content_sync(provider=provider))
    synced = first["counts"]["created"]
    assert synced > 20 and len(stored_chunks()) >= 2
    before = writes(fleet)
    again = run(content_sync(provider=provider))
    assert again["counts"]["unchanged"] == synced and writes(fleet) == before
    n = len(stored_chunks())
    assert any(f"{n} of {n} chunks of pages unchanged" in note for note in again["notes"]), again["notes"]
