"""OpenClassrooms rules: raw catalog/progress rows (DataFrame) -> v2 course rows / stat rows.

Pure and vectorised. Rules: docs/rules/openclassrooms.md, read through
docs: D-08 (duration hours -> minutes), D-10 (closed-never-synced is the engine's job), D-12
(progress clamped and reported, no e-mail -> quarantine). Column names are the Python names of
`models.RawCourse` / `models.RawProgress`; wire-named columns are accepted too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from learnsync.providers.kit.languages import V2_LANGUAGES as COURSE_LANGS
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
from learnsync.providers.openclassrooms import settings as oc
from learnsync.providers.openclassrooms.models import RawCourse, RawProgress, canonical_frame

# v2 language codes by lower-case key, so "fr-ca", "FR_CA" and "fr_CA" all find "fr_CA".
_LANGS = {code.lower(): code for code in COURSE_LANGS}
_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
_MIN_DATE = pd.Timestamp("1970-01-01", tz="UTC")
_MAX_DATE = pd.Timestamp("2200-01-01", tz="UTC")


# --- column helpers (typing is checked per column; values that do not fit become missing) ------
def _strings(s: pd.Series) -> pd.Series:
    """Object Series keeping only non-empty str values (others -> None), unmodified."""
    if isinstance(s.dtype, pd.StringDtype):
        out = s.astype(object).where(s.notna(), None)
    elif s.dtype == object:
        is_str = s.map(lambda v: isinstance(v, str)).astype(bool)
        out = s.where(is_str, None)
    else:
        out = pd.Series([None] * len(s), index=s.index, dtype=object)
    return out.where(out.fillna("").astype(str).str.len() > 0, None).astype(object)


def _numbers(s: pd.Series) -> pd.Series:
    """float Series: numbers and numeric strings; bools, lists, non-finite values -> NaN."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(np.nan, index=s.index)
    if pd.api.types.is_numeric_dtype(s.dtype):
        out = s.astype(float)
    else:
        ok = s.map(lambda v: isinstance(v, (int, float, str)) and not isinstance(v, bool)).astype(bool)
        out = pd.to_numeric(s.where(ok, None).astype(object), errors="coerce").astype(float)
    return out.where(np.isfinite(out))


def _ids(s: pd.Series) -> pd.Series:
    """Provider ids as strings: 4921316, 4921316.0 and "4921316" are the same id; else None."""
    num = _numbers(s)
    whole = (num.notna() & (num == np.floor(num)) & (num.abs() < 2**53)).astype(bool)
    text = _strings(s).fillna("").astype(str).str.strip()
    out = text.astype(object).where(text.str.len() > 0, None)
    return out.mask(whole, num.where(whole).astype("Int64").astype(str)).astype(object)


def _dates(s: pd.Series) -> pd.Series:
    """tz-aware UTC timestamps; unparseable or absurd dates -> NaT."""
    text = _strings(s)
    out = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    return out.where((out >= _MIN_DATE) & (out < _MAX_DATE)).astype("datetime64[us, UTC]")


def _language(s: pd.Series) -> pd.Series:
    """Provider locale -> v2 language code or None: en_US/en-US -> en, pt-BR -> pt_BR, fr_CA -> fr_CA."""
    key = _strings(s).fillna("").astype(str).str.strip().str.replace("-", "_").str.lower()
    exact = key.map(_LANGS)
    primary = key.str.split("_").str[0].map(_LANGS)
    return exact.fillna(primary).astype(object).where(exact.notna() | primary.notna(), None)


def _owner_lang(ctx: MappingContext) -> str:
    found = _language(pd.Series([ctx.owner_lang], dtype=object)).iloc[0]
    return found if isinstance(found, str) else "en"


def _string_lists(s: pd.Series) -> list[list[str]]:
    """Cells -> lists of distinct non-blank strings; a lone string counts as a one-item list."""

    def clean(v: Any) -> list[str]:
        items = [v] if isinstance(v, str) else v if isinstance(v, (list, tuple)) else []
        return list(dict.fromkeys(i for i in items if isinstance(i, str) and i.strip()))

    return [clean(v) for v in s.tolist()]


def _quarantine(ext: pd.Series, mask: pd.Series, field: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"external_id": ext[mask].astype(str), "field": field, "reason": reason}).reset_index(drop=True)


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[list(columns)] if frames else empty_frame(columns)


