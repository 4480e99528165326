"""Coursera rules: raw `/contents` and `/enrollmentReports` rows -> the engine's column contracts.

Pure pandas (no I/O, no clock except `ctx.now`). Rules: docs/rules/coursera.md
(read through docs: D-03, D-05, D-06, D-07, D-08, D-12). Nested fields are
read either from nested dict columns (`pd.DataFrame(records)`) or from flattened columns
(`pd.json_normalize(records)`), whichever the raw frame has.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable

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
from learnsync.providers import fastparse as fp
from learnsync.providers.fastparse import without_gc
from learnsync.providers.coursera.settings import (
    ARCHIVE_FLAG_FIELDS,
    CONTENT_TYPES,
    DEFAULT_SOURCE,
    DIFFICULTY_LEVELS,
)

# v2 ExternalCourseDTO.defaultLang enum (docs/lms360.md: Conventions).
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
    """`isCompleted == true` (docs: COURSERA-23, D-03): True or the string "true"; `false`/missing are not."""
    obj = series.astype("object")
    is_bool_true = obj.map(type).isin([bool, np.bool_]) & obj.eq(True)
    text = _clean_text(obj)
    return (is_bool_true | text.str.lower().eq("true").fillna(False).astype(bool)).astype(bool)


def _utc(series: pd.Series) -> pd.Series:
    """Epoch-ms numbers (or numeric strings) and ISO strings -> tz-aware UTC; unreadable -> NaT."""
    numeric = _numbers(series)
    texts = _clean_text(series).where(numeric.isna(), None)
    return _utc_of(numeric, pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce"))


def _utc_of(numeric: pd.Series, as_iso: pd.Series) -> pd.Series:
    """`_utc` from the column's numbers (epoch ms) and its text read as ISO-8601."""
    as_ms = pd.to_datetime(numeric.where((numeric > 0) & (numeric < 4.2e12)), unit="ms", utc=True, errors="coerce")
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
    then the single regional value of a base (he -> he_IL). Unknown -> None (quarantined, docs: D-05)."""
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


def content_type_key(value: str) -> str:
    """A content type as the CONTENT_TYPES table is keyed ("Professional Certificate" -> professionalcertificate)."""
    return "".join(ch for ch in str(value).lower() if ch not in " _-\t")


def map_content_types(types: pd.Series) -> pd.Series:
    return _normalise_key(types).map(CONTENT_TYPES).astype("object").where(lambda s: s.notna(), None)


def map_difficulty(levels: pd.Series) -> pd.Series:
    return _normalise_key(levels).map(DIFFICULTY_LEVELS).astype("object").where(lambda s: s.notna(), None)


def seconds_to_minutes(seconds: pd.Series) -> pd.Series:
    """estimatedLearningTime (seconds) -> whole minutes, at least 1; <= 0, unreadable or above
    the v2 maximum -> missing (docs: COURSERA-07, D-08)."""
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
        out.append(sources or [dict(DEFAULT_SOURCE)])  # every partner; none -> Coursera (docs: D-07)
    return out


def _first_launch_url(programs: pd.Series) -> pd.Series:
    first = [v[0] if isinstance(v, list) and v else None for v in programs.tolist()]
    return _clean_text(_dig(pd.Series(first, index=programs.index, dtype="object"), ["contentUrl"]))


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
            "_status": "keep",  # Coursera never archives (docs: COURSERA-15, D-06)
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
    if raw is None or len(raw) == 0:
        return StatsResult(empty_frame(STAT_COLUMNS), empty_frame(QUARANTINE_COLUMNS), {})
    raw = raw.reset_index(drop=True)
    if _typed_stats(raw):
        return _map_stats_typed(raw, ctx)

    content_type = _clean_text(_field(raw, "contentType"))
    content_id = _clean_text(_field(raw, "contentId"))
    course = (content_type + "~" + content_id).where(content_type.notna() & content_id.notna(), None)

    # learnerMail = externalId; `email` only when externalId is missing (it holds the e-mail
    # when no external id was set at invitation, docs/providers/coursera.md: Statistics). A non-e-mail externalId
    # is quarantined rather than silently swapped.
    mail = _clean_text(_field(raw, "externalId")).fillna(_clean_text(_field(raw, "email")))
    mail = mail.str.lower().where(mail.notna(), None)
    is_mail = mail.fillna("").str.match(_EMAIL_RX).astype(bool).to_numpy(bool)
    ref = _row_ref(_clean_text(_field(raw, "id")))

    return _stats_result(
        course,
        mail,
        is_mail,
        lambda rows: ref.iloc[rows],
        completed=_true(_field(raw, "isCompleted")),
        overall=_numbers(_field(raw, "overallProgress")),
        hours=_numbers(_field(raw, "approxTotalCourseHrs")),
        dates={name: _utc(_field(raw, name)) for name in _STATS_DATES},
        ctx=ctx,
    )


_STATS_TEXT = ("id", "externalId", "email", "contentId", "contentType")
_STATS_NUMBERS = ("overallProgress", "approxTotalCourseHrs")
_STATS_DATES = ("enrolledAt", "lastActivityAt", "completedAt")  # epoch ms (docs: COURSERA-26)


def _stats_result(
    course: pd.Series,
    mail: pd.Series,
    is_mail: np.ndarray,
    row_refs: Callable[[np.ndarray], pd.Series],
    *,
    completed: pd.Series,
    overall: pd.Series,
    hours: pd.Series,
    dates: dict[str, pd.Series],
    ctx: MappingContext,
    no_course: np.ndarray | None = None,
    has_mail: np.ndarray | None = None,
) -> StatsResult:
    """The stats rules once the columns are read (`course`, `mail`: object cells, None when
    missing; `is_mail`: `mail` matches `_EMAIL_RX`; `row_refs(positions)`: those rows' `_row_ref`;
    `no_course`, `has_mail`: the missing masks when the caller has them already)."""
    skipped: dict[str, int] = {}
    index = course.index
    clamped = overall.clip(0, 100)
    n_clamped = int((completed.eq(False) & overall.notna() & clamped.ne(overall)).sum())
    if n_clamped:  # clamp and report (docs: COURSERA-22, D-12)
        skipped["progress_clamped"] = n_clamped
    progress = pd.Series(np.where(completed, 100.0, np.where(overall.isna(), 50.0, np.floor(clamped + 0.5))), index=index)

    ms = np.floor(hours * 3_600_000 + 0.5)
    time_spent = ms.where((hours >= 0) & (ms < 2**62)).astype("Int64")

    last = dates["lastActivityAt"]
    now = pd.Timestamp(ctx.now) if ctx.now is not None else pd.Timestamp.now(tz="UTC")
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    # lastActivityAt, else Coursera's completedAt, else now; only when isCompleted (docs: D-03).
    completed_at = last.fillna(dates["completedAt"]).fillna(now).where(completed)

    stats = pd.DataFrame(
        {
            "course_external_id": course,
            "user_email": mail,
            "progress": progress.astype("int64"),
            "time_spent_ms": time_spent,
            "first_activity_at": dates["enrolledAt"],
            "last_activity_at": last,
            "completed_at": pd.to_datetime(completed_at, utc=True),
        },
        index=index,
    )

    # One quarantine row per bad record (the run report counts rows): first problem wins.
    no_course = course.isna().to_numpy(bool) if no_course is None else no_course
    has_mail = mail.notna().to_numpy(bool) if has_mail is None else has_mail
    no_mail = ~has_mail & ~no_course
    bad_mail = has_mail & ~is_mail & ~no_course
    bad = no_course | no_mail | bad_mail
    if not bad.any():
        return StatsResult(stats[list(STAT_COLUMNS)], empty_frame(QUARANTINE_COLUMNS), skipped)
    rows = np.flatnonzero(bad)  # labels only for the rows quarantined
    ref = row_refs(rows).set_axis(index[rows])
    ref = ref.fillna(pd.Series([f"row{i}" for i in rows], index=ref.index, dtype="object"))
    label = course.iloc[rows].fillna("<no course>") + "|" + ref
    problems = [
        _quarantine(label, pd.Series(no_course[rows], index=label.index), "course_external_id", "missing contentType or contentId"),
        _quarantine(label, pd.Series(no_mail[rows], index=label.index), "user_email", "missing externalId and email"),
        _quarantine(label, pd.Series(bad_mail[rows], index=label.index), "user_email", "learner id is not an e-mail address"),
    ]
    kept = stats[~bad].reset_index(drop=True)
    return StatsResult(kept[list(STAT_COLUMNS)], _concat(problems, QUARANTINE_COLUMNS), skipped)


# --- stats: the columnar path ---------------------------------------------------------------
# Pages of clean records give typed columns (Arrow text, float/int numbers, bools). On those the
# rules run on whole columns (Arrow, numpy) with the same results as the per-value helpers;
# anything else (a wrong type anywhere in a column) takes the generic path above. Text rules run
# once per distinct value: a page repeats a few courses and learners over many rows.

# `_EMAIL_RX` for RE2 on ASCII text without a newline: Python's `\s` there is these characters.
_EMAIL_RE2 = r"^[^@\t\n\x0b\x0c\r\x1c-\x1f ]+@[^@\t\n\x0b\x0c\r\x1c-\x1f ]+\.[^@\t\n\x0b\x0c\r\x1c-\x1f ]+$"
# What `pd.to_datetime` makes of a column without any text (NaT of this dtype), and `_utc`'s dtype.
_NO_TEXT_DATES = pd.to_datetime(pd.Series([None], dtype="object"), format="ISO8601", utc=True, errors="coerce").dtype
_UTC_DATES = _utc_of(pd.Series([1.0]), pd.Series([pd.NaT], dtype=_NO_TEXT_DATES)).dtype


def _all_none(s: pd.Series) -> bool:
    """An object column of None / NaN only (what a key no record of the page set gives)."""
    return s.dtype == object and bool(s.isna().all()) and set(map(type, s.to_numpy())) <= {type(None), float}


def _typed_stats(raw: pd.DataFrame) -> bool:
    """Whether every column the stats rules read has a clean type (or is absent / all missing)."""
    if fp.pa is None or not raw.columns.is_unique:
        return False

    def ok(name: str, typed: Callable[[pd.Series], bool]) -> bool:
        return name not in raw.columns or typed(raw[name]) or _all_none(raw[name])

    return (
        all(ok(name, fp.is_text) for name in _STATS_TEXT)
        and ok("isCompleted", lambda s: s.dtype == np.bool_)
        and all(ok(name, fp.is_number) for name in _STATS_NUMBERS + _STATS_DATES)
    )


def _map_stats_typed(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """`map_stats` on typed columns (`_typed_stats`), without per-row Python."""
    index = raw.index

    def text(name: str, rows: np.ndarray | None = None) -> Any:  # the Arrow column (of `rows`), or None
        if name not in raw.columns or not fp.is_text(raw[name]):
            return None
        arr = fp.arrow_strings(raw[name])
        return arr if rows is None else arr.take(fp.pa.array(rows))

    def number(name: str) -> pd.Series:  # `_numbers`
        if name in raw.columns and fp.is_number(raw[name]):
            return raw[name].astype("float64").replace([np.inf, -np.inf], np.nan)
        return pd.Series(np.nan, index=index, dtype="float64")

    course, course_codes = _course_cells(text("contentType"), text("contentId"), len(raw))
    mail, mail_codes, is_mail = _mail_cells(raw, text)
    completed = raw["isCompleted"] if "isCompleted" in raw.columns and raw["isCompleted"].dtype == np.bool_ else None

    def row_refs(rows: np.ndarray) -> pd.Series:  # hashed only for the rows quarantined
        ids = text("id", rows)
        if ids is None:
            return pd.Series(None, index=index[rows], dtype="object")
        return _row_ref(fp.objects(fp.clean_text(ids), index[rows]))

    return _stats_result(
        pd.Series(course, index=index, dtype="object"),
        pd.Series(mail, index=index, dtype="object"),
        is_mail,
        row_refs,
        completed=pd.Series(False, index=index) if completed is None else completed.astype(bool),
        overall=number("overallProgress"),
        hours=number("approxTotalCourseHrs"),
        dates={name: _utc_numbers(number(name)) for name in _STATS_DATES},
        ctx=ctx,
        no_course=course_codes < 0,
        has_mail=mail_codes >= 0,
    )


def _distinct_text(arr: Any) -> tuple[np.ndarray, Any]:
    """`_clean_text` of an Arrow text column, per distinct value: (each row's code into the
    values, -1 where the cleaned text is missing; the cleaned distinct values)."""
    encoded = arr.dictionary_encode()
    values = fp.clean_text(encoded.dictionary)
    lookup = np.arange(len(values) + 1, dtype=np.int64)
    lookup[np.flatnonzero(np.asarray(fp.pc.is_null(values).to_numpy(zero_copy_only=False), dtype=bool))] = -1
    lookup[-1] = -1  # null rows
    codes = fp.pc.fill_null(encoded.indices, len(values)).to_numpy(zero_copy_only=False)
    return lookup[codes], values


def _object_values(values: Any) -> np.ndarray:
    """Arrow text as object cells with a None appended (code -1 picks it)."""
    out = np.empty(len(values) + 1, dtype=object)
    out[:-1] = values.to_numpy(zero_copy_only=False)
    return out


def _course_cells(content_type: Any, content_id: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`contentType~contentId` per row as object cells (None when either is missing) and a code
    per row (-1: missing). Equal ids share one str object, which later hashing reads once."""
    if content_type is None or content_id is None:
        return np.full(n, None, dtype=object), np.full(n, -1, dtype=np.int64)
    type_codes, types = _distinct_text(content_type)
    id_codes, ids = _distinct_text(content_id)
    both = (type_codes >= 0) & (id_codes >= 0)
    pairs = np.where(both, type_codes * (len(ids) + 1) + id_codes, -1)
    codes, uniques = pd.factorize(pairs)
    present = uniques >= 0
    names = np.full(len(uniques) + 1, None, dtype=object)  # the last one: code -1
    type_values, id_values = _object_values(types), _object_values(ids)
    pair_types, pair_ids = np.divmod(uniques[present], len(ids) + 1)
    names[np.flatnonzero(present)] = [f"{t}~{i}" for t, i in zip(type_values[pair_types], id_values[pair_ids])]
    codes = np.where(both, codes, -1)
    return names[codes], codes


