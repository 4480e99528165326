"""Edflex rules (docs/rules/edflex.md; docs: D-08, D-09, D-12) as pure, vectorised pandas.

Input: the flat records of `providers.edflex.models` (RESOURCE_RECORD_KEYS / STATISTIC_RECORD_KEYS)
as a DataFrame that may miss whole columns and hold values of any JSON type. Output: the column
contracts of `providers.base`. A bad record is quarantined or ignored, never raised on.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from learnsync.providers.base import (
    COURSE_FIELDS,
    COURSE_META,
    IGNORED_COLUMNS,
    QUARANTINE_COLUMNS,
    STAT_COLUMNS,
    CatalogResult,
    MappingContext,
    StatsResult,
    empty_frame,
)
from learnsync.providers import fastparse as fp
from learnsync.providers.fastparse import without_gc
from learnsync.providers.edflex.settings import (
    CATALOG_STREAM,
    DIFFICULTY_LEVELS,
    KEEP_STATUSES,
    PROGRESS_BY_STATUS,
    SUPPORTED_TYPES,
)

# 360Learning API v2 ExternalCourseDTO.defaultLang enum (docs/lms360.md: Conventions).
V2_LANGUAGES = frozenset(
    "bg cs da de el en es fi fr hr ht_HT hu id it ja kar_MM ko lt mh_MH nl nl_BE no pl pt ro ru rw_RW "
    "sk sl so_SO sv sw_KE th ti_ET tr uk zh am_ET bn bs ca cy en_CA en_GB es_AR es_MX et fr_CA gu "
    "he_IL hy kk km lo lv mi mn_MN mr ms my_MM nn_NO or pa pt_BR pt_MZ rn_BI si ta te tl_PH ur uz "
    "yo_NG zh_tw hi sr ar vi zh_HANT".split()
)
# Keys are lower-case with "_" separators; aliases cover ISO codes the enum spells differently
# (Edflex sends "he", which the enum only knows as he_IL).
_LANG_LOOKUP: dict[str, str] = {code.lower(): code for code in V2_LANGUAGES} | {
    "he": "he_IL",
    "iw": "he_IL",
    "nb": "no",
    "ht": "ht_HT",
    "tl": "tl_PH",
    "fil": "tl_PH",
    "zh_cn": "zh",
    "zh_hans": "zh",
    "zh_hk": "zh_HANT",
}

DURATION_MAX_MINUTES = 100_000  # v2 `duration` range is 1..100000
_ISO_DURATION = (
    r"^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_ISO_FACTORS = np.array([365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1], dtype=float)
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_URL = r"^https?://\S+$"


# -- column helpers (vectorised; per-element type checks only where JSON types are mixed) ----


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    if name in raw.columns:
        return raw[name].astype(object)
    return pd.Series([None] * len(raw), index=raw.index, dtype=object)


def _is_type(s: pd.Series, types: type | tuple[type, ...]) -> pd.Series:
    if len(s) == 0:
        return pd.Series(False, index=s.index, dtype=bool)
    # Fast path for the usual case, a column of strings and missing values (one C-level scan).
    if types is str and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s.notna()
    return s.map(lambda v: isinstance(v, types) and not isinstance(v, bool)).astype(bool)


def _text(s: pd.Series) -> pd.Series:
    """Stripped non-empty strings; None for anything else (missing, numbers, lists, blanks)."""
    is_str = _is_type(s, str)
    stripped = s.where(is_str, "").astype(str).str.strip()
    return stripped.astype(object).where(stripped.ne(""), None)


def _key(s: pd.Series) -> pd.Series:
    """Text normalised for vocabulary lookups: lower-case, runs of space/_/- as one space."""
    txt = _text(s)
    norm = txt.fillna("").astype(str).str.lower().str.replace(r"[\s_\-]+", " ", regex=True)
    return norm.astype(object).where(txt.notna(), None)


def _identifier(s: pd.Series) -> pd.Series:
    """Ids arrive as strings or integers; both become text, anything else None."""
    ints = _is_type(s, int)
    as_int = s.where(ints, 0).astype(str).astype(object)
    return _text(s).where(~ints, as_int)


def _number(s: pd.Series) -> pd.Series:
    """Finite floats from JSON numbers or numeric strings; NaN otherwise (booleans excluded)."""
    numbers = s.where(_is_type(s, (int, float)), None)
    out = pd.to_numeric(numbers.map(lambda v: v if v is None or abs(v) < 1e300 else None), errors="coerce")
    out = out.astype(float).fillna(pd.to_numeric(_text(s), errors="coerce").astype(float))
    return out.where(np.isfinite(out))


def _iso_seconds(s: pd.Series) -> pd.Series:
    """ISO-8601 durations (PT4H30M, P2DT3H, P1W) to seconds; NaN when not one. Y=365 d, M=30 d."""
    text = _text(s)
    present = text.notna().to_numpy(bool)  # only text can be a duration: the regex skips the rest
    txt = text[present].astype(str).str.upper().str.replace(",", ".", regex=False)
    parts = txt.str.extract(_ISO_DURATION).astype(float)
    seconds = np.full(len(s), np.nan)
    if len(parts):
        matched = parts.notna().any(axis=1).to_numpy(bool)
        found = (parts.fillna(0.0).to_numpy() * _ISO_FACTORS).sum(axis=1)
        seconds[np.flatnonzero(present)[matched]] = found[matched]
    return pd.Series(seconds, index=s.index, dtype=float)


def _duration_seconds(s: pd.Series) -> pd.Series:
    # ISO-8601 is the documented form; a bare number is read as seconds like statistics' timeSpent.
    out = _iso_seconds(s).fillna(_number(s))
    return out.where(np.isfinite(out))


def _names(value: Any) -> list[str]:
    """Category names from a list of strings or {"name": ...}; stripped, de-duplicated, in order."""
    if not isinstance(value, list):
        return []
    names = (v.get("name") if isinstance(v, dict) else v for v in value)
    return list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))


def _language(s: pd.Series, fallback: str) -> tuple[pd.Series, pd.Series]:
    """(defaultLang, known language or None): exact enum match, else the base code, else fallback."""
    key = _text(s).fillna("").astype(str).str.replace("-", "_", regex=False).str.lower()
    exact = key.map(_LANG_LOOKUP)
    base = key.str.split("_").str[0].map(_LANG_LOOKUP)
    known = exact.fillna(base).astype(object)
    known = known.where(known.notna(), None)
    return known.fillna(fallback).astype(object), known


def owner_language(owner_lang: str | None) -> str:
    """The connector owner's language as a v2 enum value (en when it cannot be mapped)."""
    lang, _ = _language(pd.Series([owner_lang], dtype=object), "en")
    return str(lang.iloc[0])