# --- catalog ------------------------------------------------------------------------------------
@without_gc
def map_catalog(raw: pd.DataFrame, stream: str, ctx: MappingContext) -> CatalogResult:
    """Every OpenClassrooms course available to the organisation -> one v2 course row."""
    df = canonical_frame(raw, RawCourse)
    n = len(df)
    ext = _ids(df["id"])
    label = ext.fillna(pd.Series([f"row{i}" for i in range(n)], index=df.index, dtype=object))

    name = _strings(df["title"])  # rule: original title, unmodified
    name = name.where(name.fillna("").astype(str).str.strip().str.len() > 0, None)
    launch = _strings(df["url"])
    description = _strings(df["description"])  # rule: original description, unmodified

    status_key = (
        _strings(df["status"]).fillna("").astype(str).str.strip().str.lower().str.replace(r"[_\s]+", "-", regex=True)
    )
    keep = status_key.isin(oc.KEEP_STATUSES)

    course_lang = _language(df["language"])
    hours = _numbers(df["duration_hours"])
    minutes = (hours * 60).round().clip(lower=1)  # hours -> whole minutes, at least 1 (docs: OC-09, D-08)
    minutes = minutes.where((hours > 0) & (minutes <= oc.MAX_DURATION_MINUTES))
    difficulty_raw = _strings(df["difficulty"])
    difficulty = difficulty_raw.fillna("").astype(str).str.strip().str.lower().map(oc.DIFFICULTY_LEVELS)

    courses = pd.DataFrame(
        {
            "externalId": ext,
            "name": name,
            "launchUrl": launch,
            "defaultLang": course_lang.fillna(_owner_lang(ctx)).astype(object),
            "subjects": _string_lists(df["categories"]),
            "sources": [[dict(oc.SOURCE)] for _ in range(n)],
            "description": description,
            "imageUrl": _strings(df["image_url"]),
            "duration": minutes.astype("Int64"),
            "contentType": oc.CONTENT_TYPE,
            "difficultyLevel": difficulty.astype(object).where(difficulty.notna(), None),
            "mobileLaunchUrl": None,
            "_status": np.where(keep, "keep", "archive"),
            "_tags": [[] for _ in range(n)],
            "_skills": None,
            "_extra": [
                {"theoretical_hours": None if pd.isna(h) else float(h), "status": st, "language": lg, "difficulty": dif}
                for h, st, lg, dif in zip(
                    hours.tolist(), _strings(df["status"]).tolist(), _strings(df["language"]).tolist(), difficulty_raw.tolist()
                )
            ],
            "_filter_lang": course_lang,
            "_filter_type": None,
        },
        index=df.index,
    )[list(COURSE_FIELDS + COURSE_META)]

    duplicate = ext.notna() & ext.duplicated(keep="last")  # the last copy of an id wins
    quarantine = _concat(
        [
            _quarantine(label, ext.isna(), "externalId", "missing course id"),
            _quarantine(label, ext.notna() & name.isna(), "name", "missing or blank title"),
            _quarantine(label, ext.notna() & launch.isna(), "launchUrl", "missing course url"),
            _quarantine(label, duplicate, "externalId", "duplicate course id in extract (last one kept)"),
        ],
        QUARANTINE_COLUMNS,
    )
    bad = ext.isna() | name.isna() | launch.isna() | duplicate
    return CatalogResult(
        courses=courses[~bad].reset_index(drop=True),
        quarantine=quarantine,
        ignored=empty_frame(IGNORED_COLUMNS),
    )


# --- learner progress -----------------------------------------------------------------------------
@without_gc
def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """Progress rows -> STAT_COLUMNS; time spent is theoretical (course time x progress), in ms.

    Course ids and e-mails (a few distinct values repeated over many rows) are read once per
    distinct value, dates of Arrow text columnwise (`_stat_dates`): the rules stay the per-value ones.
    """
    df = canonical_frame(raw, RawProgress)
    course_codes, course_cells = _distinct(df["course_id"])
    course_by_code = _ids(course_cells)
    course = pd.Series(course_by_code.to_numpy(dtype=object)[course_codes], index=df.index, dtype=object)

    email_codes, email_cells = _distinct(df["user_email"])
    email_by_code = _strings(email_cells).fillna("").astype(str).str.strip().str.lower()
    email = email_by_code.take(email_codes).set_axis(df.index)
    has_by_code = email_by_code.str.len() > 0
    good_by_code = has_by_code & email_by_code.str.fullmatch(_EMAIL).fillna(False).astype(bool)
    has_email, good_email = has_by_code.to_numpy(bool)[email_codes], good_by_code.to_numpy(bool)[email_codes]

    started = _stat_dates(df["started_at"])
    last = _stat_dates(df["last_activity_at"])
    completed = _stat_dates(df["completed_at"])

    raw_progress = _numbers(df["progress"])
    # A completion date with no progress value still says the course was finished.
    raw_progress = raw_progress.where(raw_progress.notna() | completed.isna(), 100.0)
    clamped_mask = raw_progress.notna() & ((raw_progress < 0) | (raw_progress > 100))
    progress = raw_progress.clip(0, 100).round()
    progress = progress.where(completed.isna(), 100.0)  # a completion date means 100 %
    # Rule: completed when progress is 100; the completion date is then the last activity.
    completed = completed.fillna(last.where(progress == 100))

    # Rule: time spent = theoretical course time x progress. `timeSpent` already carries that
    # product (models.RawProgress); when progress was clamped, rescale it to the clamped value.
    spent = _numbers(df["time_spent_minutes"])
    invalid_spent = spent.notna() & ((spent < 0) | (spent > oc.MAX_TIME_SPENT_MINUTES))
    spent = spent.where(~invalid_spent)
    scale = (progress / raw_progress).where(clamped_mask & (raw_progress != 0), 1.0)
    spent_ms = (spent * scale * 60_000).round()
    # A rescale from a negative progress (a completion date forcing 100 %) has no meaning:
    # a time spent it pushes below 0 or past the cap is invalid, as a reported one would be.
    out_of_range = spent_ms.notna() & ((spent_ms < 0) | (spent_ms > oc.MAX_TIME_SPENT_MINUTES * 60_000))
    invalid_spent |= out_of_range
    spent_ms = spent_ms.where(~out_of_range)

    stats = pd.DataFrame(
        {
            "course_external_id": course,
            "user_email": email,
            "progress": progress.astype("Int64"),
            "time_spent_ms": spent_ms.astype("Int64"),
            "first_activity_at": started,
            "last_activity_at": last,
            "completed_at": completed,
        },
        index=df.index,
    )[list(STAT_COLUMNS)]

    no_course = course_by_code.isna().to_numpy(bool)[course_codes]
    no_progress = progress.isna().to_numpy(bool)
    bad = no_course | ~good_email | no_progress
    kept = ~bad
    return StatsResult(
        stats=stats[kept].reset_index(drop=True) if bad.any() else stats.reset_index(drop=True),
        quarantine=_stats_quarantine(course, no_course, has_email, good_email, no_progress),
        skipped={
            "progress_clamped": int((clamped_mask & kept).sum()),
            "time_spent_invalid": int((invalid_spent & kept).sum()),
        },
    )


