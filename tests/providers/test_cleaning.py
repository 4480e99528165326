"""The shared column cleaners (providers/kit/cleaning.py): one behaviour whatever the column's
dtype, and what each kind of value means (docs: D-27)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnsync.providers.kit import cleaning as clean
from learnsync.providers.kit.languages import v2_language

ODD_TEXT = st.sampled_from([
    "", "  ", " a ", "\x1c", "\x85x\x85", "\u3000y\u3000", "\u200bz", "a\nb", " 42 ", "7", "-3.5", "1e3", "true", " TRUE ",
    "https://ok.example/a", " https://pad.example/b ", "http://", "https://a b", "https://a/\u2028", "ftp://x",
    "Alice@Example.COM", "a@b", "a b@c.de", "a@b.c\n", "a\x85@b.cd", "a@@b.cd", "é@ü.fr", "x@y\u2003.z",
])  # fmt: skip
TEXTS = st.one_of(st.none(), st.text(max_size=10), ODD_TEXT)
JUNK = st.one_of(st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


def cells(s: pd.Series) -> list[Any]:
    return [None if pd.isna(v) else v for v in s.tolist()]


def test_a_missing_column_is_all_missing() -> None:
    raw = pd.DataFrame({"a": [1, 2]})
    assert cells(clean.text(clean.column(raw, "b"))) == [None, None]
    assert clean.column(raw, "a").tolist() == [1, 2]


# --------------------------------------------------------------------------- text


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(TEXTS, JUNK), max_size=8))
def test_text_is_stripped_strings_and_nothing_else(values: list[Any]) -> None:
    want = [v.strip() or None if type(v) is str else None for v in values]
    assert cells(clean.text(pd.Series(values, dtype=object))) == want


@settings(max_examples=200, deadline=None)
@given(values=st.lists(TEXTS, max_size=8))
def test_text_rules_read_arrow_and_object_columns_alike(values: list[Any]) -> None:
    arrow, objects = pd.Series(values, dtype="str"), pd.Series(values, dtype=object)
    mixed = pd.Series([*values, 0], dtype=object)  # a number among them
    for rule in (clean.text, clean.ids, clean.emails, clean.urls, clean.key):
        want = cells(rule(mixed))[:-1]
        assert cells(rule(objects)) == want and cells(rule(arrow)) == want
    assert list(clean.valid_emails(clean.emails(arrow))) == list(clean.valid_emails(clean.emails(objects)))


def test_text_from_numbers_or_dates_columns_is_missing() -> None:
    assert clean.text(pd.Series([1, 2])).isna().all()
    assert clean.text(pd.Series([True, False])).isna().all()
    assert clean.text(pd.Series(pd.to_datetime(["2025-01-01"], utc=True))).isna().all()


def test_keys_are_lower_case_with_one_separator() -> None:
    s = pd.Series(["Open  All_year", " in--progress ", "Professional Certificate", None, 3], dtype=object)
    assert cells(clean.key(s)) == ["open all year", "in progress", "professional certificate", None, None]
    assert cells(clean.key(s, sep="")) == ["openallyear", "inprogress", "professionalcertificate", None, None]


# --------------------------------------------------------------------------- numbers and ids


def test_numbers_are_finite_floats_from_numbers_and_numeric_text() -> None:
    s = pd.Series([3, 2.5, " 12 ", "1e3", "-4", True, False, "x", None, [1], float("inf"), "nan", 10**400, np.int64(7)], dtype=object)
    assert cells(clean.numbers(s)) == [3.0, 2.5, 12.0, 1000.0, -4.0, None, None, None, None, None, None, None, None, 7.0]


def test_numbers_of_typed_columns() -> None:
    assert cells(clean.numbers(pd.Series([1, 2]))) == [1.0, 2.0]
    assert cells(clean.numbers(pd.Series([1.5, np.inf, np.nan]))) == [1.5, None, None]
    assert clean.numbers(pd.Series([True, False])).isna().all()  # booleans are no numbers
    assert cells(clean.numbers(pd.Series(["5", "five"], dtype="str"))) == [5.0, None]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.none()), max_size=8))
def test_numbers_never_take_booleans_and_are_always_finite(values: list[Any]) -> None:
    out = clean.numbers(pd.Series(values, dtype=object))
    assert out.dtype == np.float64
    for value, got in zip(values, out.tolist()):
        if isinstance(value, bool) or value is None:
            assert np.isnan(got)
        elif np.isfinite(got):
            assert got == float(value)
        else:
            assert np.isnan(got)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.booleans(), st.integers(-(2**80), 2**80), st.floats(-1e20, 1e20), TEXTS), max_size=8))
def test_ids_are_text_or_integers_never_booleans(values: list[Any]) -> None:
    want = []
    for v in values:
        if type(v) is str:
            want.append(v.strip() or None)
        elif type(v) is int:
            want.append(str(v))
        elif type(v) is float and v == int(v) and abs(v) < 2**53:
            want.append(str(int(v)))
        else:
            want.append(None)
    assert cells(clean.ids(pd.Series(values, dtype=object))) == want


def test_ids_of_typed_columns() -> None:
    assert cells(clean.ids(pd.Series([4921316, -(2**63)]))) == ["4921316", str(-(2**63))]
    assert cells(clean.ids(pd.Series([12.0, np.nan, 1.5, 2.0**60]))) == ["12", None, None, None]  # an int column with a gap
    assert clean.ids(pd.Series([True, False])).isna().all()


@given(n=st.integers(-(10**9), 10**9))
def test_half_up_rounds_halves_up(n: int) -> None:
    assert clean.half_up(n + 0.5) == n + 1 and clean.half_up(n + 0.49) == n and clean.half_up(n - 0.5) == n


def test_half_up_is_not_pandas_round() -> None:
    s = pd.Series([0.5, 1.5, 2.5, 62.5, 99.5])
    assert clean.half_up(s).tolist() == [1, 2, 3, 63, 100]
    assert s.round().tolist() == [0, 2, 2, 62, 100]  # half to even, which no rule uses


# --------------------------------------------------------------------------- dates


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC") if pd.Timestamp(text).tzinfo else pd.Timestamp(text, tz="UTC")


def test_dates_read_iso_text_and_epoch_milliseconds_in_utc() -> None:
    s = pd.Series(["2025-11-05T18:40:02Z", "2025-10-01T10:00:00+02:00", "2025-11-05", " 2025-01-01T00:00:00.123Z ",
                   1765011660000, "1765011660000", 1765011660000.0, "yesterday", "", None, True, [1]], dtype=object)  # fmt: skip
    out = clean.dates(s)
    assert str(out.dtype) == clean.INSTANTS
    assert cells(out) == [
        utc("2025-11-05T18:40:02Z"), utc("2025-10-01T08:00:00Z"), utc("2025-11-05"), utc("2025-01-01T00:00:00.123Z"),
        *[pd.Timestamp(1765011660000, unit="ms", tz="UTC")] * 3, None, None, None, None, None,
    ]  # fmt: skip


def test_dates_outside_the_sane_bounds_are_missing() -> None:
    s = pd.Series(["1989-12-31T23:59:59Z", "1990-01-01T00:00:00Z", "2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
                   "1970-01-01T00:00:00Z", "2199-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-02-30T00:00:00Z"])  # fmt: skip
    assert cells(clean.dates(s)) == [None, utc("1990-01-01"), utc("2099-12-31T23:59:59Z"), None, None, None, None, None, None]
    assert cells(clean.dates(pd.Series([0.0, 631151999999.0, 631152000000.0, 4102444800000.0, 1e30, -1.0]))) == [
        None, None, utc("1990-01-01"), None, None, None,
    ]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(moments=st.lists(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)), max_size=6))
def test_dates_agree_with_pandas_inside_the_bounds_and_are_missing_outside(moments: list[datetime]) -> None:
    texts = [m.isoformat() for m in moments]
    out = clean.dates(pd.Series(texts, dtype="str"))
    for moment, got in zip(moments, out.tolist()):
        inside = clean.EARLIEST <= pd.Timestamp(moment) < clean.LATEST
        assert (got == pd.Timestamp(moment)) if inside else pd.isna(got)
    assert cells(clean.dates(pd.Series(texts, dtype=object))) == cells(out)


# --------------------------------------------------------------------------- e-mails, urls, flags, languages

PY_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PY_URL = re.compile(r"https?://\S+")
EMAILISH = st.builds(lambda a, b, c: f"{a}@{b}.{c}", st.text(max_size=4), st.text(max_size=4), st.text(max_size=3))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(TEXTS, EMAILISH), max_size=8))
def test_one_email_pattern_with_pythons_idea_of_blanks(values: list[Any]) -> None:
    mails = clean.emails(pd.Series(values, dtype=object))
    assert list(clean.valid_emails(mails)) == [isinstance(m, str) and PY_EMAIL.fullmatch(m) is not None for m in mails.tolist()]


def test_emails_are_lower_cased_and_checked() -> None:
    mails = clean.emails(pd.Series([" Alice@Example.COM ", "a@b", "  ", 7, "a b@c.de"], dtype=object))
    assert cells(mails) == ["alice@example.com", "a@b", None, None, "a b@c.de"]
    assert list(clean.valid_emails(mails)) == [True, False, False, False, False]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(TEXTS, st.builds(lambda p, t: p + t, st.sampled_from(["http://", "https://", " https://"]), st.text(max_size=5))), max_size=8))
def test_urls_are_absolute_http_urls_with_pythons_idea_of_blanks(values: list[Any]) -> None:
    want = [v.strip() if type(v) is str and PY_URL.fullmatch(v.strip()) else None for v in values]
    assert cells(clean.urls(pd.Series(values, dtype=object))) == want


def test_flags_are_true_as_json_or_as_text() -> None:
    s = pd.Series([True, "TRUE", " true ", False, "false", None, 1, "yes", np.True_], dtype=object)
    assert clean.flags(s).tolist() == [True, True, True, False, False, False, False, False, True]
    assert clean.flags(pd.Series([True, False])).tolist() == [True, False]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("pt-BR", "pt_BR"), ("FR_ca", "fr_CA"), ("en-US", "en"), ("he", "he_IL"), ("iw", "he_IL"), ("nb", "no"), ("nb-NO", "no"),
     ("fil", "tl_PH"), ("in", "id"), ("zh-HK", "zh_HANT"), ("zh-Hant", "zh_HANT"), ("zh-CN", "zh"), ("zh-TW", "zh_tw"),
     ("sw", "sw_KE"), ("xx", None), ("", None), (None, None)],
)  # fmt: skip
def test_one_language_table_for_every_provider(locale: str | None, expected: str | None) -> None:
    assert v2_language(locale) == expected
    assert clean.languages(pd.Series([locale, 42], dtype=object)).tolist() == [expected, None]


def test_text_lists_are_distinct_stripped_strings() -> None:
    cells_ = [["a", " a ", "", 3, "b"], "solo", None, [{"name": " x "}, {"name": None}, "y"], ("t",)]
    assert clean.text_lists(cells_) == [["a", "b"], ["solo"], [], ["y"], ["t"]]
    assert clean.text_lists(cells_, field="name") == [["a", "b"], ["solo"], [], ["x", "y"], ["t"]]


def test_objects_are_none_where_missing() -> None:
    assert clean.objects(clean.text(pd.Series([" a ", ""], dtype=object))).tolist() == ["a", None]
