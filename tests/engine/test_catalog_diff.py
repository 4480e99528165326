"""The generic catalog rules (tasks/diff.py): outcomes, archiving switches, filters, guard."""

from __future__ import annotations

import pandas as pd
import pytest

from learnsync.providers.base import ProviderSpec
from learnsync.tasks.diff import ArchiveGuardError, plan_catalog
from learnsync.tasks.filters import plan_filter_change


def spec(**kw) -> ProviderSpec:
    base = dict(key="p", display_name="P", catalog_streams=lambda o: ("c",), make_client=lambda s: None,
                map_catalog=lambda *a: None, map_stats=lambda *a: None)
    base.update(kw)
    return ProviderSpec(**base)


def mapped(ids, status="keep", lang="en", ctype="course", name="N"):
    n = len(ids)
    return pd.DataFrame({
        "externalId": ids, "name": [f"{name}{i}" for i in ids], "launchUrl": [f"https://x/{i}" for i in ids],
        "defaultLang": [lang] * n, "subjects": [["S"]] * n, "sources": [[{"name": "P"}]] * n,
        "duration": [10] * n,
        "_status": [status] * n if isinstance(status, str) else status,
        "_tags": [[] for _ in ids], "_skills": [None] * n, "_extra": [{} for _ in ids],
        "_filter_lang": [lang] * n if isinstance(lang, str) else lang, "_filter_type": [ctype] * n,
    })


def state_after(plan, status_by_outcome=None):
    items = plan.items[plan.items["outcome"] != "absent"]
    st = {"created": "active", "updated": "active", "unchanged": None, "restored": "active", "archived": "archived"}
    rows = []
    for r in items.itertuples():
        status = st.get(r.outcome) or r.status
        if r.outcome in ("ignored",):
            continue
        rows.append({"external_id": r.external_id, "course_id": "c" + r.external_id, "status": status,
                     "archived_reason": r.archived_reason if status == "archived" else None,
                     "payload_hash": r.payload_hash if isinstance(r.payload_hash, str) else r.state_hash, "tags": [], "skills": None})
    return pd.DataFrame(rows)


EMPTY = pd.DataFrame(columns=["external_id", "course_id", "status", "archived_reason", "payload_hash", "tags", "skills"])


def outcomes(plan):
    return dict(zip(plan.items["external_id"], plan.items["outcome"]))


@pytest.mark.rule("V2-09", "V2-10")
def test_new_courses_are_created_and_a_second_identical_run_is_unchanged():
    first = plan_catalog(mapped(["1", "2"]), EMPTY, spec())
    assert outcomes(first) == {"1": "created", "2": "created"}
    second = plan_catalog(mapped(["1", "2"]), state_after(first), spec())
    assert outcomes(second) == {"1": "unchanged", "2": "unchanged"}
    assert second.counts == {"unchanged": 2}


@pytest.mark.rule("V2-10")
def test_changed_payload_is_updated():
    first = plan_catalog(mapped(["1"]), EMPTY, spec())
    second = plan_catalog(mapped(["1"], name="Other"), state_after(first), spec())
    assert outcomes(second) == {"1": "updated"}


@pytest.mark.rule("V2-15", "V2-11")
def test_rule_course_gone_from_catalog_is_archived_then_restored_when_it_reappears():
    first = plan_catalog(mapped(["1", "2", "3"]), EMPTY, spec())
    gone = plan_catalog(mapped(["1", "2"]), state_after(first), spec())
    assert outcomes(gone)["3"] == "archived"
    assert gone.items.set_index("external_id").at["3", "archived_reason"] == "missing"
    back = plan_catalog(mapped(["1", "2", "3"]), state_after(gone), spec())
    assert outcomes(back)["3"] == "restored"


@pytest.mark.rule("COURSERA-15")
def test_rule_coursera_never_archives_gone_or_provider_archived_content():
    coursera = spec(archive_missing=False, archive_on_provider_status=False, restore_on_reappear=False)
    first = plan_catalog(mapped(["1", "2", "3"]), EMPTY, coursera)
    later = plan_catalog(mapped(["1", "2"], status=["keep", "archive"]), state_after(first), coursera)
    assert outcomes(later) == {"1": "unchanged", "2": "unchanged", "3": "absent"}
    assert "archived" not in later.counts


@pytest.mark.rule("V2-12", "V2-13")
def test_rule_closed_status_archives_synced_course_and_ignores_never_synced_one():
    first = plan_catalog(mapped(["1"]), EMPTY, spec())
    later = plan_catalog(mapped(["1", "2"], status=["archive", "archive"]), state_after(first), spec())
    assert outcomes(later) == {"1": "archived", "2": "ignored"}
    assert later.items.set_index("external_id").at["1", "archived_reason"] == "provider"


@pytest.mark.rule("V2-16")
def test_rule_filters_or_within_and_across():
    m = mapped(["1", "2", "3", "4"], lang=["en", "fr", "de", "en"])
    m["_filter_type"] = ["course", "course", "course", "project"]
    plan = plan_catalog(m, EMPTY, spec(), {"languages": ["en", "fr"], "content_types": ["course"]})
    assert outcomes(plan) == {"1": "created", "2": "created", "3": "ignored", "4": "ignored"}


