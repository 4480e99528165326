"""Edflex rules (docs/rules/edflex.md; docs: D-08, D-09, D-12) as pure, vectorised pandas.

Input: the flat records of `providers.edflex.models` (RESOURCE_RECORD_KEYS / STATISTIC_RECORD_KEYS)
as a DataFrame that may miss whole columns and hold values of any JSON type. Output: the column
contracts of `providers.base`. A bad record is quarantined or ignored, never raised on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
from learnsync.providers.edflex.settings import (
    CATALOG_STREAM,
    DIFFICULTY_LEVELS,
    KEEP_STATUSES,
    PROGRESS_BY_STATUS,
    SUPPORTED_TYPES,
)
from learnsync.providers.fastparse import without_gc
from learnsync.providers.kit import cleaning as clean
from learnsync.providers.kit import row_keys
from learnsync.providers.kit.languages import v2_language

DURATION_MAX_MINUTES = 100_000  # v2 `duration` range is 1..100000
_NUMBER = r"\d+(?:\.\d+)?"
# ISO-8601 durations, each part named after its unit ("T" marks the time half). RE2 has no
# look-ahead, so "P" alone and a "T" without a time part are refused after the match.
_ISO_DURATION = (
    rf"^P(?:(?P<Y>{_NUMBER})Y)?(?:(?P<Mo>{_NUMBER})M)?(?:(?P<W>{_NUMBER})W)?(?:(?P<D>{_NUMBER})D)?"
    rf"(?:(?P<T>T)(?:(?P<H>{_NUMBER})H)?(?:(?P<Mi>{_NUMBER})M)?(?:(?P<S>{_NUMBER})S)?)?$"
)
_DATE_PARTS = {"Y": 365 * 86400, "Mo": 30 * 86400, "W": 7 * 86400, "D": 86400}
_TIME_PARTS = {"H": 3600, "Mi": 60, "S": 1}


def _iso_seconds(s: pd.Series) -> pd.Series:
    """ISO-8601 durations (PT4H30M, P2DT3H, P1W; a decimal comma too) to seconds; NaN when not
    one. Y=365 d, M=30 d."""
    text = pc.replace_substring(pc.utf8_upper(clean.strings(clean.text(s))), ",", ".")
    parts = pc.extract_regex(text, _ISO_DURATION)  # null where no match; "" for a part not given
    total = np.zeros(len(s))
    given: dict[str, np.ndarray] = {}
    for name, factor in (_DATE_PARTS | _TIME_PARTS).items():
        field = pc.struct_field(parts, name)
        value = pc.cast(pc.if_else(pc.equal(field, ""), pa.scalar(None, field.type), field), pa.float64())
        given[name] = _booleans(pc.is_valid(value))
        total += np.asarray(pc.fill_null(value, 0.0).to_numpy(zero_copy_only=False), dtype=float) * factor
    has_time = np.logical_or.reduce([given[name] for name in _TIME_PARTS])
    has_t = _booleans(pc.fill_null(pc.equal(pc.struct_field(parts, "T"), "T"), False))
    valid = np.logical_or.reduce(list(given.values())) & (has_time | ~has_t)
    return pd.Series(np.where(valid, total, np.nan), index=s.index, dtype=float)


def _booleans(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _duration_seconds(s: pd.Series) -> pd.Series:
    # ISO-8601 is the documented form; a bare number is read as seconds like statistics' timeSpent.
    out = _iso_seconds(s).fillna(clean.numbers(s))
    return out.where(np.isfinite(out))


def owner_language(owner_lang: str | None) -> str:
    """The connector owner's language as a v2 enum value (en when it cannot be mapped)."""
    return v2_language(owner_lang) or "en"


