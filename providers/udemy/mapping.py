"""Udemy rules (docs/rules/udemy.md; docs: D-01, D-08, D-11, D-12) as pure pandas.

`map_catalog` turns raw course / learning-path records into v2 ExternalCourse rows plus engine
metadata; `map_stats` turns user-course-activity rows into STAT_COLUMNS. Raw frames may miss
whole columns or hold values of the wrong type: such rows are quarantined, never raised on.
"""

from __future__ import annotations

import html
import re
from itertools import chain, repeat
from typing import Any

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
from learnsync.providers.kit.languages import V2_LANGUAGES, v2_language
from learnsync.providers.udemy import settings as K

MAX_DURATION = 100_000  # v2 ExternalCourseDTO.duration maximum (minutes)
MAX_VIDEO_MINUTES = 100 * 365 * 24 * 60
_DIGITS = re.compile(r"\d+")


# --------------------------------------------------------------------------- catalog


@without_gc
def map_catalog(raw: pd.DataFrame, stream: str, ctx: MappingContext) -> CatalogResult:
    """Map one catalog stream ("courses" or "learning_paths") to COURSE_FIELDS + COURSE_META."""
    raw = raw.reset_index(drop=True)  # pages may arrive concatenated with repeated indexes
    if stream == "courses":
        out = _course_rows(raw, ctx)
    elif stream == "learning_paths":
        out = _learning_path_rows(raw, ctx)
    else:
        raise ValueError(f"unknown Udemy catalog stream {stream!r}")
    ignored = [_ignored(out, raw, stream)]
    # Paging over a live catalog can hand the same record twice; the first one wins.
    duplicate = out["externalId"].notna() & out["externalId"].duplicated(keep="first")
    ignored.append(pd.DataFrame({"external_id": out.loc[duplicate, "externalId"], "reason": "duplicate externalId in extract"}))
    out = out[~duplicate & ~out.index.isin(ignored[0].index)]
    quarantine = _required_fields_quarantine(out)
    courses = out[~out.index.isin(quarantine.index)].reset_index(drop=True)
    for column in ("externalId", "name", "launchUrl", "description", "imageUrl", "difficultyLevel", "mobileLaunchUrl", "_filter_lang"):
        courses[column] = clean.objects(courses[column])
    return CatalogResult(
        courses=courses[list(COURSE_FIELDS + COURSE_META)],
        quarantine=_frame(quarantine, QUARANTINE_COLUMNS),
        ignored=_frame(pd.concat(ignored), IGNORED_COLUMNS),
    )


def _course_rows(raw: pd.DataFrame, ctx: MappingContext) -> pd.DataFrame:
    """Courses (docs: UDEMY-02..UDEMY-13)."""
    ids = clean.ids(clean.column(raw, "id"))
    title = clean.text(clean.column(raw, "title"))
    categories = _text_lists(_col(raw, "categories"))
    out = _base_frame(raw, ids, title, ctx, categories)
    out["defaultLang"] = _default_lang(_nested(raw, "locale", "locale"), ctx.owner_lang)
    out["imageUrl"] = _largest_image(raw, "images", flat_prefix="image_")
    out["duration"] = _duration(clean.column(raw, "estimated_content_length"))
    out["_extra"] = _extras(
        raw.index,
        title=title,
        authors=_people(_col(raw, "instructors")),
        videoUrl=_best_video(_col(raw, "promo_video_url")),
    )
    out["_filter_lang"] = out["defaultLang"]
    return out


