"""Columnar fast paths the provider mappings use on clean, typed columns (performance only).

Frames built from provider pages (`pd.DataFrame.from_records`) carry typed columns when the
data is clean: Arrow-backed strings (pandas' `str` dtype when pyarrow is installed), int64,
float64. On such columns these helpers do in C/numpy what the generic helpers do with per-cell
Python checks; the mappings use them only when every input column has such a type, and fall
back to their generic (object) path otherwise, so the rules have one meaning.

Without pyarrow every helper answers None (or False) and the mappings take the generic path
(`map_distinct` is plain pandas and works either way).
"""

from __future__ import annotations

import functools
import gc
import re
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pandas as pd

try:  # pyarrow backs pandas' string dtype; without it pandas string ops are Python loops
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - exercised only on installs without pyarrow
    pa = None
    pc = None


F = TypeVar("F", bound=Callable[..., Any])
_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


_switch_lock = threading.Lock()
_switch_depth = 0
_switch_was = 0.005
RESPONSIVE_SWITCH_INTERVAL = 0.001


@contextmanager
def responsive_switching() -> Iterator[None]:
    """A 1 ms GIL switch interval instead of 5 ms (re-entrant, across threads).

    While a worker thread maps a chunk, the event loop thread waits up to the switch interval
    for the GIL each time a page arrives: at 5 ms, page handling and new requests stall behind
    the mapping; at 1 ms they interleave.
    """
    global _switch_depth, _switch_was
    with _switch_lock:
        if _switch_depth == 0:
            _switch_was = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_was, RESPONSIVE_SWITCH_INTERVAL))
        _switch_depth += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_depth -= 1
            if _switch_depth == 0:
                sys.setswitchinterval(_switch_was)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (re-entrant, across threads).

    A catalog holds hundreds of thousands of small containers (nested dicts and lists of the
    pages) while it is read and mapped; every generation-2 collection walks all of them again,
    which costs as much as the work itself. Those records hold no reference cycles
    (refcounting frees them), and cycles others create meanwhile are collected when the
    outermost pause ends.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def without_gc(fn: F) -> F:
    """Run a mapping with the cyclic garbage collector paused (see `paused_gc`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with paused_gc():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def arrow_strings(s: pd.Series) -> Any | None:
    """The column as one pyarrow string array (zero copy), or None if it is not Arrow-backed text."""
    if not is_text(s):
        return None
    arr = pa.array(s.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr


def is_text(s: pd.Series) -> bool:
    """An Arrow-backed text column (`arrow_strings` reads it without conversion)."""
    return pa is not None and isinstance(s.dtype, pd.StringDtype) and getattr(s.dtype, "storage", None) == "pyarrow"


def is_number(s: pd.Series) -> bool:
    """int or float numpy columns (never bool: booleans are not numbers in any provider's rules)."""
    return s.dtype.kind in "iuf" and not pd.api.types.is_bool_dtype(s.dtype)


def all_missing(s: pd.Series) -> bool:
    return s.dtype == object and bool(s.isna().all())


def to_series(arr: Any, index: pd.Index) -> pd.Series:
    """An Arrow string array as a pandas `str` Series (missing values are NaN, as in pandas)."""
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), index=index)


def clean_text(arr: Any) -> Any:
    """Stripped, non-empty strings; anything else null (the generic `_text` on clean text)."""
    stripped = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.greater(pc.utf8_length(stripped), 0), stripped, pa.scalar(None, arr.type))


_STR_OR_NONE = frozenset({str, type(None)})


def exact_strings(s: pd.Series) -> Any | None:
    """An object Series as an Arrow string array, or None unless each value is exactly a `str` or
    missing (None, NaN: nulls).

    Exact types only: the generic text rules treat str subclasses, bytes and numpy strings as
    not-text, while Arrow would take them as text.
    """
    if pa is None:
        return None
    values = s.to_numpy(dtype=object)
    if not set(map(type, values)) <= _STR_OR_NONE:
        values = np.where(pd.isna(values), None, values)  # NaN marks a missing cell in a frame
        if not set(map(type, values)) <= _STR_OR_NONE:
            return None
    try:
        return pa.array(values, type=pa.large_string())
    except UnicodeEncodeError:  # lone surrogates: the generic path decides what they are
        return None


def objects(arr: Any, index: pd.Index) -> pd.Series:
    """An Arrow array as an object Series, missing values as None (what the generic rules return)."""
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=index, dtype=object)


_ASCII_URL = r"^https?://[!-~]+$"  # printable ASCII, no space: \S for Python and RE2 alike
_URL = re.compile(r"https?://\S+$")


def url_mask(arr: Any) -> np.ndarray:
    r"""`re.match(r"https?://\S+$", value)` for each value of an Arrow string array (null: False).

    RE2 and Python disagree on `\S` (Python's is Unicode-aware) and on `$` (Python also matches
    before a final newline), so RE2 only settles printable-ASCII URLs; the few other values with
    an http prefix go through `re` itself.
    """
    sure = np.asarray(pc.fill_null(pc.match_substring_regex(arr, _ASCII_URL), False).to_numpy(zero_copy_only=False), dtype=bool)
    rest = np.flatnonzero(~sure & np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool))
    if len(rest):
        others = arr.take(pa.array(rest))
        http = np.asarray(pc.starts_with(others, "http").to_numpy(zero_copy_only=False), dtype=bool)
        sure[rest[http]] = [_URL.match(v) is not None for v in others.filter(pa.array(http)).to_pylist()]
    return sure