def _quarantine(ids: pd.Series, mask: pd.Series, field: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"external_id": ids[mask].astype(object), "field": field, "reason": reason})


def _frame(parts: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_frame(columns)
    return pd.concat(parts, ignore_index=True)[list(columns)]


# -- catalog -------------------------------------------------------------------------------


@without_gc
def map_catalog(raw: pd.DataFrame, stream: str, ctx: MappingContext) -> CatalogResult:
    """Edflex resources → v2 external courses (+ engine metadata), quarantine and ignored rows."""
    if stream != CATALOG_STREAM:
        raise ValueError(f"unknown Edflex catalog stream {stream!r}")
    ext = _identifier(_column(raw, "id"))
    type_text = _text(_column(raw, "type"))
    content_type = _key(type_text).map(SUPPORTED_TYPES)
    status_key = _key(_column(raw, "status"))
    # Rule: coming soon / open all year / opened are synced; no status is synced too (docs: EDFLEX-03, D-09).
    keep = status_key.isna() | status_key.isin(KEEP_STATUSES)

    no_id = ext.isna()
    no_type = ~no_id & type_text.isna()
    unsupported = ~no_id & type_text.notna() & content_type.isna()
    candidate = ~no_id & content_type.notna()

    name = _text(_column(raw, "title"))
    launch = _text(_column(raw, "url"))
    bad_launch = launch.notna() & ~launch.fillna("").astype(str).str.match(_URL)
    to_check = candidate & keep  # archived rows only need their id to be archived
    missing_name = to_check & name.isna()
    missing_launch = to_check & ~missing_name & launch.isna()
    invalid_launch = to_check & ~missing_name & ~missing_launch & bad_launch
    good = candidate & ~missing_name & ~missing_launch & ~invalid_launch

    quarantine = _frame(
        [
            _quarantine(ext, no_id, "id", "missing id"),
            _quarantine(ext, no_type, "type", "missing type"),
            _quarantine(ext, missing_name, "name", "missing title"),
            _quarantine(ext, missing_launch, "launchUrl", "missing url"),
            _quarantine(ext, invalid_launch, "launchUrl", "url is not an http(s) URL"),
        ],
        QUARANTINE_COLUMNS,
    )
    ignored = _frame(
        [pd.DataFrame({"external_id": ext[unsupported], "reason": "unsupported type " + type_text[unsupported]})],
        IGNORED_COLUMNS,
    )
    courses = _courses(raw[good.to_numpy()], ext[good], name[good], launch[good], content_type[good], keep[good], ctx)
    return CatalogResult(courses=courses, quarantine=quarantine, ignored=ignored)


def _courses(
    raw: pd.DataFrame,
    ext: pd.Series,
    name: pd.Series,
    launch: pd.Series,
    content_type: pd.Series,
    keep: pd.Series,
    ctx: MappingContext,
) -> pd.DataFrame:
    col = lambda name: _column(raw, name)  # noqa: E731 - local shorthand
    language = _text(col("language"))
    default_lang, known_lang = _language(language, owner_language(ctx.owner_lang))
    subjects = [_names(v) for v in col("categories")]
    creators, platforms = _text(col("creator_name")), _text(col("platform_name"))
    category_ids = col("category_ids")
    description = _description(_text(col("description")), _text(col("syllabus")))
    image = (
        _text(col("image_url"))
        .fillna(_text(col("image_big_url")))
        .fillna(_text(col("image_medium_url")))
        .fillna(_text(col("image_small_url")))
    )
    extra = [
        {
            "authors": [a] if a else [],
            "sourceLanguage": lang,
            "status": status,
            "categoryIds": [str(i) for i in ids if isinstance(i, (str, int))] if isinstance(ids, list) else [],
        }
        for a, lang, status, ids in zip(
            _text(col("author_name")), language, _text(col("status")), category_ids
        )
    ]
    skills_sync = bool(ctx.options.get("skills_sync", False))
    out = pd.DataFrame(
        {
            "externalId": ext,
            "name": name,
            "launchUrl": launch,
            "defaultLang": default_lang,
            "subjects": subjects,
            # Rule: creator name and platform name both become sources (docs: EDFLEX-12, D-09).
            # v2 requires sources; with neither creator nor platform, Edflex itself is the source.
            "sources": [[{"name": n} for n in dict.fromkeys(x for x in pair if x)] or [{"name": "Edflex"}] for pair in zip(creators, platforms)],
            "description": description,
            "imageUrl": image.where(image.notna(), None),
            "duration": _duration_minutes(col("duration")),
            "contentType": content_type.astype(object),
            "difficultyLevel": _difficulty(col("difficulty")),
            "mobileLaunchUrl": None,
            "_status": pd.Series(np.where(keep.to_numpy(dtype=bool), "keep", "archive"), index=raw.index, dtype=object),
            "_tags": [[] for _ in range(len(raw))],
            # Rule: categories become skills only when skills sync is on; None leaves skills alone.
            "_skills": [list(s) for s in subjects] if skills_sync else None,
            "_extra": extra,
            "_filter_lang": known_lang,
            "_filter_type": content_type.astype(object),
        },
        index=raw.index,
    )
    if len(out) == 0:
        return empty_frame(COURSE_FIELDS + COURSE_META)
    return out[list(COURSE_FIELDS + COURSE_META)].reset_index(drop=True)


def _description(description: pd.Series, syllabus: pd.Series) -> pd.Series:
    """Rule: description then syllabus, separated by a blank line; whichever exists otherwise."""
    both = description.fillna("").astype(str) + "\n\n" + syllabus.fillna("").astype(str)
    out = both.astype(object).where(description.notna() & syllabus.notna(), description.fillna(syllabus))
    return out.where(out.notna(), None)


def _duration_minutes(s: pd.Series) -> pd.Series:
    """Rule: duration in whole minutes, 1..100000 (docs: EDFLEX-13, D-08); zero, negative or unreadable → NA."""
    seconds = _duration_seconds(s)
    minutes = np.floor(seconds / 60.0 + 0.5).clip(lower=1, upper=DURATION_MAX_MINUTES)
    return minutes.where(seconds > 0).astype("Int64")


def _difficulty(s: pd.Series) -> pd.Series:
    """Rule: 1 Introductive / 2 Intermediate / 3 Advanced → beginner / intermediate / advanced."""
    numbers = _number(s)
    integral = numbers.where(numbers.eq(np.floor(numbers)) & numbers.abs().lt(1e6))
    number_key = integral.astype("Int64").astype(str).astype(object).where(integral.notna(), None)
    level = _key(s).fillna(number_key).map(DIFFICULTY_LEVELS)
    return level.astype(object).where(level.notna(), None)


# -- statistics ----------------------------------------------------------------------------


def _utc(s: pd.Series) -> pd.Series:
    # One resolution whatever the input, so pages concatenate without casts.
    return pd.to_datetime(_text(s), utc=True, errors="coerce", format="ISO8601").dt.as_unit("us")


@without_gc
def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """Edflex statistics → STAT_COLUMNS rows, quarantine and skipped counts.

    Columns with few distinct values (course, learner, status, time spent) are read once per
    distinct value, dates of Arrow text columnwise (`_dates`): the rules stay the per-value ones.
    """
    col = lambda name: raw[name] if name in raw.columns else _column(raw, name)  # noqa: E731 - `_distinct` reads any dtype
    row_id = _row_ids(raw)
    course_codes, course_cells = _distinct(col("resourceId"))
    course_by_code = _identifier(course_cells)
    email_codes, email_cells = _distinct(col("userEmail"))
    email_by_code = _text(email_cells).fillna("").astype(str).str.lower()
    status_codes, status_cells = _distinct(col("status"))
    status_by_code = _key(status_cells)
    # Rule: 100 when completed, 50 when "in progress" / in_progress (docs: EDFLEX-20, D-09), 0 otherwise.
    progress = status_by_code.map(PROGRESS_BY_STATUS).fillna(0).astype(float).to_numpy()[status_codes]
    clamped = (progress < 0) | (progress > 100)
    completed = status_by_code.eq("completed").to_numpy(bool)[status_codes]

    first = _dates(raw, "firstActivityAt")
    last_raw = _dates(raw, "lastActivityAt")
    # Completion = the provider's completion date, else the last activity (docs: D-02); only for "completed".
    completed_at = _dates(raw, "completedAt").fillna(last_raw).where(completed)
    last = last_raw.fillna(completed_at).fillna(first)

    no_course = course_by_code.isna().to_numpy(bool)[course_codes]
    no_email = ~no_course & email_by_code.eq("").to_numpy(bool)[email_codes]
    bad_email = ~no_course & ~no_email & ~email_by_code.str.match(_EMAIL).to_numpy(bool)[email_codes]
    no_date = ~no_course & ~no_email & ~bad_email & last.isna().to_numpy(bool)
    good = ~(no_course | no_email | bad_email | no_date)
    time_codes, time_cells = _distinct(col("timeSpent"))
    ms_by_code = _milliseconds_of(time_cells)
    quarantine = _stats_quarantine(raw, course_by_code, course_codes, row_id, no_course, no_email, bad_email, no_date)
    if good.all():  # the usual page: no row to drop
        good = slice(None)
    stats = pd.DataFrame(
        {
            "course_external_id": pd.Series(course_by_code.to_numpy(dtype=object)[course_codes[good]], dtype=object),
            "user_email": pd.Series(email_by_code.to_numpy(dtype=object)[email_codes[good]], dtype=object),
            "progress": pd.Series(progress[good]).clip(0, 100).astype("int64"),
            "time_spent_ms": ms_by_code.array.take(time_codes[good]),
            "first_activity_at": first.array[good],
            "last_activity_at": last.array[good],
            "completed_at": completed_at.array[good],
        }
    )[list(STAT_COLUMNS)]
    # Rule: progress outside 0..100 is clamped and reported, never quarantined (docs: EDFLEX-25, D-12).
    return StatsResult(stats=stats, quarantine=quarantine, skipped={"progress_clamped": int(clamped[good].sum())})


def _stats_quarantine(
    raw: pd.DataFrame,
    course_by_code: pd.Series,
    course_codes: np.ndarray,
    row_id: Callable[[np.ndarray], pd.Series],
    no_course: np.ndarray,
    no_email: np.ndarray,
    bad_email: np.ndarray,
    no_date: np.ndarray,
) -> pd.DataFrame:
    """Quarantine rows (`course|row id`, else `course|row index`), built for the bad rows only."""
    rows = np.flatnonzero(no_course | no_email | bad_email | no_date)
    index = raw.index[rows]
    course = pd.Series(course_by_code.to_numpy()[course_codes[rows]], index=index, dtype=object)
    qid = course.fillna("?") + "|" + row_id(rows).set_axis(index).fillna(pd.Series(index.astype(str), index=index))

    def where(mask: np.ndarray) -> pd.Series:
        return pd.Series(mask[rows], index=index)

    return _frame(
        [
            _quarantine(qid, where(no_course), "resourceId", "missing course id"),
            # Rule: a row without a learner e-mail is quarantined (docs: EDFLEX-24, D-12); the e-mail is never echoed.
            _quarantine(qid, where(no_email), "userEmail", "missing learner email"),
            _quarantine(qid, where(bad_email), "userEmail", "invalid learner email"),
            _quarantine(qid, where(no_date), "lastActivityAt", "no activity date"),
        ],
        QUARANTINE_COLUMNS,
    )


def _milliseconds(s: pd.Series) -> pd.Series:
    """Rule: time spent in milliseconds; Edflex sends ISO-8601 or seconds. Negative/unreadable → NA."""
    return _seconds_to_milliseconds(_duration_seconds(s))


def _seconds_to_milliseconds(seconds: pd.Series) -> pd.Series:
    ms = np.floor(seconds.clip(upper=1e15) * 1000.0 + 0.5)
    return ms.where(seconds >= 0).astype("Int64")


def _milliseconds_of(cells: pd.Series) -> pd.Series:
    """`_milliseconds`, reading integer cells directly: the rule takes an integer as that many
    seconds (exact below 2**53). Seconds are many distinct values, so only the other cells (ISO
    text, floats...) go through the per-value checks."""
    values = cells.to_numpy(dtype=object)
    ints = np.fromiter(map(type, values), dtype=object, count=len(values)) == int
    if not ints.any() or not _small_ints(values):  # pandas parses huge integers by what else the column holds
        return _milliseconds(cells)
    whole = np.full(len(values), np.nan)
    whole[ints] = values[ints].astype(np.float64)
    out = _seconds_to_milliseconds(pd.Series(whole, index=cells.index)).array.copy()
    if not ints.all():
        out[~ints] = _milliseconds(cells[~ints]).array
    return pd.Series(out, index=cells.index)


# -- statistics: columnar reading (same rules, fewer per-value steps) ------------------------

_DISTINCT_TYPES = frozenset({str, int, float, type(None)})


def _distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code per row, cells) such that `rule(cells)[codes]` is `rule(s)` for an element-wise rule.

    The cells are the distinct values and a last None (the code of missing rows) for Arrow text,
    numpy numbers and object columns of str, int or float (not both int and float: factorizing
    merges 1 and 1.0, which `_identifier` tells apart). Anything else, and integers beyond 2**53
    (pandas parses those differently depending on the column's other values), keeps every value.
    """
    if s.dtype == object:
        values = s.to_numpy()
        types = set(map(type, values))
        if not types <= _DISTINCT_TYPES or {int, float} <= types:
            return np.arange(len(s)), s
    elif fp.is_text(s) or s.dtype.kind in "iuf":
        values, types = s, {int} if s.dtype.kind in "iu" else set()
    else:
        return np.arange(len(s)), s.astype(object)
    codes, uniques = pd.factorize(values)
    cells = pd.Series([*uniques.tolist(), None], dtype=object)
    if int in types and not _small_ints(cells.to_numpy()):
        return np.arange(len(s)), s.astype(object)
    return np.where(codes < 0, len(uniques), codes), cells


def _small_ints(values: np.ndarray) -> bool:
    """Whether every int among the object values is below 2**53 in magnitude (exact as a float)."""
    ints = values[np.fromiter(map(type, values), dtype=object, count=len(values)) == int]
    try:
        return bool((np.abs(ints.astype(np.float64)) < 2**53).all())
    except OverflowError:
        return False


def _row_ids(raw: pd.DataFrame) -> Callable[[np.ndarray], pd.Series]:
    """`_identifier` of the `id` column for some rows: only quarantined rows need it. A column of
    other values than text or integers is read whole first, as the rule reads it."""
    if "id" in raw.columns and (fp.is_text(raw["id"]) or raw["id"].dtype.kind in "iu"):
        return lambda rows: _identifier(raw["id"].iloc[rows].astype(object))
    whole = _identifier(_column(raw, "id"))
    return lambda rows: whole.iloc[rows]


_ISO_SECONDS_LEN = len("2026-01-01T00:00:00Z")


def _dates(raw: pd.DataFrame, name: str) -> pd.Series:
    """`_utc` of a column; Arrow parses a text column whose values all have the API's shape.

    Values of exactly 20 bytes (`YYYY-MM-DDTHH:MM:SSZ`) are parsed by Arrow, which agrees with
    pandas on every such value it accepts; a column with another value, or one Arrow refuses
    (e.g. a 30 February), takes `_utc`: pandas reads a column at the finest resolution any of its
    values needs (at nanoseconds it drops dates outside 1677..2262), so values are not read apart.
    """
    if name not in raw.columns or not fp.is_text(raw[name]) or fp.pa is None:
        return _utc(_column(raw, name))
    text = fp.arrow_strings(raw[name])
    if fp.pc.any(fp.pc.not_equal(fp.pc.binary_length(text), _ISO_SECONDS_LEN)).as_py():
        return _utc(_column(raw, name))
    try:
        seconds = fp.pc.cast(text, fp.pa.timestamp("s", tz="UTC")).cast(fp.pa.int64())
    except fp.pa.ArrowInvalid:
        return _utc(_column(raw, name))
    micros = fp.pc.multiply(seconds, 1_000_000).fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)
    return pd.Series(micros.view("datetime64[us]"), index=raw.index).dt.tz_localize("UTC")