@pytest.mark.rule("COURSERA-19", "V2-11", "V2-14")
def test_rule_coursera_filter_match_does_not_unarchive():
    coursera = spec(archive_missing=False, archive_on_provider_status=False, restore_on_reappear=False, filter_restores=False)
    first = plan_catalog(mapped(["1", "2"], lang=["en", "fr"]), EMPTY, coursera)
    filtered = plan_catalog(mapped(["1", "2"], lang=["en", "fr"]), state_after(first), coursera, {"languages": ["en"]})
    assert outcomes(filtered) == {"1": "unchanged", "2": "archived"}
    unfiltered = plan_catalog(mapped(["1", "2"], lang=["en", "fr"]), state_after(filtered), coursera, {})
    assert outcomes(unfiltered)["2"] == "unchanged"  # stays archived


@pytest.mark.rule("OC-05", "V2-11")
def test_rule_openclassrooms_filter_match_unarchives_and_provider_status_wins():
    oc = spec(filter_restores=True)
    first = plan_catalog(mapped(["1", "2"], lang=["en", "fr"]), EMPTY, oc)
    filtered = plan_catalog(mapped(["1", "2"], lang=["en", "fr"]), state_after(first), oc, {"languages": ["en"]})
    assert outcomes(filtered)["2"] == "archived"
    back = plan_catalog(mapped(["1", "2"], lang=["en", "fr"]), state_after(filtered), oc, {"languages": ["en", "fr"]})
    assert outcomes(back)["2"] == "restored"
    closed = plan_catalog(mapped(["1", "2"], lang=["en", "fr"], status=["keep", "archive"]), state_after(back), oc, {"languages": ["en", "fr"]})
    assert outcomes(closed)["2"] == "archived"


@pytest.mark.rule("COURSERA-18", "OC-05")
def test_filter_change_applies_at_once_on_state():
    state = pd.DataFrame({"external_id": ["1", "2", "3"], "course_id": ["a", "b", "c"], "status": ["active", "active", "archived"],
                          "archived_reason": [None, None, "filter"]})
    extras = pd.DataFrame({"external_id": ["1", "2", "3"], "filter_lang": ["en", "fr", "en"], "filter_type": [None] * 3})
    oc = plan_filter_change(state, extras, spec(filter_restores=True), {"languages": ["en"]})
    assert dict(zip(oc["external_id"], oc["outcome"])) == {"2": "archived", "3": "restored"}
    coursera = plan_filter_change(state, extras, spec(filter_restores=False), {"languages": ["en"]})
    assert dict(zip(coursera["external_id"], coursera["outcome"])) == {"2": "archived"}


@pytest.mark.rule("V2-17")
def test_guard_refuses_mass_archive_unless_forced():
    first = plan_catalog(mapped([str(i) for i in range(10)]), EMPTY, spec())
    with pytest.raises(ArchiveGuardError, match="refusing to archive 7"):
        plan_catalog(mapped(["0", "1", "2"]), state_after(first), spec(), guard_ratio=0.5)
    forced = plan_catalog(mapped(["0", "1", "2"]), state_after(first), spec(), guard_ratio=0.5, force=True)
    assert forced.counts["archived"] == 7


@pytest.mark.rule("V2-04")
def test_payload_sends_only_v2_fields_without_nulls():
    m = mapped(["1"])
    m["description"] = [None]
    plan = plan_catalog(m, EMPTY, spec())
    payload = plan.items.iloc[0]["payload"]
    assert set(payload) == {"externalId", "name", "launchUrl", "defaultLang", "subjects", "sources", "duration"}
    assert isinstance(payload["duration"], int)


@pytest.mark.rule("V2-10")
def test_relabelled_filter_value_refreshes_state_so_saved_filters_use_fresh_values():
    first = plan_catalog(mapped(["1"], lang="en-US"), EMPTY, spec())
    relabelled = mapped(["1"], lang="en-US")
    relabelled["_filter_lang"] = ["en"]  # same payload (defaultLang), new provider label
    second = plan_catalog(relabelled, state_after(first), spec())
    assert outcomes(second) == {"1": "updated"}


@pytest.mark.rule("V2-20")
def test_rule_tags_merge_without_resending_the_course():
    first = plan_catalog(mapped(["1"]), EMPTY, spec())
    tagged = mapped(["1"])
    tagged["_tags"] = [["Python"]]
    second = plan_catalog(tagged, state_after(first), spec())
    assert outcomes(second) == {"1": "retag"} and second.counts == {"updated": 1}
    untagged = plan_catalog(mapped(["1"]), state_after(first), spec())  # tags sync switched off
    assert outcomes(untagged) == {"1": "unchanged"}


@pytest.mark.rule("V2-15", "RUN-06")
def test_incomplete_extract_archives_nothing_as_missing():
    first = plan_catalog(mapped(["1", "2", "3"]), EMPTY, spec())
    partial = plan_catalog(mapped(["1", "2"]), state_after(first), spec(), complete=False)
    assert "archived" not in partial.counts and outcomes(partial)["3"] == "absent"


@pytest.mark.rule("RUN-06")
def test_completeness_counts_distinct_ids_against_the_announced_total():
    from learnsync.tasks.extract import completeness, record_keys

    assert completeness(record_keys([{"id": 1}, {"id": 2}]), 2) is None
    assert completeness(record_keys([{"id": 1}, {"id": 1}]), 2) == "read 1 distinct records where the provider announced 2"
    assert completeness(record_keys([{"id": 1}]), None) is None