def map_distinct(s: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series | None:
    """`fn(s)` for an element-wise `fn`, computed once per distinct value of `s`.

    Only for values that are each exactly a `str` or None (else None: factorizing other objects
    would merge 1, 1.0 and True, which the rules tell apart).
    """
    values = s.to_numpy(dtype=object)
    if not set(map(type, values)) <= _STR_OR_NONE:
        return None
    codes, uniques = pd.factorize(values)  # None gets code -1: the answer appended last
    answers = fn(pd.Series([*uniques, None], dtype=object))
    return pd.Series(answers.to_numpy()[codes], index=s.index, dtype=answers.dtype)


def per_distinct(arr: Any, fn: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """Apply a (slow) per-value check once per distinct value; nulls give False."""
    encoded = arr.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    values = pd.Series(encoded.dictionary.to_pylist(), dtype=object)
    answers = np.asarray(fn(values), dtype=bool) if len(values) else np.zeros(0, dtype=bool)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    valid = ~np.asarray(pc.is_null(encoded.indices).to_numpy(zero_copy_only=False), dtype=bool)
    out = np.zeros(len(arr), dtype=bool)
    out[valid] = answers[indices[valid].astype(np.int64)]
    return out


def int_ids(s: pd.Series) -> pd.Series:
    """int64 ids as strings (the generic `_ids` on integers: only |id| < 2**53 are kept)."""
    values = s.to_numpy(np.int64)
    ok = np.abs(values) < 2**53
    text = pc.cast(pa.array(values), pa.large_string())
    if not ok.all():
        text = pc.if_else(pa.array(ok), text, pa.scalar(None, pa.large_string()))
    return to_series(text, s.index)


_ISO_LEN = 20  # YYYY-MM-DDTHH:MM:SSZ
_SEP = {4: ord("-"), 7: ord("-"), 10: ord("T"), 13: ord(":"), 16: ord(":"), 19: ord("Z")}
_DIGIT_AT = [i for i in range(_ISO_LEN) if i not in _SEP]
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid (y, m, d) dates, 0 <= y <= 9999 (two table look-ups)."""
    return _YEAR_START[y] + _MONTH_START[_IS_LEAP[y].astype(np.intp), m] + (d - 1)


def _calendar_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    years = np.arange(10_000)
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    y = years - 1  # days from 0000-01-01 to 1970-01-01 is 719_528
    start = (365 * years + np.where(years > 0, y // 4 - y // 100 + y // 400 + 1, 0)) - 719_528
    months = np.zeros((2, 14), dtype=np.int64)
    for is_leap in (0, 1):
        lengths = [0, 31, 28 + is_leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        months[is_leap, 1:] = np.cumsum(lengths)
    return start.astype(np.int64), months, leap


_YEAR_START, _MONTH_START, _IS_LEAP = _calendar_tables()


def iso_utc(arr: Any, index: pd.Index) -> pd.Series:
    """`pd.to_datetime(stripped_text, format="ISO8601", utc=True, errors="coerce")` for an Arrow
    string array (blank values are missing, surrounding whitespace is ignored).

    Values in the exact `YYYY-MM-DDTHH:MM:SSZ` shape (what the provider APIs send) are decoded
    from the raw bytes with integer numpy; every other non-null value goes through pandas.
    Returns datetime64[us, UTC].
    """
    n = len(arr)
    out = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    present = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    exact = np.asarray(pc.fill_null(pc.equal(pc.binary_length(arr), _ISO_LEN), False).to_numpy(zero_copy_only=False), dtype=bool)
    if exact.any():
        picked = arr.filter(pa.array(exact)).cast(pa.large_binary())
        buffers = picked.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64)[picked.offset : picked.offset + len(picked) + 1]
        data = np.frombuffer(buffers[2], dtype=np.uint8)
        rows = data[offsets[0] : offsets[0] + _ISO_LEN * len(picked)].reshape(len(picked), _ISO_LEN)
        valid = ((rows[:, _DIGIT_AT] - 48) <= 9).all(axis=1)  # uint8 wraps below "0"
        for at, char in _SEP.items():
            valid &= rows[:, at] == char

        def num(at: int, width: int) -> np.ndarray:
            value = rows[:, at].astype(np.int32) - 48
            for i in range(at + 1, at + width):
                value = value * 10 + (rows[:, i].astype(np.int32) - 48)
            return value

        y, mo, d, hh, mi, ss = num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
        y = np.where(valid, y, 2000)  # a non-digit year would index the leap table out of range
        month = np.clip(mo, 0, 12)
        month_days = _MONTH_DAYS[month] + (_IS_LEAP[y] & (mo == 2))
        valid &= (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= month_days) & (hh < 24) & (mi < 60) & (ss < 60)
        days = _days_from_civil(y, month, d).astype(np.int64)
        micros = ((days * 86_400 + hh * 3600 + mi * 60 + ss) * 1_000_000).astype(np.int64)
        where = np.flatnonzero(exact)
        out[where[valid]] = micros[valid]
        exact[where[~valid]] = False  # odd values (e.g. a 30 February) take pandas' decision
    rest = present & ~exact
    if rest.any():
        others = [v.strip() or None for v in arr.filter(pa.array(rest)).to_pylist()]
        parsed = pd.to_datetime(pd.Series(others, dtype=object), utc=True, errors="coerce", format="ISO8601")
        parsed = parsed.astype("datetime64[us, UTC]")
        out[np.flatnonzero(rest)] = np.asarray(parsed.values, dtype="datetime64[us]").astype(np.int64)
    return pd.Series(out.view("datetime64[us]"), index=index).dt.tz_localize("UTC")
