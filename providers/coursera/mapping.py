"""Coursera rules: raw `/contents` and `/enrollmentReports` rows -> the engine's column contracts.

Pure pandas (no I/O, no clock except `ctx.now`). Rules: docs/rules/coursera.md
(read through docs: D-03, D-05, D-06, D-07, D-08, D-12). Nested fields are
read either from nested dict columns (`pd.DataFrame(records)`) or from flattened columns
(`pd.json_normalize(records)`), whichever the raw frame has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from learnsync.providers.base import (
    COURSE_FIELDS,
    COURSE_META,
    QUARANTINE_COLUMNS,
    STAT_COLUMNS,
    CatalogResult,
    MappingContext,
    StatsResult,
    empty_frame,
)
from learnsync.providers.coursera.settings import (
    ARCHIVE_FLAG_FIELDS,
    CONTENT_TYPES,
    DEFAULT_SOURCE,
    DIFFICULTY_LEVELS,
)
from learnsync.providers.fastparse import without_gc
from learnsync.providers.kit import cleaning as clean
from learnsync.providers.kit import row_keys

MAX_DURATION_MINUTES = 100_000  # v2 duration is 1..100000


# --- small column helpers -----------------------------------------------------------------
def _field(raw: pd.DataFrame, path: str) -> pd.Series:
    """Column `a.b.c` from a flattened frame (its own dtype), or dug out of the nested dicts of column `a`."""
    if path in raw.columns:
        return raw[path]
    head, _, rest = path.partition(".")
    if rest and head in raw.columns:
        return _dig(raw[head].astype("object"), rest.split("."))
    if rest:  # partially flattened, e.g. column "extraMetadata.definition" holding dicts
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in raw.columns:
                return _dig(raw[prefix].astype("object"), parts[cut:])
    return pd.Series(None, index=raw.index, dtype=object)


def _dig(series: pd.Series, keys: list[str]) -> pd.Series:
    values = series.tolist()
    for key in keys:  # pandas has no vector op for dict access in object columns
        values = [v.get(key) if isinstance(v, dict) else None for v in values]
    return pd.Series(values, index=series.index, dtype="object")


def _quarantine(ids: pd.Series, mask: pd.Series, field: str, reason: str | pd.Series) -> pd.DataFrame:
    rows = pd.DataFrame({"external_id": ids[mask], "field": field, "reason": reason if isinstance(reason, str) else reason[mask]})
    return rows.astype("object")


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame(columns)
    return pd.concat(frames, ignore_index=True)[list(columns)]


# --- value rules: one named transform per v2 field ------------------------------------------
def content_type_key(value: str) -> str:
    """A content type as the CONTENT_TYPES table is keyed ("Professional Certificate" -> professionalcertificate)."""
    found = clean.key(pd.Series([value], dtype=object), sep="").iloc[0]
    return found if isinstance(found, str) else ""


def _content_type(types: pd.Series) -> pd.Series:
    return clean.key(types, sep="").map(CONTENT_TYPES).astype("object").where(lambda s: s.notna(), None)


def _difficulty(levels: pd.Series) -> pd.Series:
    return clean.key(levels, sep="").map(DIFFICULTY_LEVELS).astype("object").where(lambda s: s.notna(), None)


def _duration(seconds: pd.Series) -> pd.Series:
    """estimatedLearningTime (seconds) -> whole minutes rounded half up, at least 1; <= 0,
    unreadable or above the v2 maximum -> missing (docs: COURSERA-07, D-08, D-27)."""
    secs = clean.numbers(seconds)
    minutes = clean.half_up(secs / 60.0).clip(lower=1)
    return minutes.where((secs > 0) & (minutes <= MAX_DURATION_MINUTES)).astype("Int64")


def _skill_names(skills: pd.Series) -> list[list[str]]:
    """Skill names, stripped and de-duplicated in order; none -> [] (docs: COURSERA-12, D-07)."""
    return clean.text_lists(skills.tolist(), field="skillName")


def _partner_sources(partners: pd.Series) -> list[list[dict[str, str]]]:
    out: list[list[dict[str, str]]] = []
    for value in partners.tolist():
        sources = []
        for p in value if isinstance(value, list) else []:
            name = p.get("name") if isinstance(p, dict) else None
            if isinstance(name, str) and name.strip():
                logo = p.get("logoUrl")
                source = {"name": name.strip()}
                if isinstance(logo, str) and logo.strip():
                    source["logoUrl"] = logo.strip()
                sources.append(source)
        out.append(sources or [dict(DEFAULT_SOURCE)])  # every partner; none -> Coursera (docs: D-07)
    return out


def _first_launch_url(programs: pd.Series) -> pd.Series:
    first = [v[0] if isinstance(v, list) and v else None for v in programs.tolist()]
    return clean.text(_dig(pd.Series(first, index=programs.index, dtype="object"), ["contentUrl"]))


def _extra(raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Values with no v2 field, kept in state (docs: D-01), incl. any archived/retired flag (docs: D-06)."""
    keys = ("contentId", "slug", "lastUpdatedAt", "subtitleLanguageCodes", *ARCHIVE_FLAG_FIELDS)
    columns = {k: raw[k].tolist() for k in keys if k in raw.columns}
    instructors = _field(raw, "instructors").tolist()
    program_ids = _field(raw, "programs").tolist()
    extras: list[dict[str, Any]] = []
    for i in range(len(raw)):
        extra = {k: v[i] for k, v in columns.items() if _present(v[i])}
        names = [x.get("name") for x in instructors[i] if isinstance(x, dict)] if isinstance(instructors[i], list) else []
        if names:
            extra["instructors"] = [n for n in names if isinstance(n, str)]
        if isinstance(program_ids[i], list):
            extra["programIds"] = [p.get("programId") for p in program_ids[i] if isinstance(p, dict)]
        extras.append(extra)
    return extras


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and np.isnan(value):
        return False
    return True


