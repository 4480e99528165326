"""The v2 contract's cleaning of list cells (subjects, sources) is the column rule, item by item."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from learnsync.tasks.contract import MAX_SUBJECT, _clean_list, _clean_one, clean_text, enforce_course_contract


# Text with the characters the rule is about: controls, blanks around, line breaks and tabs inside.
def column_rule(value: str) -> str | None:
    """clean_text on a one-cell column, its missing marker read as None (a text left empty is missing)."""
    cell = clean_text(pd.Series([value], dtype=object)).iat[0]
    return cell if isinstance(cell, str) else None


texts = st.text(alphabet=st.sampled_from(list("ab é\t\n\r \x00\x07\x1b\x7f\x85\x9f\u00a0\u2003")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_one_item_is_cleaned_as_a_column_cell_is(value: str) -> None:
    assert _clean_one(value) == column_rule(value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(texts, st.fixed_dictionaries({"name": texts, "rank": st.integers(0, 3)})), max_size=5))
def test_a_list_cell_keeps_its_cleaned_items_in_order(cell: list) -> None:
    expected = []
    for item in cell:
        if isinstance(item, str):
            text = column_rule(item)
            if text:
                expected.append(text[:MAX_SUBJECT])
        else:
            expected.append({"name": column_rule(item["name"]), "rank": item["rank"]})
    assert _clean_list(cell) == expected


def test_subjects_lose_control_characters_blanks_and_items_left_empty() -> None:
    """An item left empty once cleaned is dropped (it used to stop the run with a TypeError)."""
    courses = pd.DataFrame({
        "externalId": ["c1"], "name": ["Course"], "launchUrl": ["https://example.com/c1"],
        "subjects": [[" Data\x00 ", "\x1b", "x" * 300]],
    })
    out = enforce_course_contract(courses).courses
    assert out["subjects"].iat[0] == ["Data", "x" * MAX_SUBJECT]
