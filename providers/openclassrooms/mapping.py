"""OpenClassrooms rules: raw catalog/progress rows (DataFrame) -> v2 course rows / stat rows.

Pure and vectorised. Rules: docs/rules/openclassrooms.md, read through
docs: D-08 (duration hours -> minutes), D-10 (closed-never-synced is the engine's job), D-12
(progress clamped and reported, no e-mail -> quarantine). Column names are the Python names of
`models.RawCourse` / `models.RawProgress`; wire-named columns are accepted too.
"""

from __future__ import annotations

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
from learnsync.providers.fastparse import without_gc
from learnsync.providers.kit import cleaning as clean
from learnsync.providers.kit import row_keys
from learnsync.providers.kit.languages import v2_language
from learnsync.providers.openclassrooms import settings as oc
from learnsync.providers.openclassrooms.models import RawCourse, RawProgress, canonical_frame


def _owner_lang(ctx: MappingContext) -> str:
    """The connector owner's language in the v2 list, else en (docs: OC-08)."""
    return v2_language(ctx.owner_lang) or "en"


def _original_text(s: pd.Series) -> pd.Series:
    """Titles and descriptions as OpenClassrooms has them, not even stripped (docs: OC-03); a
    blank or non-text value is missing."""
    return clean.objects(pd.Series(pd.array(clean.strings(s), dtype=clean.TEXT), index=s.index).where(clean.text(s).notna()))


def _duration(hours: pd.Series) -> pd.Series:
    """Theoretical hours -> whole minutes rounded half up, at least 1; above the v2 maximum or
    not positive -> not sent (docs: OC-09, D-08, D-27)."""
    minutes = clean.half_up(hours * 60).clip(lower=1)
    return minutes.where((hours > 0) & (minutes <= oc.MAX_DURATION_MINUTES)).astype("Int64")


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
    ext = clean.objects(clean.ids(df["id"]))
    label = ext.fillna(pd.Series([f"row{i}" for i in range(n)], index=df.index, dtype=object))

    name = _original_text(df["title"])
    launch = clean.objects(clean.text(df["url"]))
    description = _original_text(df["description"])
    status, language = clean.objects(clean.text(df["status"])), clean.objects(clean.text(df["language"]))
    keep = clean.key(df["status"], sep="-").isin(oc.KEEP_STATUSES).to_numpy(bool)  # docs: OC-04
    course_lang = clean.languages(language)  # docs: OC-08
    hours = clean.numbers(df["duration_hours"])
    difficulty_raw = clean.objects(clean.text(df["difficulty"]))
    difficulty = difficulty_raw.str.lower().map(oc.DIFFICULTY_LEVELS)  # docs: OC-10

    courses = pd.DataFrame(
        {
            "externalId": ext,
            "name": name,
            "launchUrl": launch,
            "defaultLang": course_lang.fillna(_owner_lang(ctx)).astype(object),
            "subjects": clean.text_lists(df["categories"]),
            "sources": [[dict(oc.SOURCE)] for _ in range(n)],
            "description": description,
            "imageUrl": clean.objects(clean.text(df["image_url"])),
            "duration": _duration(hours),
            "contentType": oc.CONTENT_TYPE,
            "difficultyLevel": difficulty.astype(object).where(difficulty.notna(), None),
            "mobileLaunchUrl": None,
            "_status": np.where(keep, "keep", "archive"),
            "_tags": [[] for _ in range(n)],
            "_skills": None,
            "_extra": [
                {"theoretical_hours": None if pd.isna(h) else float(h), "status": st, "language": lg, "difficulty": dif}
                for h, st, lg, dif in zip(
                    hours.tolist(), status.tolist(), language.tolist(), difficulty_raw.tolist()
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
    """Progress rows -> STAT_COLUMNS; time spent is theoretical (course time x progress), in ms."""
    df = canonical_frame(raw, RawProgress)
    course = clean.ids(df["course_id"])
    email = clean.emails(df["user_email"])  # docs: OC-14
    has_email = email.notna().to_numpy(bool)
    good_email = clean.valid_emails(email)
    started = clean.dates(df["started_at"])
    last = clean.dates(df["last_activity_at"])
    completed = clean.dates(df["completed_at"])

    raw_progress = clean.numbers(df["progress"])
    # A completion date with no progress value still says the course was finished.
    raw_progress = raw_progress.where(raw_progress.notna() | completed.isna(), 100.0)
    clamped_mask = raw_progress.notna() & ((raw_progress < 0) | (raw_progress > 100))
    progress = clean.half_up(raw_progress.clip(0, 100))  # docs: OC-12, D-27
    progress = progress.where(completed.isna(), 100.0)  # a completion date means 100 %
    # Rule: completed when progress is 100; the completion date is then the last activity (docs: OC-15).
    completed = completed.fillna(last.where(progress == 100))
    spent_ms, invalid_spent = _time_spent_ms(clean.numbers(df["time_spent_minutes"]), raw_progress, progress, clamped_mask)

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

    no_course = course.isna().to_numpy(bool)
    no_progress = progress.isna().to_numpy(bool)
    bad = no_course | ~good_email | no_progress
    kept = ~bad
    return StatsResult(
        stats=stats[kept].reset_index(drop=True) if bad.any() else stats.reset_index(drop=True),
        quarantine=_stats_quarantine(df, course, email, no_course, has_email, good_email, no_progress),
        skipped={
            "progress_clamped": int((clamped_mask & kept).sum()),
            "time_spent_invalid": int((invalid_spent & kept).sum()),
        },
    )


def _time_spent_ms(spent: pd.Series, raw_progress: pd.Series, progress: pd.Series, clamped: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Rule: time spent = theoretical course time x progress, in whole milliseconds (docs: OC-13).

    `timeSpent` already carries that product (models.RawProgress); when progress was clamped it
    is rescaled to the clamped value. A negative or absurd value is invalid (not sent, counted):
    so is one a rescale from a negative progress (a completion date forcing 100 %) pushes below 0
    or past the cap. Returns (milliseconds, invalid)."""
    invalid = spent.notna() & ((spent < 0) | (spent > oc.MAX_TIME_SPENT_MINUTES))
    spent = spent.where(~invalid)
    scale = (progress / raw_progress).where(clamped & (raw_progress != 0), 1.0)
    ms = clean.half_up(spent * scale * 60_000)
    out_of_range = ms.notna() & ((ms < 0) | (ms > oc.MAX_TIME_SPENT_MINUTES * 60_000))
    return ms.where(~out_of_range), invalid | out_of_range


def _stats_quarantine(
    raw: pd.DataFrame,
    course: pd.Series,
    email: pd.Series,
    no_course: np.ndarray,
    has_email: np.ndarray,
    good_email: np.ndarray,
    no_progress: np.ndarray,
) -> pd.DataFrame:
    """Quarantine rows labelled `course|mail:<digest>` (else a digest of the record), built for the bad rows only."""
    rows = np.flatnonzero(no_course | ~has_email | (has_email & ~good_email) | no_progress)
    index = course.index[rows]
    label = row_keys.activity_labels(course.iloc[rows], raw.iloc[rows], email=email.iloc[rows])

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