def _quarantine(ids: pd.Series, mask: pd.Series | np.ndarray, field: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"external_id": clean.objects(ids[mask]), "field": field, "reason": reason})


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
    ext = clean.ids(clean.column(raw, "id"))
    type_text = clean.text(clean.column(raw, "type"))
    content_type = clean.key(type_text).map(SUPPORTED_TYPES)
    status_key = clean.key(clean.column(raw, "status"))
    # Rule: coming soon / open all year / opened are synced; no status is synced too (docs: EDFLEX-03, D-09).
    keep = status_key.isna() | status_key.isin(KEEP_STATUSES)

    no_id = ext.isna()
    no_type = ~no_id & type_text.isna()
    unsupported = ~no_id & type_text.notna() & content_type.isna()
    candidate = ~no_id & content_type.notna()

    name = clean.text(clean.column(raw, "title"))
    launch = clean.text(clean.column(raw, "url"))
    bad_launch = launch.notna() & clean.urls(launch).isna()
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
        [pd.DataFrame({"external_id": clean.objects(ext[unsupported]), "reason": clean.objects("unsupported type " + type_text[unsupported])})],
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
    col = lambda name: clean.column(raw, name)  # noqa: E731 - local shorthand
    language = clean.objects(clean.text(col("language")))
    known_lang = clean.languages(language)  # docs: EDFLEX-14
    default_lang = known_lang.fillna(owner_language(ctx.owner_lang))
    subjects = clean.text_lists(col("categories"), field="name")
    creators, platforms = (clean.objects(clean.text(col(name))) for name in ("creator_name", "platform_name"))
    category_ids = col("category_ids")
    description = _description(clean.text(col("description")), clean.text(col("syllabus")))
    image = clean.objects(
        clean.text(col("image_url"))
        .fillna(clean.text(col("image_big_url")))
        .fillna(clean.text(col("image_medium_url")))
        .fillna(clean.text(col("image_small_url")))
    )
    extra = [
        {
            "authors": [a] if a else [],
            "sourceLanguage": lang,
            "status": status,
            "categoryIds": [str(i) for i in ids if isinstance(i, (str, int))] if isinstance(ids, list) else [],
        }
        for a, lang, status, ids in zip(
            clean.objects(clean.text(col("author_name"))), language, clean.objects(clean.text(col("status"))), category_ids
        )
    ]
    skills_sync = bool(ctx.options.get("skills_sync", False))
    out = pd.DataFrame(
        {
            "externalId": clean.objects(ext),
            "name": clean.objects(name),
            "launchUrl": clean.objects(launch),
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
    return clean.objects(both.where(description.notna() & syllabus.notna(), description.fillna(syllabus)))


def _duration_minutes(s: pd.Series) -> pd.Series:
    """Rule: duration in whole minutes, 1..100000 (docs: EDFLEX-13, D-08); zero, negative or unreadable → NA."""
    seconds = _duration_seconds(s)
    minutes = clean.half_up(seconds / 60.0).clip(lower=1, upper=DURATION_MAX_MINUTES)
    return minutes.where(seconds > 0).astype("Int64")


def _difficulty(s: pd.Series) -> pd.Series:
    """Rule: 1 Introductive / 2 Intermediate / 3 Advanced → beginner / intermediate / advanced."""
    numbers = clean.numbers(s)
    integral = numbers.where(numbers.eq(np.floor(numbers)) & numbers.abs().lt(1e6))
    level = clean.key(s).fillna(clean.ids(integral)).map(DIFFICULTY_LEVELS)
    return level.astype(object).where(level.notna(), None)


# -- statistics ----------------------------------------------------------------------------


@without_gc
def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """Edflex statistics → STAT_COLUMNS rows, quarantine and skipped counts."""
    raw = raw.reset_index(drop=True)
    col = lambda name: clean.column(raw, name)  # noqa: E731 - local shorthand
    course = clean.ids(col("resourceId"))
    email = clean.emails(col("userEmail"))
    status = clean.key(col("status"))
    progress = _progress(status)
    clamped = (progress < 0) | (progress > 100)
    completed = status.eq("completed").fillna(False).to_numpy(bool)
    first = clean.dates(col("firstActivityAt"))
    last_raw = clean.dates(col("lastActivityAt"))
    # Completion = the provider's completion date, else the last activity (docs: D-02); only for "completed".
    completed_at = clean.dates(col("completedAt")).fillna(last_raw).where(completed)
    last = last_raw.fillna(completed_at).fillna(first)

    no_course = course.isna().to_numpy(bool)
    no_email = ~no_course & email.isna().to_numpy(bool)
    bad_email = ~no_course & ~no_email & ~clean.valid_emails(email)
    no_date = ~no_course & ~no_email & ~bad_email & last.isna().to_numpy(bool)
    good = ~(no_course | no_email | bad_email | no_date)
    quarantine = _stats_quarantine(raw, course, no_course, no_email, bad_email, no_date)
    stats = pd.DataFrame(
        {
            "course_external_id": course,
            "user_email": email,
            "progress": progress.clip(0, 100).astype("int64"),
            "time_spent_ms": _milliseconds(col("timeSpent")),
            "first_activity_at": first,
            "last_activity_at": last,
            "completed_at": completed_at,
        }
    )[list(STAT_COLUMNS)]
    if not good.all():
        stats = stats[good].reset_index(drop=True)
    # Rule: progress outside 0..100 is clamped and reported, never quarantined (docs: EDFLEX-25, D-12).
    return StatsResult(stats=stats, quarantine=quarantine, skipped={"progress_clamped": int(clamped[good].sum())})


def _progress(status: pd.Series) -> np.ndarray:
    """Rule: 100 when completed, 50 when "in progress" / in_progress (docs: EDFLEX-20, D-09), 0 otherwise."""
    return np.select([status.eq(key).fillna(False).to_numpy(bool) for key in PROGRESS_BY_STATUS], list(PROGRESS_BY_STATUS.values()), 0).astype(float)


def _stats_quarantine(
    raw: pd.DataFrame, course: pd.Series, no_course: np.ndarray, no_email: np.ndarray, bad_email: np.ndarray, no_date: np.ndarray
) -> pd.DataFrame:
    """Quarantine rows (`course|row id`, else a digest of the e-mail or the record), built for the bad rows only."""
    rows = np.flatnonzero(no_course | no_email | bad_email | no_date)
    index = raw.index[rows]
    sub = raw.iloc[rows]
    qid = row_keys.activity_labels(course.iloc[rows], sub, clean.ids(clean.column(sub, "id")), clean.emails(clean.column(sub, "userEmail")))

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
    """Rule: time spent in milliseconds, rounded half up; Edflex sends ISO-8601 or seconds.
    Negative/unreadable → NA (docs: D-27)."""
    seconds = _duration_seconds(s)
    ms = clean.half_up(seconds.clip(upper=1e15) * 1000.0)
    return ms.where(seconds >= 0).astype("Int64")