# --- catalog --------------------------------------------------------------------------------
@without_gc
def map_catalog(raw: pd.DataFrame, stream: str, ctx: MappingContext) -> CatalogResult:
    """`/contents` rows -> v2 course columns + engine metadata; bad rows -> quarantine."""
    if raw is None or len(raw) == 0:
        return CatalogResult(empty_frame(COURSE_FIELDS + COURSE_META), empty_frame(QUARANTINE_COLUMNS), empty_frame(("external_id", "reason")))
    raw = raw.reset_index(drop=True)
    external_id = clean.text(_field(raw, "id"))
    content_type_raw = clean.text(_field(raw, "contentType"))
    content_id = clean.text(_field(raw, "contentId"))
    # Label for quarantine rows when `id` itself is missing.
    fallback_id = (content_type_raw + "~" + content_id).where(content_type_raw.notna() & content_id.notna(), None)
    row_label = pd.Series([f"<row {i}>" for i in range(len(raw))], index=raw.index, dtype="object")
    label = external_id.fillna(fallback_id).fillna(row_label)

    lang_raw = clean.text(_field(raw, "languageCode"))
    courses = pd.DataFrame(
        {
            "externalId": external_id,
            "name": clean.text(_field(raw, "name")),
            "launchUrl": _first_launch_url(_field(raw, "programs")),
            "defaultLang": clean.languages(lang_raw),  # none or unknown: quarantined (docs: COURSERA-08, D-05)
            "subjects": _skill_names(_field(raw, "extraMetadata.definition.skills")),
            "sources": _partner_sources(_field(raw, "partners")),
            "description": clean.text(_field(raw, "description")),
            "imageUrl": clean.text(_field(raw, "extraMetadata.definition.promoPhoto")),
            "duration": _duration(_field(raw, "extraMetadata.definition.estimatedLearningTime")),
            "contentType": _content_type(content_type_raw),
            "difficultyLevel": _difficulty(_field(raw, "difficultyLevel")),
            "mobileLaunchUrl": None,  # Coursera has none; v2 falls back to launchUrl
            "_status": "keep",  # Coursera never archives (docs: COURSERA-15, D-06)
            "_tags": [[] for _ in range(len(raw))],
            "_skills": None,
            "_extra": _extra(raw),
            "_filter_lang": lang_raw,
            "_filter_type": content_type_raw,
        },
        index=raw.index,
    )

    problems: list[pd.DataFrame] = []
    bad = pd.Series(False, index=raw.index)
    for field, reason in (("externalId", "missing id"), ("name", "missing name"), ("launchUrl", "missing programs[0].contentUrl")):
        missing = courses[field].isna()
        problems.append(_quarantine(label, missing, field, reason))
        bad |= missing
    no_lang = lang_raw.isna()
    problems.append(_quarantine(label, no_lang, "defaultLang", "missing languageCode"))
    unknown_lang = lang_raw.notna() & courses["defaultLang"].isna()
    problems.append(_quarantine(label, unknown_lang, "defaultLang", "unsupported languageCode " + lang_raw.fillna("").map(repr)))
    bad |= no_lang | unknown_lang
    duplicate = external_id.notna() & external_id.duplicated(keep="first") & ~bad
    problems.append(_quarantine(label, duplicate, "externalId", "duplicate id in extract"))
    bad |= duplicate

    kept = courses[~bad].reset_index(drop=True)
    for column in ("externalId", "name", "launchUrl", "description", "imageUrl", "_filter_lang", "_filter_type"):
        kept[column] = clean.objects(kept[column])
    return CatalogResult(
        courses=kept[list(COURSE_FIELDS + COURSE_META)],
        quarantine=_concat(problems, QUARANTINE_COLUMNS),
        ignored=empty_frame(("external_id", "reason")),
    )


