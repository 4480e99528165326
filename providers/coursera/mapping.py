"""Coursera rules: raw `/contents` and `/enrollmentReports` rows -> the engine's column contracts.

Pure pandas (no I/O, no clock except `ctx.now`). Rules come from the rule book
(spec/sources/coursera.txt) read through decisions.md #3 #5 #6 #7 #8 #12. Nested fields are
read either from nested dict columns (`pd.DataFrame(records)`) or from flattened columns
(`pd.json_normalize(records)`), whichever the raw frame has.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from providers.base import (
    COURSE_FIELDS,
    COURSE_META,
    QUARANTINE_COLUMNS,
    STAT_COLUMNS,
    CatalogResult,
    MappingContext,
    StatsResult,
    empty_frame,
)
from providers.fastparse import without_gc
from providers.coursera.settings import (
    ARCHIVE_FLAG_FIELDS,
    CONTENT_TYPES,
    DEFAULT_SOURCE,
    DIFFICULTY_LEVELS,
)

# v2 ExternalCourseDTO.defaultLang enum (360learning-v2.md section 2.1).
V2_LANGUAGES = (
    "bg cs da de el en es fi fr hr ht_HT hu id it ja kar_MM ko lt mh_MH nl nl_BE no pl pt ro ru "
    "rw_RW sk sl so_SO sv sw_KE th ti_ET tr uk zh am_ET bn bs ca cy en_CA en_GB es_AR es_MX et "
    "fr_CA gu he_IL hy kk km lo lv mi mn_MN mr ms my_MM nn_NO or pa pt_BR pt_MZ rn_BI si ta te "
    "tl_PH ur uz yo_NG zh_tw hi sr ar vi zh_HANT"
).split()
_LANG_BY_LOWER = {code.lower(): code for code in V2_LANGUAGES}

MAX_DURATION_MINUTES = 100_000  # v2 duration is 1..100000
_EMAIL_RX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Sane bounds for activity dates; anything outside is unreadable data, not a date.
_MIN_TS = pd.Timestamp("1990-01-01", tz="UTC")
_MAX_TS = pd.Timestamp("2100-01-01", tz="UTC")


# --- small column helpers -----------------------------------------------------------------
def _na_series(index: pd.Index) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype="object")


def _field(raw: pd.DataFrame, path: str) -> pd.Series:
    """Column `a.b.c` from a flattened frame, or dug out of the nested dicts of column `a`."""
    if path in raw.columns:
        return raw[path].astype("object")
    head, _, rest = path.partition(".")
    if rest and head in raw.columns:
        return _dig(raw[head].astype("object"), rest.split("."))
    if rest:  # partially flattened, e.g. column "extraMetadata.definition" holding dicts
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in raw.columns:
                return _dig(raw[prefix].astype("object"), parts[cut:])
    return _na_series(raw.index)


def _dig(series: pd.Series, keys: list[str]) -> pd.Series:
    values = series.tolist()
    for key in keys:  # pandas has no vector op for dict access in object columns
        values = [v.get(key) if isinstance(v, dict) else None for v in values]
    return pd.Series(values, index=series.index, dtype="object")


def _clean_text(series: pd.Series) -> pd.Series:
    """Non-empty stripped strings; everything else (None, NaN, numbers, lists, dicts) -> None."""
    obj = series.astype("object")
    try:
        stripped = obj.str.strip()  # non-strings come back as NaN
    except AttributeError:  # a column with no string at all (e.g. only numbers)
        return _na_series(series.index)
    keep = stripped.map(type).eq(str) & stripped.ne("")
    return stripped.where(keep, None).astype("object")


def _numbers(series: pd.Series) -> pd.Series:
    """Floats from numbers or numeric strings; booleans, infinities and anything else -> NaN."""
    obj = series.astype("object")
    cleaned = obj.where(~obj.map(type).isin([bool, np.bool_]), None)
    numeric = pd.to_numeric(cleaned, errors="coerce")
    return pd.Series(numeric, index=series.index).astype("float64").replace([np.inf, -np.inf], np.nan)


def _true(series: pd.Series) -> pd.Series:
    """`isCompleted == true` (decisions #3): True or the string "true"; `false`/missing are not."""
    obj = series.astype("object")
    is_bool_true = obj.map(type).isin([bool, np.bool_]) & obj.eq(True)
    text = _clean_text(obj)
    return (is_bool_true | text.str.lower().eq("true").fillna(False).astype(bool)).astype(bool)


def _utc(series: pd.Series) -> pd.Series:
    """Epoch-ms numbers (or numeric strings) and ISO strings -> tz-aware UTC; unreadable -> NaT."""
    numeric = _numbers(series)
    as_ms = pd.to_datetime(numeric.where((numeric > 0) & (numeric < 4.2e12)), unit="ms", utc=True, errors="coerce")
    texts = _clean_text(series).where(numeric.isna(), None)
    as_iso = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    result = as_ms.where(as_ms.notna(), as_iso)
    result = pd.to_datetime(result, utc=True)
    return result.where((result >= _MIN_TS) & (result < _MAX_TS))


def _quarantine(ids: pd.Series, mask: pd.Series, field: str, reason: str | pd.Series) -> pd.DataFrame:
    rows = pd.DataFrame({"external_id": ids[mask], "field": field, "reason": reason if isinstance(reason, str) else reason[mask]})
    return rows.astype("object")


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame(columns)
    return pd.concat(frames, ignore_index=True)[list(columns)]


# --- value rules ----------------------------------------------------------------------------
def _v2_language(code: Any) -> str | None:
    """Provider locale -> v2 enum: exact, then region (pt-BR -> pt_BR), then base (en-US -> en),
    then the single regional value of a base (he -> he_IL). Unknown -> None (quarantined, #5)."""
    if not isinstance(code, str) or not code.strip():
        return None
    norm = code.strip().replace("-", "_").lower()
    if norm in _LANG_BY_LOWER:
        return _LANG_BY_LOWER[norm]
    base = norm.split("_", 1)[0]
    if base in _LANG_BY_LOWER:
        return _LANG_BY_LOWER[base]
    regional = [v for k, v in _LANG_BY_LOWER.items() if k.startswith(base + "_")]
    return regional[0] if len(regional) == 1 else None


def map_languages(codes: pd.Series) -> pd.Series:
    """Vectorised over distinct values: a catalog has a handful of locales."""
    clean = _clean_text(codes)
    table = {code: _v2_language(code) for code in clean.dropna().unique()}
    return clean.map(table).astype("object").where(clean.notna(), None)


def _normalise_key(series: pd.Series) -> pd.Series:
    clean = _clean_text(series)
    return clean.str.lower().str.replace(r"[\s_\-]", "", regex=True).where(clean.notna(), None)


def map_content_types(types: pd.Series) -> pd.Series:
    return _normalise_key(types).map(CONTENT_TYPES).astype("object").where(lambda s: s.notna(), None)


def map_difficulty(levels: pd.Series) -> pd.Series:
    return _normalise_key(levels).map(DIFFICULTY_LEVELS).astype("object").where(lambda s: s.notna(), None)


def seconds_to_minutes(seconds: pd.Series) -> pd.Series:
    """estimatedLearningTime (seconds) -> whole minutes, at least 1; <= 0, unreadable or above
    the v2 maximum -> missing (decisions #8)."""
    secs = _numbers(seconds)
    minutes = np.floor(secs / 60.0 + 0.5).clip(lower=1)
    minutes = minutes.where((secs > 0) & (minutes <= MAX_DURATION_MINUTES))
    return minutes.astype("Int64")


def _skill_names(skills: pd.Series) -> list[list[str]]:
    out: list[list[str]] = []
    for value in skills.tolist():
        names = [s.get("skillName") for s in value if isinstance(s, dict)] if isinstance(value, list) else []
        cleaned = [n.strip() for n in names if isinstance(n, str) and n.strip()]
        out.append(list(dict.fromkeys(cleaned)))  # de-duplicate, keep order
    return out


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
        out.append(sources or [dict(DEFAULT_SOURCE)])  # every partner; none -> Coursera (#7)
    return out


def _first_launch_url(programs: pd.Series) -> pd.Series:
    first = [v[0] if isinstance(v, list) and v else None for v in programs.tolist()]
    return _clean_text(_dig(pd.Series(first, index=programs.index, dtype="object"), ["contentUrl"]))


def _extra(raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Values with no v2 field, kept in state (decisions #1), incl. any archived/retired flag (#6)."""
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
    external_id = _clean_text(_field(raw, "id"))
    content_type_raw = _clean_text(_field(raw, "contentType"))
    content_id = _clean_text(_field(raw, "contentId"))
    # Label for quarantine rows when `id` itself is missing.
    fallback_id = (content_type_raw + "~" + content_id).where(content_type_raw.notna() & content_id.notna(), None)
    row_label = pd.Series([f"<row {i}>" for i in range(len(raw))], index=raw.index, dtype="object")
    label = external_id.fillna(fallback_id).fillna(row_label)

    lang_raw = _clean_text(_field(raw, "languageCode"))
    courses = pd.DataFrame(
        {
            "externalId": external_id,
            "name": _clean_text(_field(raw, "name")),
            "launchUrl": _first_launch_url(_field(raw, "programs")),
            "defaultLang": map_languages(lang_raw),
            "subjects": _skill_names(_field(raw, "extraMetadata.definition.skills")),
            "sources": _partner_sources(_field(raw, "partners")),
            "description": _clean_text(_field(raw, "description")),
            "imageUrl": _clean_text(_field(raw, "extraMetadata.definition.promoPhoto")),
            "duration": seconds_to_minutes(_field(raw, "extraMetadata.definition.estimatedLearningTime")),
            "contentType": map_content_types(content_type_raw),
            "difficultyLevel": map_difficulty(_field(raw, "difficultyLevel")),
            "mobileLaunchUrl": _na_series(raw.index),  # Coursera has none; v2 falls back to launchUrl
            "_status": "keep",  # Coursera never archives (decisions #6)
            "_tags": [[] for _ in range(len(raw))],
            "_skills": _na_series(raw.index),
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
    return CatalogResult(
        courses=kept[list(COURSE_FIELDS + COURSE_META)],
        quarantine=_concat(problems, QUARANTINE_COLUMNS),
        ignored=empty_frame(("external_id", "reason")),
    )


# --- stats ----------------------------------------------------------------------------------
def _row_ref(ids: pd.Series) -> pd.Series:
    """Stable row reference without the e-mail (Coursera row ids start with the learner's e-mail)."""
    table = {v: hashlib.sha256(v.encode()).hexdigest()[:12] for v in ids.dropna().unique()}
    return ids.map(table).astype("object")


@without_gc
def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """`/enrollmentReports` rows -> STAT_COLUMNS; unusable rows -> quarantine; clamps -> skipped."""
    skipped: dict[str, int] = {}
    if raw is None or len(raw) == 0:
        return StatsResult(empty_frame(STAT_COLUMNS), empty_frame(QUARANTINE_COLUMNS), skipped)
    raw = raw.reset_index(drop=True)

    content_type = _clean_text(_field(raw, "contentType"))
    content_id = _clean_text(_field(raw, "contentId"))
    course = (content_type + "~" + content_id).where(content_type.notna() & content_id.notna(), None)

    # learnerMail = externalId; `email` only when externalId is missing (it holds the e-mail
    # when no external id was set at invitation, providers.md 2.4). A non-e-mail externalId
    # is quarantined rather than silently swapped.
    mail = _clean_text(_field(raw, "externalId")).fillna(_clean_text(_field(raw, "email")))
    mail = mail.str.lower().where(mail.notna(), None)

    row_ids = _clean_text(_field(raw, "id"))
    ref = _row_ref(row_ids).fillna(pd.Series([f"row{i}" for i in range(len(raw))], index=raw.index, dtype="object"))
    label = course.fillna("<no course>") + "|" + ref

    completed = _true(_field(raw, "isCompleted"))
    overall = _numbers(_field(raw, "overallProgress"))
    clamped = overall.clip(0, 100)
    n_clamped = int((completed.eq(False) & overall.notna() & clamped.ne(overall)).sum())
    if n_clamped:  # decisions #12: clamp and report
        skipped["progress_clamped"] = n_clamped
    progress = pd.Series(np.where(completed, 100.0, np.where(overall.isna(), 50.0, np.floor(clamped + 0.5))), index=raw.index)

    hours = _numbers(_field(raw, "approxTotalCourseHrs"))
    ms = np.floor(hours * 3_600_000 + 0.5)
    time_spent = ms.where((hours >= 0) & (ms < 2**62)).astype("Int64")

    last = _utc(_field(raw, "lastActivityAt"))
    coursera_completed = _utc(_field(raw, "completedAt"))
    now = pd.Timestamp(ctx.now) if ctx.now is not None else pd.Timestamp.now(tz="UTC")
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    # decisions #3: lastActivityAt, else Coursera's completedAt, else now; only when isCompleted.
    completed_at = last.fillna(coursera_completed).fillna(now).where(completed)

    stats = pd.DataFrame(
        {
            "course_external_id": course,
            "user_email": mail,
            "progress": progress.astype("int64"),
            "time_spent_ms": time_spent,
            "first_activity_at": _utc(_field(raw, "enrolledAt")),
            "last_activity_at": last,
            "completed_at": pd.to_datetime(completed_at, utc=True),
        },
        index=raw.index,
    )

    # One quarantine row per bad record (the run report counts rows): first problem wins.
    no_course = course.isna()
    no_mail = mail.isna() & ~no_course
    bad_mail = mail.notna() & ~mail.fillna("").str.match(_EMAIL_RX).astype(bool) & ~no_course
    problems = [
        _quarantine(label, no_course, "course_external_id", "missing contentType or contentId"),
        _quarantine(label, no_mail, "user_email", "missing externalId and email"),
        _quarantine(label, bad_mail, "user_email", "learner id is not an e-mail address"),
    ]
    bad = no_course | no_mail | bad_mail
    kept = stats[~bad].reset_index(drop=True)
    return StatsResult(kept[list(STAT_COLUMNS)], _concat(problems, QUARANTINE_COLUMNS), skipped)


__all__ = ["map_catalog", "map_stats", "map_languages", "map_content_types", "map_difficulty", "seconds_to_minutes", "V2_LANGUAGES"]