def _mail_cells(raw: pd.DataFrame, text: Callable[..., Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The learner e-mail per row: externalId, else email (both cleaned), lower-cased, as object
    cells (None when missing); a code per row (-1: missing); whether it matches `_EMAIL_RX`."""
    n = len(raw)
    external = text("externalId")
    codes, values = _distinct_text(external) if external is not None else (np.full(n, -1, dtype=np.int64), None)
    missing = np.flatnonzero(codes < 0)
    email = text("email", missing) if len(missing) else None
    if email is not None:  # `email` only where externalId is missing
        email_codes, email_values = _distinct_text(email)
        offset = len(values) if values is not None else 0
        codes[missing] = np.where(email_codes >= 0, email_codes + offset, -1)
        values = email_values if values is None else fp.pa.concat_arrays([values, email_values])
    if values is None:
        return np.full(n, None, dtype=object), codes, np.zeros(n, dtype=bool)
    values = values.fill_null("")  # blanks no row points to: keeps the arrays free of nulls
    lowered = fp.pc.utf8_lower(values)
    ascii_ = np.asarray(fp.pc.string_is_ascii(values).to_numpy(zero_copy_only=False), dtype=bool)
    if not ascii_.all():  # Arrow and Python disagree on a few non-ASCII case mappings
        others = fp.pa.array(~ascii_)
        python = [v.lower() for v in values.filter(others).to_pylist()]
        lowered = fp.pc.replace_with_mask(lowered, others, fp.pa.array(python, type=lowered.type))
    matches = np.append(_email_matches(lowered), False)
    return _object_values(lowered)[codes], codes, matches[codes]


def _email_matches(values: Any) -> np.ndarray:
    """`re.match(_EMAIL_RX, v)` for each value of an Arrow string array without nulls. RE2 and
    Python differ on `\\s` beyond ASCII and on `$` before a final newline: those values go to `re`."""
    simple = fp.pc.and_(fp.pc.string_is_ascii(values), fp.pc.invert(fp.pc.match_substring(values, "\n")))
    out = np.asarray(fp.pc.match_substring_regex(values, _EMAIL_RE2).to_numpy(zero_copy_only=False), dtype=bool)
    rest = np.flatnonzero(~np.asarray(simple.to_numpy(zero_copy_only=False), dtype=bool))
    if len(rest):
        pattern = re.compile(_EMAIL_RX)
        out[rest] = [pattern.match(v) is not None for v in values.take(fp.pa.array(rest)).to_pylist()]
    return out


def _utc_numbers(numeric: pd.Series) -> pd.Series:
    """`_utc` of a column of epoch-ms numbers (no text): its ISO half is all NaT, so merging it
    in changes nothing when the dtypes agree."""
    as_ms = pd.to_datetime(numeric.where((numeric > 0) & (numeric < 4.2e12)), unit="ms", utc=True, errors="coerce")
    if as_ms.dtype != _UTC_DATES:  # a pandas picking another resolution: `_utc`'s own steps
        return _utc_of(numeric, pd.Series(pd.NaT, index=numeric.index, dtype=_NO_TEXT_DATES))
    return as_ms.where((as_ms >= _MIN_TS) & (as_ms < _MAX_TS))


__all__ = ["map_catalog", "map_stats", "map_languages", "map_content_types", "map_difficulty", "seconds_to_minutes", "V2_LANGUAGES"]