# --- stats ----------------------------------------------------------------------------------
@without_gc
def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """`/enrollmentReports` rows -> STAT_COLUMNS; unusable rows -> quarantine; clamps -> skipped."""
    if raw is None or len(raw) == 0:
        return StatsResult(empty_frame(STAT_COLUMNS), empty_frame(QUARANTINE_COLUMNS), {})
    raw = raw.reset_index(drop=True)
    course = _course_id(_field(raw, "contentType"), _field(raw, "contentId"))
    mail = _learner_mail(_field(raw, "externalId"), _field(raw, "email"))
    completed = clean.flags(_field(raw, "isCompleted")).to_numpy(bool)  # docs: COURSERA-23, D-03
    overall = clean.numbers(_field(raw, "overallProgress"))
    dates = {name: clean.dates(_field(raw, name)) for name in ("enrolledAt", "lastActivityAt", "completedAt")}
    skipped: dict[str, int] = {}
    n_clamped = int((~completed & overall.notna().to_numpy(bool) & overall.clip(0, 100).ne(overall).to_numpy(bool)).sum())
    if n_clamped:  # clamp and report (docs: COURSERA-22, D-12)
        skipped["progress_clamped"] = n_clamped
    stats = pd.DataFrame(
        {
            "course_external_id": course,
            "user_email": mail,
            "progress": _progress(overall, completed),
            "time_spent_ms": _time_spent_ms(clean.numbers(_field(raw, "approxTotalCourseHrs"))),
            "first_activity_at": dates["enrolledAt"],  # docs: COURSERA-25
            "last_activity_at": dates["lastActivityAt"],  # docs: COURSERA-26
            "completed_at": _completed_at(completed, dates["lastActivityAt"], dates["completedAt"], ctx),
        },
        index=raw.index,
    )

    # One quarantine row per bad record (the run report counts rows): first problem wins.
    no_course = course.isna().to_numpy(bool)
    has_mail = mail.notna().to_numpy(bool)
    no_mail = ~has_mail & ~no_course
    bad_mail = has_mail & ~clean.valid_emails(mail) & ~no_course
    bad = no_course | no_mail | bad_mail
    if not bad.any():
        return StatsResult(stats[list(STAT_COLUMNS)], empty_frame(QUARANTINE_COLUMNS), skipped)
    rows = np.flatnonzero(bad)  # labels only for the rows quarantined
    # Coursera's row ids start with the learner's e-mail: only their digest is written.
    label = row_keys.activity_labels(course.iloc[rows], raw.iloc[rows], clean.text(_field(raw, "id").iloc[rows]), mail.iloc[rows], hide_id=True)
    problems = [
        _quarantine(label, pd.Series(no_course[rows], index=label.index), "course_external_id", "missing contentType or contentId"),
        _quarantine(label, pd.Series(no_mail[rows], index=label.index), "user_email", "missing externalId and email"),
        _quarantine(label, pd.Series(bad_mail[rows], index=label.index), "user_email", "learner id is not an e-mail address"),
    ]
    kept = stats[~bad].reset_index(drop=True)
    return StatsResult(kept[list(STAT_COLUMNS)], _concat(problems, QUARANTINE_COLUMNS), skipped)


def _course_id(content_type: pd.Series, content_id: pd.Series) -> pd.Series:
    """`contentType~contentId`, the catalog's external id; missing unless both are text."""
    kind, ident = clean.text(content_type), clean.text(content_id)
    return (kind + "~" + ident).where(kind.notna() & ident.notna())


def _learner_mail(external_id: pd.Series, email: pd.Series) -> pd.Series:
    """learnerMail = externalId when it is an e-mail address, otherwise the record's `email`
    (docs: COURSERA-21, D-13). When neither is an address the value kept is what was given
    (externalId first), so the row is quarantined as "not an e-mail address" or as missing."""
    ext, alt = clean.emails(external_id), clean.emails(email)
    ext_ok = pd.Series(clean.valid_emails(ext), index=ext.index)
    alt_ok = pd.Series(clean.valid_emails(alt), index=alt.index)
    return ext.where(ext_ok, alt.where(alt_ok, ext.fillna(alt)))


def _progress(overall: pd.Series, completed: np.ndarray) -> np.ndarray:
    """100 when completed; 50 when overallProgress is missing; else clamped to 0..100 and
    rounded half up (docs: COURSERA-22, D-12, D-27)."""
    value = np.where(overall.isna(), 50.0, clean.half_up(overall.clip(0, 100)))
    return np.where(completed, 100.0, value).astype(np.int64)


def _time_spent_ms(hours: pd.Series) -> pd.Series:
    """approxTotalCourseHrs in whole milliseconds; negative or absurd -> missing (docs: COURSERA-24, D-08)."""
    ms = clean.half_up(hours * 3_600_000)
    return ms.where((hours >= 0) & (ms < 2**62)).astype("Int64")


def _completed_at(completed: np.ndarray, last: pd.Series, completed_at: pd.Series, ctx: MappingContext) -> pd.Series:
    """lastActivityAt, else Coursera's completedAt, else now; only when isCompleted (docs: COURSERA-23, D-03)."""
    now = pd.Timestamp(ctx.now) if ctx.now is not None else pd.Timestamp.now(tz="UTC")
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    return last.fillna(completed_at).fillna(now).where(completed).astype(clean.INSTANTS)


__all__ = ["map_catalog", "map_stats", "content_type_key"]
