"""Diff mapped provider data against the state store: what to create, update, archive, restore.

Pure functions (DataFrame in, DataFrame out); no I/O. The outcome vocabulary is the one
users know from 360Learning's native connectors plus unchanged/failed: created, updated,
unchanged, archived, restored, ignored (quarantined and failed are added by the loader).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from learnsync.providers.base import COURSE_FIELDS, ProviderSpec


class ArchiveGuardError(RuntimeError):
    """The extract shrank so much that archiving would be a mass-archive; needs --force."""


@dataclass
class CatalogPlan:
    """Every course of the integration with its planned outcome, plus what to send."""

    items: pd.DataFrame  # external_id, outcome, reason, archived_reason, payload, payload_hash, tags, skills, course_id, extra
    guard_tripped: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def select(self, *outcomes: str) -> pd.DataFrame:
        return self.items[self.items["outcome"].isin(outcomes)]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    return value


def build_payloads(courses: pd.DataFrame, prefix: str = "") -> list[dict[str, Any]]:
    """v2 ExternalCourse dicts: only documented fields, nulls dropped, numpy scalars unwrapped.

    `prefix`: the fields are the columns named prefix + field (a plan's items hold them as "f:name").
    """
    cols = [prefix + c for c in COURSE_FIELDS if prefix + c in courses.columns]
    records = courses[cols].astype(object).where(courses[cols].notna(), None).to_dict("records")
    cut = len(prefix)
    out: list[dict[str, Any]] = []
    for rec in records:
        payload = {k[cut:]: _clean(v) for k, v in rec.items() if v is not None}
        if "duration" in payload and payload["duration"] is not None:
            payload["duration"] = int(payload["duration"])
        out.append(payload)
    return out


# What the payload hash covers: the payload, the skills and the values filters compare with (so a
# relabelled language refreshes the stored filter values). Tags are merged, never replaced, so
# they are compared as sets instead (see `plan_extract`). `_extra` holds nothing 360Learning sees.
HASH_COLUMNS = COURSE_FIELDS + ("_skills", "_filter_lang", "_filter_type")
_HASH_KEY = "learnsync-cat-v2"  # 16 characters, as pandas' siphash wants
_NULL, _NUM, _LIST, _JSON = "\x1a", "\x11", "\x12", "\x13"  # type marks (12 and "12" differ); never NUL, which numpy strips


def _cell(value: Any) -> str:
    """Canonical text of one value, the same whatever column dtype it came in.

    Containers hash by their repr: the mappings build them the same way each run, and repr
    tells 12 from "12" as the JSON sent does (at a tenth of json.dumps' cost).
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return _NULL
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return _JSON + ("true" if value else "false")
    if isinstance(value, (int, np.integer)):
        return _NUM + str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return _NUM + (str(int(number)) if number.is_integer() else repr(number))
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return (_LIST if isinstance(value, list) else _JSON) + repr(value)


_CONTAINERS: dict[type, str] = {list: _LIST, dict: _JSON}


def _canonical(column: pd.Series | None, n: int) -> np.ndarray:
    """A column as canonical text, vectorised for numbers and plain strings."""
    if column is None:
        return np.full(n, _NULL, dtype=object)
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        integral = ~missing & np.isfinite(values) & (values == np.trunc(values))
        text = np.where(integral, np.where(integral, values, 0).astype(np.int64).astype(str), values.astype(str))
        return np.array([_NULL if gone else _NUM + t for gone, t in zip(missing.tolist(), text.tolist())], dtype=object)
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return np.where(column.isna().to_numpy(), _NULL, column.to_numpy(dtype=object)).astype(object)
    values = column.tolist()
    kinds = set(map(type, values)) - {type(None)}
    if len(kinds) == 1 and next(iter(kinds)) in _CONTAINERS:  # e.g. subjects, sources: the common case
        mark = _CONTAINERS[next(iter(kinds))]
        return np.array([_NULL if v is None else mark + repr(v) for v in values], dtype=object)
    return np.array([_cell(v) for v in values], dtype=object)


def _sorted_skills(column: pd.Series) -> pd.Series:
    return pd.Series(
        [v if v is None or (isinstance(v, float) and np.isnan(v)) else sorted(str(s) for s in v) for v in column.tolist()],
        index=column.index, dtype=object,
    )


def catalog_hashes(mapped: pd.DataFrame) -> np.ndarray:
    """Stable hash of what each course would send (see HASH_COLUMNS), computed column by column.

    The same course hashes the same in any chunk of any catalog: absent and null columns are
    alike, numbers hash by value whatever their dtype.
    """
    n = len(mapped)
    if n == 0:
        return np.array([], dtype=object)
    columns = {}
    for name in HASH_COLUMNS:
        column = mapped[name] if name in mapped.columns else None
        if name == "_skills" and column is not None:
            column = _sorted_skills(column)
        columns[name] = _canonical(column, n)
    # 64 bits: a change goes unseen only if old and new text of the same course collide (2^-64).
    # Each column hashed as it is (an object array: no DataFrame, whose string inference would
    # convert every column to Arrow and back), then combined in column order.
    hashes = [pd.util.hash_array(columns[name], hash_key=_HASH_KEY, categorize=False) for name in HASH_COLUMNS]
    return np.array([f"{h:016x}" for h in _combine(hashes).tolist()], dtype=object)


def _combine(hashes: list[np.ndarray]) -> np.ndarray:
    """One uint64 per row from per-column hashes, order-sensitive (as Python hashes a tuple)."""
    with np.errstate(over="ignore"):
        out = np.full(len(hashes[0]), 0x345678, dtype=np.uint64)
        multiplier = np.uint64(1000003)
        for left, column in zip(range(len(hashes), 0, -1), hashes):
            out = (out ^ column) * multiplier
            multiplier += np.uint64(82520 + 2 * left)
        return out + np.uint64(97531)


def filter_mask(lang: pd.Series, ctype: pd.Series, filters: dict[str, list[str]] | None) -> pd.Series:
    """OR within a filter, AND across filters; an empty or absent filter matches everything."""
    mask = pd.Series(True, index=lang.index)
    if not filters:
        return mask
    languages = [v.lower() for v in filters.get("languages") or []]
    types = [v.lower() for v in filters.get("content_types") or []]
    if languages:
        mask &= lang.fillna("").astype(str).str.lower().isin(languages)
    if types:
        mask &= ctype.fillna("").astype(str).str.lower().isin(types)
    return mask


def _as_list_column(series: pd.Series, default: Any) -> list[Any]:
    return [default if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in series.tolist()]


FIELD_PREFIX = "f:"  # the mapped v2 fields inside a prepared extract / a plan's items


def prepare_extract(mapped: pd.DataFrame) -> pd.DataFrame:
    """What the plan needs of mapped courses: id, payload hash, tags, skills, status, filter values,
    and the v2 fields (prefixed "f:") to build payloads from for the courses actually sent.

    Row-wise independent, so chunks of a catalog can be prepared as their pages arrive and
    concatenated (in page order) for the plan.
    """
    n = len(mapped)

    def meta(name: str, default: Any) -> pd.Series:
        return mapped[name] if name in mapped.columns else pd.Series([default] * n, index=mapped.index, dtype=object)

    extract = pd.DataFrame(
        {
            "external_id": mapped["externalId"].astype(str).to_numpy() if n else np.array([], dtype=object),
            "payload_hash": catalog_hashes(mapped),
            "tags": _as_list_column(meta("_tags", None), []),
            "skills": _as_list_column(meta("_skills", None), None),
            "extra": _as_list_column(meta("_extra", None), {}),
            "provider_status": meta("_status", "keep").astype(object).where(meta("_status", "keep").notna(), "keep").to_numpy(),
            "filter_lang": meta("_filter_lang", None).to_numpy(dtype=object),
            "filter_type": meta("_filter_type", None).to_numpy(dtype=object),
        }
    )
    fields = mapped[[c for c in COURSE_FIELDS if c in mapped.columns]].add_prefix(FIELD_PREFIX).reset_index(drop=True)
    return pd.concat([extract, fields], axis=1)


def drop_repeated_ids(extract: pd.DataFrame, keep: str = "first") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per course when chunks of a catalog were prepared apart.

    A live catalog paged over can serve a record in two chunks; the provider's rule
    (`ProviderSpec.duplicates_keep`, the one its mapping applies inside a chunk) picks the copy
    kept. Returns (extract, ignored rows with the reason) for the run report.
    """
    repeated = extract["external_id"].duplicated(keep=keep).to_numpy()
    if not repeated.any():
        return extract, pd.DataFrame(columns=["external_id", "reason"])
    dropped = pd.DataFrame({"external_id": extract.loc[repeated, "external_id"].to_numpy(), "reason": "duplicate externalId in extract"})
    return extract[~repeated].reset_index(drop=True), dropped


@dataclass(frozen=True)
class CourseFacts:
    """What the decision table reads about each course of the merged extract + state (bool arrays)."""

    in_extract: np.ndarray  # the provider served it this run
    in_state: np.ndarray  # learnsync synced it before
    active: np.ndarray  # last confirmed active in 360Learning
    archived: np.ndarray  # last confirmed archived
    keep: np.ndarray  # the provider lists it as live (not closed / retired)
    matches: np.ndarray  # it matches the saved filters
    same: np.ndarray  # its payload hash equals the one last confirmed
    restorable: np.ndarray  # the provider's rule lets an archived course come back
    archive_missing: bool  # the provider's rule archives what left a catalog read completely

    @property
    def wanted(self) -> np.ndarray:
        return self.in_extract & self.keep & self.matches

    @classmethod
    def of(cls, merged: pd.DataFrame, spec: ProviderSpec, complete: bool) -> CourseFacts:
        def flag(values: pd.Series) -> np.ndarray:
            return values.fillna(False).to_numpy(bool)

        reason = merged["archived_reason"].fillna("").to_numpy(dtype=object)
        # What deactivation archived comes back on reactivation, whatever the provider's rule.
        restorable = np.where(
            reason == "filter", bool(spec.filter_restores), np.where(reason == "deactivated", True, bool(spec.restore_on_reappear))
        ).astype(bool)
        return cls(
            in_extract=merged["_merge"].isin(["both", "left_only"]).to_numpy(bool),
            in_state=merged["_merge"].isin(["both", "right_only"]).to_numpy(bool),
            active=flag(merged["status"] == "active"),
            archived=flag(merged["status"] == "archived"),
            keep=flag(merged["provider_status"] == "keep"),
            matches=flag(merged["matches"].astype(object)),
            same=flag(merged["payload_hash"] == merged["state_hash"]),
            restorable=restorable,
            archive_missing=bool(spec.archive_missing and complete),
        )


@dataclass(frozen=True)
class Decision:
    """One row of the catalog decision table: a course for which `condition` holds gets `outcome`."""

    name: str
    condition: Callable[[CourseFacts], np.ndarray]
    outcome: str
    reason: str = ""


# Read top to bottom; the first row whose condition holds decides (np.select). The reasons
# "provider", "filter" and "missing" are stored as the course's archived_reason.
CATALOG_DECISIONS: tuple[Decision, ...] = (
    Decision("new and wanted", lambda f: f.wanted & ~f.in_state, "created"),
    Decision("wanted, same payload", lambda f: f.wanted & f.active & f.same, "unchanged"),
    Decision("wanted, payload changed", lambda f: f.wanted & f.active & ~f.same, "updated"),
    Decision("wanted again, provider restores", lambda f: f.wanted & f.archived & f.restorable, "restored"),
    Decision("wanted again, provider never restores", lambda f: f.wanted & f.archived & ~f.restorable, "unchanged", "stays archived"),
    Decision("served but not wanted, never synced", lambda f: f.in_extract & ~f.wanted & ~f.in_state, "ignored"),
    Decision("closed at the provider", lambda f: f.in_extract & ~f.keep & f.active, "archived", "provider"),
    Decision("no longer matches the filters", lambda f: f.in_extract & f.keep & ~f.matches & f.active, "archived", "filter"),
    Decision("not wanted, already archived", lambda f: f.in_extract & ~f.wanted & f.archived, "unchanged"),
    Decision("gone from a complete catalog read", lambda f: ~f.in_extract & f.active & f.archive_missing, "archived", "missing"),
    Decision(
        "gone, nothing to do", lambda f: ~f.in_extract & (f.archived | (f.active & (not f.archive_missing))), "absent"
    ),
)


def check_archive_guard(
    spec: ProviderSpec, *, kept: int, active_before: int, to_archive: int, ratio: float, force: bool, what: str
) -> None:
    """The mass-archive guard: refuse to archive when fewer than `ratio` of the active courses
    would be kept (a provider glitch, a filter typo), unless forced. One rule for every path."""
    if force or active_before <= 0 or to_archive <= 0 or kept >= ratio * active_before:
        return
    raise ArchiveGuardError(
        f"{spec.key}: {what} {kept} courses where {active_before} are active "
        f"(under {ratio:.0%}); refusing to archive {to_archive} courses. "
        "Check the provider (or the filter values), then rerun with --force to archive them."
    )


def plan_catalog(
    mapped: pd.DataFrame,
    state: pd.DataFrame,
    spec: ProviderSpec,
    filters: dict[str, list[str]] | None = None,
    *,
    guard_ratio: float = 0.5,
    force: bool = False,
    complete: bool = True,
) -> CatalogPlan:
    """Decide each course's outcome from the mapped extract and the stored state.

    complete=False (a page was skipped or an id hidden): nothing is archived as missing.
    """
    extract = prepare_extract(mapped.drop_duplicates("externalId", keep="last").reset_index(drop=True))
    return plan_extract(extract, state, spec, filters, guard_ratio=guard_ratio, force=force, complete=complete)


def plan_extract(
    extract: pd.DataFrame,
    state: pd.DataFrame,
    spec: ProviderSpec,
    filters: dict[str, list[str]] | None = None,
    *,
    guard_ratio: float = 0.5,
    force: bool = False,
    complete: bool = True,
    payloads: bool = True,
) -> CatalogPlan:
    """`plan_catalog` on a prepared extract (`prepare_extract`, one row per course).

    payloads=False: leave the "payload" column empty (`with_payloads` builds it for the rows
    actually sent; a run that sent most courses while reading the catalog needs few).
    """
    extract = extract.drop_duplicates("external_id", keep="last").reset_index(drop=True)
    extract["matches"] = filter_mask(extract["filter_lang"], extract["filter_type"], filters).to_numpy()
    if not spec.archive_on_provider_status:
        extract["provider_status"] = "keep"

    state = state.rename(columns={"payload_hash": "state_hash", "tags": "state_tags", "skills": "state_skills"})
    state_cols = ["external_id", "course_id", "status", "archived_reason", "state_hash", "state_tags", "state_skills"]
    for col in state_cols:
        if col not in state.columns:
            state[col] = pd.Series(dtype=object)
    merged = extract.merge(state[state_cols], on="external_id", how="outer", indicator=True)

    facts = CourseFacts.of(merged, spec, complete)
    conditions = [d.condition(facts) for d in CATALOG_DECISIONS]
    merged["outcome"] = np.select(conditions, [d.outcome for d in CATALOG_DECISIONS], default="unchanged").astype(object)
    merged["reason"] = np.select(conditions, [d.reason for d in CATALOG_DECISIONS], default="").astype(object)
    in_extract, active, keep = facts.in_extract, facts.active, facts.keep
    # Tags are merged into the course: only tags we never set call for a tags-only change.
    # Only courses that carry tags can miss one (most catalogs sync none: no per-row work then).
    carries_tags = np.fromiter((isinstance(t, list) and bool(t) for t in merged["tags"]), dtype=bool, count=len(merged))
    tagged = np.flatnonzero((merged["outcome"] == "unchanged").to_numpy(bool) & active & carries_tags)
    missing_tags = np.zeros(len(merged), dtype=bool)
    for i in tagged:
        stored = merged["state_tags"].iat[i]
        missing_tags[i] = bool(set(merged["tags"].iat[i]) - set(stored if isinstance(stored, list) else []))
    merged.loc[missing_tags, "outcome"] = "retag"
    ignored_reason = np.where(keep, "filtered out, never synced", "closed at provider, never synced")
    merged.loc[merged["outcome"] == "ignored", "reason"] = ignored_reason[(merged["outcome"] == "ignored").to_numpy()]
    merged["archived_reason"] = np.where(merged["outcome"] == "archived", merged["reason"], merged["archived_reason"])

    send = merged["outcome"].isin(["created", "updated", "restored"]).to_numpy() & payloads
    built = np.full(len(merged), None, dtype=object)
    if send.any():
        built[send] = build_payloads(merged.loc[send], prefix=FIELD_PREFIX)
    merged["payload"] = built
    plan = CatalogPlan(items=merged.drop(columns=["_merge"]))
    # The guard compares extract sizes: provider-closed courses still appear in the extract.
    to_archive = int(((merged["outcome"] == "archived") & (merged["reason"] == "missing")).sum())
    try:
        check_archive_guard(
            spec, kept=int(in_extract.sum()), active_before=int(active.sum()), to_archive=to_archive,
            ratio=guard_ratio, force=force, what="the extract keeps",
        )
    except ArchiveGuardError:
        plan.guard_tripped = True
        raise
    counts = merged["outcome"].replace({"retag": "updated"}).value_counts().to_dict()
    counts.pop("absent", None)
    plan.counts = {k: int(v) for k, v in counts.items()}
    return plan


def with_payloads(items: pd.DataFrame) -> pd.DataFrame:
    """Plan rows with their v2 payloads built (from the "f:" columns) where still missing."""
    if not len(items) or ("payload" in items.columns and items["payload"].notna().all()):
        return items
    return items.assign(payload=build_payloads(items, prefix=FIELD_PREFIX))