def _stats_quarantine(
    course: pd.Series, no_course: np.ndarray, has_email: np.ndarray, good_email: np.ndarray, no_progress: np.ndarray
) -> pd.DataFrame:
    """Quarantine rows labelled `course|row<index>`, built for the bad rows only."""
    rows = np.flatnonzero(no_course | ~has_email | (has_email & ~good_email) | no_progress)
    index = course.index[rows]
    label = course.iloc[rows].fillna("?").astype(str) + "|row" + pd.Series(index.astype(str), index=index)

    def where(mask: np.ndarray) -> pd.Series:
        return pd.Series(mask[rows], index=index)

    return _concat(
        [
            _quarantine(label, where(no_course), "courseId", "missing course id"),
            _quarantine(label, where(~has_email), "userEmail", "missing learner email"),
            _quarantine(label, where(has_email & ~good_email), "userEmail", "invalid learner email"),
            _quarantine(label, where(no_progress), "progress", "missing or not a number"),
        ],
        QUARANTINE_COLUMNS,
    )


# --- learner progress: columnar reading (same rules, fewer per-value steps) ----------------------
def _distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code per row, cells): `rule(cells).take(codes)` is `rule(s)` for an element-wise rule.

    Cells are the distinct values (same dtype, a missing value last if any) of Arrow text,
    numbers and object columns of str / None only; any other column is its own cells (factorizing
    mixed objects would merge 1, 1.0 and True, which the rules tell apart).
    """
    if s.dtype == object:
        typed = set(map(type, s.to_numpy())) <= {str, type(None)}
    else:
        typed = fp.is_text(s) or s.dtype.kind in "iuf"
    if not typed:
        return np.arange(len(s)), s
    codes, uniques = pd.factorize(s)
    cells = pd.Series(uniques, dtype=s.dtype)
    if (codes < 0).any():
        cells = pd.concat([cells, pd.Series([None], dtype=s.dtype)], ignore_index=True)
        codes = np.where(codes < 0, len(uniques), codes)
    return codes, cells


_ISO_SECONDS_LEN = len("2026-01-01T00:00:00Z")


def _stat_dates(s: pd.Series) -> pd.Series:
    """`_dates`; Arrow parses a text column whose values all have the API's shape.

    Values of exactly 20 bytes (`YYYY-MM-DDTHH:MM:SSZ`) are parsed by Arrow, which agrees with
    pandas on every such value it accepts; a column with another value, or one Arrow refuses
    (e.g. a 30 February), takes `_dates`: pandas reads a column at the finest resolution any of
    its values needs, so values are not read apart.
    """
    if not fp.is_text(s) or fp.pa is None:
        return _dates(s)
    text = fp.arrow_strings(s)
    if fp.pc.any(fp.pc.not_equal(fp.pc.binary_length(text), _ISO_SECONDS_LEN)).as_py():
        return _dates(s)
    try:
        seconds = fp.pc.cast(text, fp.pa.timestamp("s", tz="UTC")).cast(fp.pa.int64())
    except fp.pa.ArrowInvalid:
        return _dates(s)
    micros = fp.pc.multiply(seconds, 1_000_000).fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)
    out = pd.Series(micros.view("datetime64[us]"), index=s.index).dt.tz_localize("UTC")
    return out.where((out >= _MIN_DATE) & (out < _MAX_DATE)).astype("datetime64[us, UTC]")
