"""The column cleaners every provider mapping uses: one behaviour for each kind of value.

A cleaner takes a raw column as a provider page gave it (Arrow text, numbers, or objects of any
JSON type mixed) and returns one typed column. A value that does not fit is missing, never an
error, and never re-typed by guesswork:

- `text`: strings, stripped; blanks and non-strings (numbers, booleans, lists, dicts) missing.
- `numbers`: finite floats from JSON numbers or numeric strings; booleans, lists, junk missing.
- `ids`: strings (stripped) and integers (an integral float below 2**53 too: pandas stores an
  integer column with a gap as floats) as text; booleans and anything else missing.
- `dates`: ISO-8601 strings, and epoch milliseconds (a JSON number or a string of digits), as
  UTC instants (microseconds); anything outside `EARLIEST`..`LATEST` missing (docs: D-27).
- `half_up`: the one rounding rule, half up, for durations, progress and milliseconds (docs: D-27).
- `emails` / `valid_emails`: lower-cased text, checked by the one `EMAIL` pattern.
- `urls`: absolute http(s) URLs (stripped text matching `URL`).
- `languages`: through `kit.languages.v2_language` (the v2 enum), once per distinct value.

Text columns come back as pandas' Arrow-backed `str` dtype (missing: NaN); `objects` turns any
column into the object cells with None that catalog rows carry. Text rules run in Arrow (C++,
RE2), so clean and mixed columns go through the same code: a mixed object column is first
reduced to its exact `str` cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from learnsync.providers.kit.languages import v2_language

TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' `str` dtype
INSTANTS = "datetime64[us, UTC]"

# Sane bounds of a learning-activity or catalog date (docs: D-27): the providers are younger
# than 1990, and a date past 2100 is a placeholder, not an activity.
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")  # excluded
_MAX_EXACT_FLOAT = 2**53  # integers above this are not exact as floats

# Python's `\s` (str.isspace) spelled for RE2, whose own `\s` is ASCII [\t\n\f\r ] only.
_SPACE = r"\s\x0b\x1c-\x1f\x85\p{Z}"
# One e-mail pattern for every provider: something@something.tld, no blank and no second "@".
EMAIL = rf"^[^@{_SPACE}]+@[^@{_SPACE}]+\.[^@{_SPACE}]+$"
URL = rf"^https?://[^{_SPACE}]+$"


# --------------------------------------------------------------------------- columns


def column(raw: pd.DataFrame, name: str) -> pd.Series:
    """`raw[name]` with its own dtype, or an all-missing column when the page had no such key."""
    if name in raw.columns:
        return raw[name]
    return pd.Series(None, index=raw.index, dtype=object)


def objects(s: pd.Series) -> pd.Series:
    """Object cells, None where missing (what catalog rows and quarantine rows carry)."""
    out = s.astype(object)
    return out.where(s.notna(), None)


def _series(arr: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(arr, dtype=TEXT), index=index)


def strings(s: pd.Series) -> pa.Array:
    """The exact `str` cells of a column as one Arrow array (every other cell null)."""
    if isinstance(s.dtype, pd.StringDtype):
        arr = pa.array(s.array)
    elif s.dtype == object:
        values = s.to_numpy(dtype=object)
        is_str = np.fromiter(map(type, values), dtype=object, count=len(values)) == str  # noqa: E721 - element-wise, exact str
        if not is_str.all():
            values = np.where(is_str, values, None)
        try:
            arr = pa.array(values, type=pa.large_string())
        except UnicodeEncodeError:  # a lone surrogate: shown as unreadable (U+FFFD), never raised on
            arr = pa.array([v if v is None else v.encode("utf-8", "replace").decode() for v in values], type=pa.large_string())
    else:  # numbers, booleans, dates: no text at all
        return pa.nulls(len(s), type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


def _trimmed(s: pd.Series) -> pa.Array:
    arr = pc.utf8_trim_whitespace(strings(s))
    return pc.if_else(pc.greater(pc.utf8_length(arr), 0), arr, pa.scalar(None, arr.type))


def text(s: pd.Series) -> pd.Series:
    """Stripped, non-blank strings; anything else missing."""
    return _series(_trimmed(s), s.index)


def key(s: pd.Series, sep: str = " ") -> pd.Series:
    """Text as vocabularies are keyed: lower-case, each run of blanks, `_` and `-` one `sep`."""
    arr = pc.replace_substring_regex(pc.utf8_lower(_trimmed(s)), rf"[{_SPACE}_\-]+", sep)
    return _series(arr, s.index)


def _is_bool(s: pd.Series) -> bool:
    return bool(pd.api.types.is_bool_dtype(s.dtype))


def numbers(s: pd.Series) -> pd.Series:
    """Finite floats from JSON numbers or numeric strings; booleans, lists and junk missing."""
    if _is_bool(s):
        return pd.Series(np.nan, index=s.index, dtype="float64")
    if s.dtype.kind in "iuf":
        out = s.astype("float64")
    else:
        out = _numeric_text(s)
        numeric = _numeric_cells(s)
        if numeric.any():
            out[numeric] = _floats(s.to_numpy(dtype=object)[numeric])
    return out.where(np.isfinite(out))


# Decimal text, as JSON writes numbers (a sign allowed): what a text cell may hold as a number.
_NUMERIC = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def _numeric_text(s: pd.Series) -> pd.Series:
    """The numbers the text cells of a column spell (`_NUMERIC`, once stripped); NaN elsewhere."""
    arr = _trimmed(s)
    numeric = pc.fill_null(pc.match_substring_regex(arr, _NUMERIC), False)
    values = pc.cast(pc.if_else(numeric, arr, pa.scalar(None, arr.type)), pa.float64())
    return pd.Series(values.to_numpy(zero_copy_only=False), index=s.index, dtype="float64")


# as object arrays: np.isin compares the types themselves
_INT_TYPES = np.array([int, np.int64, np.int32], dtype=object)
_FLOAT_TYPES = np.array([float, np.float64, np.float32], dtype=object)
_NUMBER_TYPES = np.concatenate([_INT_TYPES, _FLOAT_TYPES])


def _numeric_cells(s: pd.Series) -> np.ndarray:
    """Which cells of an object column are JSON numbers (booleans are not)."""
    if s.dtype != object:
        return np.zeros(len(s), dtype=bool)
    types = np.fromiter(map(type, s.to_numpy(dtype=object)), dtype=object, count=len(s))
    return np.isin(types, _NUMBER_TYPES)


def _floats(values: np.ndarray) -> np.ndarray:
    try:
        return values.astype(np.float64)
    except OverflowError:  # an integer beyond the float range: not a usable number
        return np.array([_float(v) for v in values], dtype=np.float64)


def _float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return np.nan


def half_up(values: Any) -> Any:
    """Round half up (2.5 -> 3, 99.5 -> 100): the one rounding rule (docs: D-27). pandas' and
    numpy's own `round` go half to even."""
    return np.floor(values + 0.5)


