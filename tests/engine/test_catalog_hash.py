"""Payload hashes (tasks/diff.catalog_hashes) and prepared extracts: the no-change re-sync rests on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learnsync.tasks.diff import catalog_hashes, drop_repeated_ids, plan_catalog, plan_extract, prepare_extract
from tests.engine.test_catalog_diff import EMPTY, mapped, spec, state_after


@pytest.mark.rule("V2-10")
def test_rule_identical_courses_hash_alike_whatever_the_chunk() -> None:
    whole = mapped([str(i) for i in range(9)])
    parts = pd.concat([prepare_extract(whole.iloc[i : i + 4]) for i in range(0, 9, 4)], ignore_index=True)
    assert list(parts["payload_hash"]) == list(catalog_hashes(whole))
    assert len(set(catalog_hashes(whole))) == 9


@pytest.mark.rule("V2-10")
def test_rule_hash_ignores_dtype_and_absent_versus_null() -> None:
    base = mapped(["1", "2"])
    as_float = base.assign(duration=base["duration"].astype("float64"))
    as_nullable = base.assign(duration=base["duration"].astype("Int64"))
    assert list(catalog_hashes(as_float)) == list(catalog_hashes(base)) == list(catalog_hashes(as_nullable))
    with_null = base.assign(description=[None, np.nan])
    assert list(catalog_hashes(with_null)) == list(catalog_hashes(base))


@pytest.mark.rule("V2-10")
def test_rule_hash_sees_every_sent_field_skills_and_filter_values() -> None:
    base = catalog_hashes(mapped(["1"]))[0]
    changes = {
        "name": ["Other"], "duration": [11], "subjects": [["S", "T"]], "sources": [[{"name": "Q"}]],
        "_skills": [["python"]], "_filter_lang": ["fr"], "defaultLang": ["fr"],
    }
    for column, value in changes.items():
        assert catalog_hashes(mapped(["1"]).assign(**{column: value}))[0] != base, column
    # the same number and its text are sent differently: they hash differently
    assert catalog_hashes(mapped(["1"]).assign(duration=["10"]))[0] != base
    # skills are a set; tags and extra values are not sent and not hashed
    a = catalog_hashes(mapped(["1"]).assign(_skills=[["b", "a"]]))[0]
    assert a == catalog_hashes(mapped(["1"]).assign(_skills=[["a", "b"]]))[0]
    assert catalog_hashes(mapped(["1"]).assign(_tags=[["t"]], _extra=[{"x": 1}]))[0] == base


@pytest.mark.rule("V2-10")
def test_rule_plan_from_prepared_chunks_equals_plan_of_the_whole() -> None:
    whole = mapped([str(i) for i in range(6)])
    first = plan_catalog(whole, EMPTY, spec())
    changed = whole.assign(name=["N0", "changed", "N2", "N3", "N4", "N5"])
    extract = pd.concat([prepare_extract(changed.iloc[:3]), prepare_extract(changed.iloc[3:])], ignore_index=True)
    chunked = plan_extract(extract, state_after(first), spec())
    direct = plan_catalog(changed, state_after(first), spec())
    assert chunked.counts == direct.counts == {"unchanged": 5, "updated": 1}
    sent = chunked.items[chunked.items["outcome"] == "updated"]
    assert sent["payload"].tolist() == [p for p in direct.items["payload"] if p is not None]
    assert sent["payload"].iloc[0]["name"] == "changed" and "duration" in sent["payload"].iloc[0]
    # payloads are built for the courses sent only
    assert chunked.items.loc[chunked.items["outcome"] == "unchanged", "payload"].isna().all()


@pytest.mark.rule("V2-18")
def test_rule_an_id_served_in_two_chunks_is_synced_once_by_the_provider_rule() -> None:
    first = prepare_extract(mapped(["1", "2"], name="old"))
    second = prepare_extract(mapped(["2", "3"], name="new"))
    both = pd.concat([first, second], ignore_index=True)
    kept, ignored = drop_repeated_ids(both, "first")
    assert kept["external_id"].tolist() == ["1", "2", "3"] and kept.loc[1, "f:name"] == "old2"
    assert ignored.to_dict("records") == [{"external_id": "2", "reason": "duplicate externalId in extract"}]
    kept, _ = drop_repeated_ids(both, "last")  # OpenClassrooms: the last copy wins
    assert kept["external_id"].tolist() == ["1", "2", "3"] and kept.loc[1, "f:name"] == "new2"
    untouched, none = drop_repeated_ids(first)
    assert untouched is first and none.empty