def _learning_path_rows(raw: pd.DataFrame, ctx: MappingContext) -> pd.DataFrame:
    """Learning paths (docs: UDEMY-14..UDEMY-21; namespaced ids: docs: UDEMY-15, D-11)."""
    ids = K.LEARNING_PATH_ID_PREFIX + clean.ids(clean.column(raw, "id"))
    title = clean.text(clean.column(raw, "title"))
    categories = _text_lists(_col(raw, "categories"))
    out = _base_frame(raw, ids, K.LEARNING_PATH_NAME_PREFIX + title, ctx, categories)
    items = pd.Series([_items_html(s) for s in _col(raw, "sections")], index=raw.index, dtype=object)
    out["description"] = _join_text(out["description"], items)
    out["defaultLang"] = K.LEARNING_PATH_LANG
    out["imageUrl"] = _thumbnail(_col(raw, "thumbnail"))
    out["duration"] = _duration(clean.column(raw, "estimated_content_length"))
    out["_extra"] = _extras(
        raw.index,
        title=title,
        authors=_people(_col(raw, "editors")),
        modifiedAt=_modified_at(clean.dates(clean.column(raw, "last_modified"))),
    )
    out["_filter_lang"] = out["defaultLang"]
    return out


def _base_frame(
    raw: pd.DataFrame, ids: pd.Series, name: pd.Series, ctx: MappingContext, categories: pd.Series
) -> pd.DataFrame:
    """Columns both streams share: identity, launch URL, subjects/tags (docs: UDEMY-10, D-01), source."""
    out = pd.DataFrame(index=raw.index)
    out["externalId"] = ids
    out["name"] = name
    out["launchUrl"] = clean.urls(clean.column(raw, "url"))
    out["subjects"] = categories
    out["sources"] = pd.Series([[{"name": K.SOURCE_NAME}] for _ in range(len(raw))], index=raw.index, dtype=object)
    out["description"] = clean.text(clean.column(raw, "description"))
    out["contentType"] = "course"
    out["difficultyLevel"] = None
    out["mobileLaunchUrl"] = None
    out["_status"] = "keep"  # Udemy lists only available content; retired courses just vanish
    tags_on = bool(ctx.options.get("tags_sync", False))
    out["_tags"] = pd.Series([list(c) if tags_on else [] for c in categories], index=raw.index, dtype=object)
    out["_skills"] = None
    out["_filter_type"] = "course"
    return out