def ids(s: pd.Series) -> pd.Series:
    """Provider ids as text: strings stripped, integers (and integral floats below 2**53) in
    decimal; booleans and anything else missing."""
    if _is_bool(s):
        return pd.Series(np.nan, index=s.index, dtype=TEXT)
    if s.dtype.kind in "iu":
        return _series(pc.cast(pa.array(s.to_numpy()), pa.large_string()), s.index)
    if s.dtype.kind == "f":
        return _whole_numbers(s.to_numpy(), s.index)
    out = text(s)
    if s.dtype == object:
        values = s.to_numpy(dtype=object)
        types = np.fromiter(map(type, values), dtype=object, count=len(values))
        ints, floats = np.isin(types, _INT_TYPES), np.isin(types, _FLOAT_TYPES)
        if ints.any():
            out[ints] = [str(int(v)) for v in values[ints]]
        if floats.any():
            out[floats] = _whole_numbers(values[floats].astype(np.float64), out.index[floats]).to_numpy()
    return out


def _whole_numbers(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Integral floats below 2**53 as integer text; others missing."""
    whole = np.isfinite(values) & (np.abs(values) < _MAX_EXACT_FLOAT)
    whole[whole] = values[whole] == np.floor(values[whole])
    digits = pc.cast(pa.array(np.where(whole, values, 0).astype(np.int64)), pa.large_string())
    return _series(pc.if_else(pa.array(whole), digits, pa.scalar(None, pa.large_string())), index)


def dates(s: pd.Series) -> pd.Series:
    """UTC instants (microseconds) from ISO-8601 text and from epoch milliseconds (JSON numbers,
    strings of digits); unreadable or outside EARLIEST..LATEST missing (docs: D-27)."""
    if s.dtype.kind in "iuf" and not _is_bool(s):
        iso, ms = None, numbers(s)
    else:
        iso = text(s)
        digits = pc.fill_null(pc.match_substring_regex(strings(iso), r"^[0-9]+$"), False).to_numpy(zero_copy_only=False)
        ms = pd.Series(np.nan, index=s.index, dtype="float64")
        if digits.any():
            ms[digits] = pd.to_numeric(iso[digits]).astype("float64")
            iso = iso.where(~digits)
        numeric = _numeric_cells(s)
        if numeric.any():
            ms[numeric] = _floats(s.to_numpy(dtype=object)[numeric])
    out = pd.Series(pd.NaT, index=s.index, dtype=INSTANTS)
    if iso is not None:
        out = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce").astype(INSTANTS)
    if ms.notna().any():
        inside = ms.where((ms >= EARLIEST.value // 10**6) & (ms < LATEST.value // 10**6))  # no overflow
        out = out.where(ms.isna(), pd.to_datetime(inside, unit="ms", utc=True).astype(INSTANTS))
    return out.where((out >= EARLIEST) & (out < LATEST))


def flags(s: pd.Series) -> pd.Series:
    """`true` as JSON (True) or as text ("true", any case, stripped); everything else False."""
    if _is_bool(s):
        return s.fillna(False).astype(bool)
    said = key(s).eq("true").fillna(False).astype(bool)
    if s.dtype == object:
        said |= s.map(lambda v: v is True or v is np.True_).astype(bool)
    return said


def emails(s: pd.Series) -> pd.Series:
    """Learner e-mails: stripped text, lower-cased (Arrow's Unicode lower case); blanks missing."""
    return _series(pc.utf8_lower(_trimmed(s)), s.index)


def valid_emails(mails: pd.Series) -> np.ndarray:
    """Which cleaned e-mails (`emails`) match `EMAIL`; missing ones do not."""
    found = pc.match_substring_regex(strings(mails), EMAIL)
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def urls(s: pd.Series) -> pd.Series:
    """Absolute http(s) URLs (stripped text matching `URL`); anything else missing."""
    arr = _trimmed(s)
    ok = pc.fill_null(pc.match_substring_regex(arr, URL), False)
    return _series(pc.if_else(ok, arr, pa.scalar(None, arr.type)), s.index)


def languages(s: pd.Series) -> pd.Series:
    """v2 language codes (object cells, None when unknown): `v2_language`, once per distinct value."""
    codes, uniques = pd.factorize(text(s))
    found = np.array([*(v2_language(u) for u in uniques), None], dtype=object)
    return pd.Series(found[codes], index=s.index, dtype=object)


def text_lists(cells: Any, field: str | None = None) -> list[list[str]]:
    """List cells as lists of distinct, stripped, non-blank strings (first seen first); a lone
    string is a one-item list; with `field`, dict items give their `field` value."""
    out: list[list[str]] = []
    for cell in cells:
        items = [cell] if isinstance(cell, str) else cell if isinstance(cell, (list, tuple)) else ()
        if field is not None:
            items = [i.get(field) if isinstance(i, dict) else i for i in items]
        out.append(list(dict.fromkeys(v.strip() for v in items if isinstance(v, str) and v.strip())))
    return out