def _ignored(out: pd.DataFrame, raw: pd.DataFrame, stream: str) -> pd.DataFrame:
    """Only public learning paths are synced (docs: UDEMY-14); a private one is left alone."""
    if stream != "learning_paths":
        return pd.DataFrame({"external_id": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    private = clean.flags(clean.column(raw, "is_private_path")) | clean.flags(clean.column(raw, "is_private"))
    return pd.DataFrame({"external_id": out.loc[private, "externalId"], "reason": "private learning path"})


def _required_fields_quarantine(out: pd.DataFrame) -> pd.DataFrame:
    """One row per (record, required v2 field) that is missing or invalid after mapping."""
    checks = (
        ("externalId", out["externalId"].isna(), "missing id"),
        ("name", out["name"].isna(), "missing title"),
        ("launchUrl", out["launchUrl"].isna(), "missing or non-absolute url"),
        ("defaultLang", ~out["defaultLang"].isin(V2_LANGUAGES), "no v2 language (locale and owner language unusable)"),
    )
    missing = out.index[out["externalId"].isna().to_numpy(bool)]  # row keys only where there is no id
    key = out["externalId"].fillna(pd.Series("row:" + missing.astype(str), index=missing))
    parts = [pd.DataFrame({"external_id": key[bad], "field": field, "reason": why}) for field, bad, why in checks]
    return pd.concat(parts)


# --------------------------------------------------------------------------- stats


@without_gc
def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    """Statistics (docs: UDEMY-25..UDEMY-33; completion date wins: docs: D-11; bad values: docs: D-12)."""
    raw = raw.reset_index(drop=True)
    col = lambda name: clean.column(raw, name)  # noqa: E731 - local shorthand
    email = clean.emails(col("user_email"))  # docs: UDEMY-26
    anonymized = email.eq(K.ANONYMIZED_USER).fillna(False).to_numpy(bool)  # docs: UDEMY-33
    course = clean.ids(col("course_id"))  # docs: UDEMY-25
    completed = clean.dates(col("course_completion_date"))  # docs: UDEMY-29
    progress, clamped = _progress(col("completion_ratio"), completed)
    checks = (
        ("user_email", email.isna().to_numpy(bool), "missing learner e-mail"),
        ("user_email", email.notna().to_numpy(bool) & ~clean.valid_emails(email), "invalid learner e-mail"),
        ("course_id", course.isna().to_numpy(bool), "missing course id"),
        ("completion_ratio", progress.isna().to_numpy(bool), "missing or non-numeric completion_ratio"),
    )
    flagged = np.zeros(len(raw), dtype=bool)
    for _, bad, _ in checks:
        flagged |= bad & ~anonymized
    quarantine = _stats_quarantine(raw, course, checks, flagged, anonymized)
    started = clean.dates(col("course_start_date"))
    stats = pd.DataFrame(
        {
            "course_external_id": course,
            "user_email": email,
            "progress": progress.astype("Int64"),
            "time_spent_ms": _time_spent_ms(col("num_video_consumed_minutes")).astype("Int64"),
            "first_activity_at": started.fillna(clean.dates(col("course_enroll_date"))),  # docs: UDEMY-27
            "last_activity_at": clean.dates(col("course_last_accessed_date")),  # docs: UDEMY-28
            "completed_at": completed,
        },
        index=raw.index,
    )
    keep = ~anonymized & ~flagged
    if not keep.all():
        stats = stats[keep]
    skipped = {"anonymized_user": int(anonymized.sum()), "progress_clamped": int((clamped & keep).sum())}
    return StatsResult(
        stats=stats[list(STAT_COLUMNS)].reset_index(drop=True),
        quarantine=_frame(quarantine, QUARANTINE_COLUMNS),
        skipped=skipped,
    )


def _progress(ratio: pd.Series, completed: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """`completion_ratio` rounded half up and clamped to 0..100, 100 once completed; and which
    rows were clamped (docs: UDEMY-29, UDEMY-30, D-12)."""
    rounded = clean.half_up(clean.numbers(ratio))
    clamped = (rounded.notna() & ((rounded < 0) | (rounded > 100))).to_numpy(bool)
    return rounded.clip(0, 100).mask(completed.notna(), 100), clamped


def _time_spent_ms(minutes: pd.Series) -> pd.Series:
    """`num_video_consumed_minutes` in whole milliseconds; negative or beyond a century of video
    (junk) is not sent (docs: UDEMY-31)."""
    num = clean.numbers(minutes)
    return clean.half_up(num * 60_000).where((num >= 0) & (num <= MAX_VIDEO_MINUTES))


def _stats_quarantine(
    raw: pd.DataFrame, course: pd.Series, checks: tuple[tuple[str, np.ndarray, str], ...], flagged: np.ndarray, anonymized: np.ndarray
) -> pd.DataFrame:
    """Quarantine rows keyed `course|<learner id>` (user_id, user_external_id, lms_user_id; else a digest
    of the e-mail or of the record), built for the bad rows only."""
    if not flagged.any():
        return pd.DataFrame(columns=list(QUARANTINE_COLUMNS))
    rows = np.flatnonzero(flagged)
    sub = raw.iloc[rows]
    learner = clean.ids(clean.column(sub, "user_id"))
    for name in ("user_external_id", "lms_user_id"):
        learner = learner.fillna(clean.text(clean.column(sub, name)))
    key = row_keys.activity_labels(course.iloc[rows], sub, learner, clean.emails(clean.column(sub, "user_email")))
    parts = [pd.DataFrame({"external_id": key[(bad & ~anonymized)[rows]], "field": field, "reason": why}) for field, bad, why in checks]
    return pd.concat(parts)


# --------------------------------------------------------------------------- column helpers


def _col(raw: pd.DataFrame, name: str) -> pd.Series:
    """A raw column as objects (dict and list cells are read in Python); absent: all-missing."""
    return clean.column(raw, name).astype(object)


def _nested(raw: pd.DataFrame, parent: str, key: str) -> pd.Series:
    """`parent.key` from dict cells, or from a column already flattened by json_normalize."""
    inner = pd.Series([d.get(key) if isinstance(d, dict) else None for d in _col(raw, parent)], index=raw.index, dtype=object)
    return _col(raw, f"{parent}.{key}").where(lambda s: s.notna(), inner)


def _text_lists(s: pd.Series) -> pd.Series:
    return pd.Series(clean.text_lists(s), index=s.index, dtype=object)


def _duration(length: pd.Series) -> pd.Series:
    """`estimated_content_length` as whole minutes in 1..100000, rounded half up; 0, negative or
    unreadable lengths are not sent (docs: UDEMY-07, D-08, D-27)."""
    minutes = clean.numbers(length)
    return clean.half_up(minutes).clip(1, MAX_DURATION).where(minutes > 0).astype("Int64")


def _default_lang(locale: pd.Series, owner_lang: str | None) -> pd.Series:
    """The course locale in the v2 list, else the connector owner's language (docs: UDEMY-09)."""
    return clean.languages(locale).where(lambda lang: lang.notna(), v2_language(owner_lang))


def _modified_at(dates: pd.Series) -> pd.Series:
    """A path's `last_modified`, kept in the state store as `YYYY-MM-DDTHH:MM:SSZ` (docs: UDEMY-20)."""
    return dates.dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object).where(dates.notna(), None)


def _people(s: pd.Series) -> pd.Series:
    """Instructor names (strings) or editors' `display_name` (dicts) as a list of names."""
    cells = s.to_numpy(dtype=object)
    items = chain.from_iterable(c for c in cells if isinstance(c, list))
    if not any(issubclass(t, dict) for t in set(map(type, cells)) | set(map(type, items))):
        return _text_lists(s)  # no editor dicts: a name list is a list of clean strings

    def names(cell: Any) -> list[Any]:
        values = cell if isinstance(cell, list) else [cell]
        return [v.get("display_name") or v.get("title") if isinstance(v, dict) else v for v in values]

    return _text_lists(pd.Series([names(c) for c in s], index=s.index, dtype=object))


def _image_area(name: str) -> float:
    """Pixel area from a size key: `size_750x422`, `image_480x270`, `size_200_H` (16:9 assumed)."""
    wh = re.search(r"(\d+)x(\d+)", name)
    if wh:
        return float(wh.group(1)) * float(wh.group(2))
    h = re.search(r"(\d+)_H", name)
    return float(h.group(1)) ** 2 * 16 / 9 if h else 0.0


def _largest_of(sizes: pd.DataFrame) -> pd.Series:
    """Per row, the URL in the largest-area column that holds one (docs: UDEMY-06, D-11)."""
    if sizes.shape[1] == 0:
        return pd.Series(None, index=sizes.index, dtype=object)
    ordered = sorted(sizes.columns, key=lambda c: _image_area(str(c)), reverse=True)
    flat = clean.urls(pd.Series(sizes[ordered].to_numpy(dtype=object).ravel(), dtype=object))  # one pass, all sizes
    urls = flat.to_numpy(dtype=object).reshape(len(sizes), len(ordered))
    present = pd.notna(urls)
    picked = urls[np.arange(len(sizes)), present.argmax(axis=1)] if len(sizes) else urls[:, 0]
    picked[~present.any(axis=1)] = None
    return pd.Series(picked, index=sizes.index, dtype=object)


def _largest_image(raw: pd.DataFrame, column: str, flat_prefix: str) -> pd.Series:
    """Largest of the `images` dict, of flattened `images.*` columns and of marketplace `image_*` fields."""
    cells = [d if isinstance(d, dict) else {} for d in _col(raw, column)]
    flat = [c for c in raw.columns if isinstance(c, str) and (c.startswith(flat_prefix) or c.startswith(column + "."))]
    keys = list(dict.fromkeys(chain.from_iterable(cells)))  # the column order from_records gives
    if set(map(type, keys)) - {str} or set(keys) & set(flat):  # odd or clashing keys: the frame rule decides
        sizes = pd.DataFrame.from_records(cells, index=raw.index) if cells else pd.DataFrame(index=raw.index)
        return _largest_of(pd.concat([sizes, raw[flat]], axis=1))
    # stable: sizes of one area keep their column order, as in `_largest_of`
    ordered = sorted([(k, None) for k in keys] + [(c, raw[c]) for c in flat], key=lambda c: _image_area(c[0]), reverse=True)
    if not ordered:
        return _largest_of(pd.DataFrame(index=raw.index))  # no sizes at all: its all-missing answer
    found = np.full(len(raw), None, dtype=object)
    pending = np.arange(len(raw))
    for key, flat_column in ordered:  # each size is only read for the rows still without a URL
        if not len(pending):
            break
        if flat_column is not None:
            values = flat_column.iloc[pending]
        else:
            values = pd.Series([d.get(key) for d in _pick(cells, pending)], dtype=object)
        urls = clean.urls(values).to_numpy()
        hit = pd.notna(urls)
        found[pending[hit]] = urls[hit]
        pending = pending[~hit]
    return pd.Series(found, index=raw.index, dtype=object)


def _pick(items: list[Any], positions: np.ndarray) -> list[Any]:
    """items[positions], without a Python loop when that is all of them."""
    return items if len(positions) == len(items) else [items[i] for i in positions.tolist()]


def _thumbnail(s: pd.Series) -> pd.Series:
    """A learning path thumbnail: a URL string or a dict of sizes (the largest wins)."""
    direct = clean.urls(s)
    frame = pd.DataFrame(index=s.index)
    frame["thumbnail"] = s
    return direct.where(direct.notna(), _largest_image(frame, "thumbnail", flat_prefix="thumbnail_"))


def _best_video(s: pd.Series) -> pd.Series:
    """promo_video_url: the file of the highest-quality entry (largest numeric label)."""
    rows, labels, files = _video_entries(s.to_numpy(dtype=object))
    # each row's entries best first, the first listed among equals (lexsort is stable)
    order = np.lexsort((-_qualities(labels), rows))
    rank = _ranks(rows[order])
    best = np.full(len(s), None, dtype=object)
    done = np.zeros(len(s), dtype=bool)
    for level in range(int(rank.max()) + 1 if len(rank) else 0):  # a row's first usable file wins
        pick = order[rank == level]
        pick = pick[~done[rows[pick]]]  # files are only checked for rows still without one
        urls = clean.urls(pd.Series(files[pick], dtype=object)).to_numpy()
        hit = pd.notna(urls)
        best[rows[pick[hit]]] = urls[hit]
        done[rows[pick[hit]]] = True
    return pd.Series(best, index=s.index, dtype=object)


def _ranks(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... along each run of equal values of a sorted array."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else groups
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def _video_entries(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, label, file) of each dict entry of the list cells, as three arrays."""
    types = set(map(type, cells))
    if not any(issubclass(t, list) and t is not list for t in types):
        lists = [c if type(c) is list else () for c in cells]
        entries = list(chain.from_iterable(lists))
        if set(map(type, entries)) <= {dict}:  # the usual page: lists of plain dicts
            rows = np.repeat(np.arange(len(cells)), np.fromiter(map(len, lists), dtype=np.int64, count=len(lists)))
            labels = _objects([e.get("label") for e in entries], len(entries))
            return rows, labels, _objects([e.get("file") for e in entries], len(entries))
    found = [
        (row, v.get("label"), v.get("file"))
        for row, cell in enumerate(cells)
        if isinstance(cell, list)
        for v in cell
        if isinstance(v, dict)
    ]
    found_rows, found_labels, found_files = zip(*found) if found else ((), (), ())
    return np.array(found_rows, dtype=np.int64), _objects(found_labels, len(found)), _objects(found_files, len(found))


def _objects(values: Any, n: int) -> np.ndarray:
    """A 1-D object array (list-valued cells stay cells instead of becoming a dimension)."""
    return np.fromiter(values, dtype=object, count=n)


def _qualities(labels: np.ndarray) -> np.ndarray:
    """`_quality` of each label; text labels (a handful of distinct ones) are read once each."""
    if set(map(type, labels)) <= {str, type(None)}:
        codes, uniques = pd.factorize(labels)  # None: code -1, the answer appended last
        return np.array([_quality(u) for u in uniques] + [_quality(None)], dtype=float)[codes]
    return np.array([_quality(label) for label in labels], dtype=float)


def _quality(label: Any) -> float:
    """"720", 1080, "1080p" -> a number; labels without digits ("Auto") rank last."""
    digits = _DIGITS.search(str(label)) if label is not None and not isinstance(label, bool) else None
    return float(digits.group()) if digits else -1.0


def _items_html(sections: Any) -> str | None:
    """Learning path items as HTML links, section by section, in the path's order."""
    if not isinstance(sections, list):
        return None
    parts: list[str] = []
    for section in sorted((s for s in sections if isinstance(s, dict)), key=lambda s: _order(s.get("order"))):
        items = [i for i in section.get("items") or [] if isinstance(i, dict)]
        links = [_link(i) for i in sorted(items, key=lambda i: _order(i.get("order")))]
        links = [link for link in links if link]
        if not links:
            continue
        title = section.get("title")
        if isinstance(title, str) and title.strip():
            parts.append(f"<p><strong>{html.escape(title.strip())}</strong></p>")
        parts.append("<ul>" + "".join(f"<li>{link}</li>" for link in links) + "</ul>")
    return "".join(parts) or None


def _order(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("inf")


def _link(item: dict[str, Any]) -> str | None:
    title = item.get("title")
    url = item.get("url") or item.get("resource_url")
    if not isinstance(title, str) or not title.strip():
        return None
    label = html.escape(title.strip())
    if isinstance(url, str) and re.match(r"https?://\S+$", url.strip()):
        return f'<a href="{html.escape(url.strip(), quote=True)}">{label}</a>'
    return label


def _join_text(first: pd.Series, second: pd.Series) -> pd.Series:
    joined = first.fillna("").astype(str) + second.fillna("").astype(str)
    return joined.where(joined.str.len() > 0, None).astype(object)


def _extras(index: pd.Index, **columns: pd.Series) -> pd.Series:
    """`_extra` dict cells; keys whose value is missing (None or an empty list) are left out."""
    keys = list(columns)
    values, present = [], []
    for k in keys:
        column = columns[k].reindex(index)
        values.append(column.to_numpy(dtype=object))
        present.append(column.notna().to_numpy(bool) & ~_empty_lists(values[-1]))
    # rows with the same keys present are built together, without per-value checks
    pattern = np.zeros(len(index), dtype=np.int64)
    for bit, mask in enumerate(present):
        pattern |= mask.astype(np.int64) << bit
    cells = np.empty(len(index), dtype=object)
    for code in np.unique(pattern).tolist():
        rows = np.flatnonzero(pattern == code)
        names = [k for bit, k in enumerate(keys) if code >> bit & 1]
        picked = [values[bit][rows] for bit in range(len(keys)) if code >> bit & 1]
        cells[rows] = _dicts(names, picked) if names else [{} for _ in rows]
    return pd.Series(cells, index=index, dtype=object)


def _dicts(names: list[str], columns: list[np.ndarray]) -> list[dict[str, Any]]:
    """One dict of `names` per row of `columns`. Three keys (both streams' full `_extra`) get
    a dict display, twice as fast to build as dict(zip(...))."""
    if len(names) == 3:
        a, b, c = names
        return [{a: x, b: y, c: z} for x, y, z in zip(*columns)]
    return list(map(dict, map(zip, repeat(names), zip(*columns))))


def _empty_lists(cells: np.ndarray) -> np.ndarray:
    """Which cells are empty lists."""
    types = set(map(type, cells))
    if not any(issubclass(t, list) for t in types):
        return np.zeros(len(cells), dtype=bool)
    if types == {list}:
        return np.fromiter(map(len, cells), dtype=np.int64, count=len(cells)) == 0
    return np.fromiter((isinstance(v, list) and not v for v in cells), dtype=bool, count=len(cells))


def _frame(parts: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    if parts.empty:
        return empty_frame(columns)
    return parts.reset_index(drop=True)[list(columns)].astype(object)
