"""Diff mapped provider data against the state store: what to create, update, archive, restore.

Pure functions (DataFrame in, DataFrame out); no I/O. The outcome vocabulary is the one
users know from 360Learning's native connectors plus unchanged/failed: created, updated,
unchanged, archived, restored, ignored (quarantined and failed are added by the loader).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from providers.base import COURSE_FIELDS, ProviderSpec


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


def build_payloads(courses: pd.DataFrame) -> list[dict[str, Any]]:
    """v2 ExternalCourse dicts: only documented fields, nulls dropped, numpy scalars unwrapped."""
    cols = [c for c in COURSE_FIELDS if c in courses.columns]
    records = courses[cols].astype(object).where(courses[cols].notna(), None).to_dict("records")
    out: list[dict[str, Any]] = []
    for rec in records:
        payload = {k: _clean(v) for k, v in rec.items() if v is not None}
        if "duration" in payload and payload["duration"] is not None:
            payload["duration"] = int(payload["duration"])
        out.append(payload)
    return out


def content_hash(payloads: list[dict[str, Any]], skills: list[Any], filter_values: list[Any] | None = None) -> list[str]:
    """Stable hash of what would be sent for each course (payload, skills) and of the values filters
    compare with, so a relabelled language refreshes the stored filter values. Tags are merged,
    never replaced, so they are compared as sets instead (see `plan_catalog`)."""
    hashes = []
    filter_values = filter_values or [None] * len(payloads)
    for payload, skill_list, fv in zip(payloads, skills, filter_values):
        doc = {"p": payload, "s": None if skill_list is None else sorted(skill_list), "f": fv}
        hashes.append(hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32])
    return hashes


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


def _filter_values(mapped: pd.DataFrame) -> list[Any]:
    lang = mapped.get("_filter_lang", pd.Series([None] * len(mapped)))
    ctype = mapped.get("_filter_type", pd.Series([None] * len(mapped)))
    return [[_clean(a), _clean(b)] for a, b in zip(lang.tolist(), ctype.tolist())]


def _as_list_column(series: pd.Series, default: Any) -> list[Any]:
    return [default if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in series.tolist()]


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
    mapped = mapped.drop_duplicates("externalId", keep="last").reset_index(drop=True)
    payloads = build_payloads(mapped)
    tags = _as_list_column(mapped.get("_tags", pd.Series([None] * len(mapped))), [])
    skills = _as_list_column(mapped.get("_skills", pd.Series([None] * len(mapped))), None)
    extract = pd.DataFrame(
        {
            "external_id": mapped["externalId"].astype(str),
            "payload": payloads,
            "payload_hash": content_hash(payloads, skills, _filter_values(mapped)),
            "tags": tags,
            "skills": skills,
            "extra": _as_list_column(mapped.get("_extra", pd.Series([None] * len(mapped))), {}),
            "provider_status": mapped.get("_status", pd.Series(["keep"] * len(mapped))).fillna("keep").to_numpy(),
            "filter_lang": mapped.get("_filter_lang", pd.Series([None] * len(mapped))).to_numpy(),
            "filter_type": mapped.get("_filter_type", pd.Series([None] * len(mapped))).to_numpy(),
        }
    )
    extract["matches"] = filter_mask(extract["filter_lang"], extract["filter_type"], filters).to_numpy()
    if not spec.archive_on_provider_status:
        extract["provider_status"] = "keep"

    state = state.rename(columns={"payload_hash": "state_hash", "tags": "state_tags", "skills": "state_skills"})
    state_cols = ["external_id", "course_id", "status", "archived_reason", "state_hash", "state_tags", "state_skills"]
    for col in state_cols:
        if col not in state.columns:
            state[col] = pd.Series(dtype=object)
    merged = extract.merge(state[state_cols], on="external_id", how="outer", indicator=True)

    in_extract = merged["_merge"].isin(["both", "left_only"]).to_numpy()
    in_state = merged["_merge"].isin(["both", "right_only"]).to_numpy()
    active = (merged["status"] == "active").fillna(False).to_numpy(bool)
    archived = (merged["status"] == "archived").fillna(False).to_numpy(bool)
    keep = (merged["provider_status"] == "keep").fillna(False).to_numpy(bool)
    matches = merged["matches"].fillna(False).to_numpy(bool)
    same = (merged["payload_hash"] == merged["state_hash"]).fillna(False).to_numpy(bool)
    reason = merged["archived_reason"].fillna("").to_numpy(str)
    wanted = in_extract & keep & matches
    # What deactivation archived comes back on reactivation, whatever the provider's rule.
    restorable = np.select(
        [reason == "filter", reason == "deactivated"], [bool(spec.filter_restores), True], default=bool(spec.restore_on_reappear)
    ).astype(bool)

    conditions = [
        wanted & ~in_state,
        wanted & active & same,
        wanted & active & ~same,
        wanted & archived & restorable,
        wanted & archived & ~restorable,
        in_extract & ~wanted & ~in_state,
        in_extract & ~keep & active,
        in_extract & keep & ~matches & active,
        in_extract & ~wanted & archived,
        ~in_extract & active & bool(spec.archive_missing and complete),
        ~in_extract & (archived | (active & (not (spec.archive_missing and complete)))),
    ]
    outcomes = [
        "created",
        "unchanged",
        "updated",
        "restored",
        "unchanged",
        "ignored",
        "archived",
        "archived",
        "unchanged",
        "archived",
        "absent",
    ]
    reasons = ["", "", "", "", "stays archived", "", "provider", "filter", "", "missing", ""]
    merged["outcome"] = np.select(conditions, outcomes, default="unchanged")
    # Tags are merged into the course: only tags we never set call for a tags-only change.
    missing_tags = [
        bool(set(t if isinstance(t, list) else []) - set(st if isinstance(st, list) else []))
        for t, st in zip(merged["tags"], merged["state_tags"])
    ]
    merged.loc[(merged["outcome"] == "unchanged") & active & np.array(missing_tags, dtype=bool), "outcome"] = "retag"
    merged["reason"] = np.select(conditions, reasons, default="")
    ignored_reason = np.where(keep, "filtered out, never synced", "closed at provider, never synced")
    merged.loc[merged["outcome"] == "ignored", "reason"] = ignored_reason[(merged["outcome"] == "ignored").to_numpy()]
    merged["archived_reason"] = np.where(merged["outcome"] == "archived", merged["reason"], merged["archived_reason"])

    plan = CatalogPlan(items=merged.drop(columns=["_merge"]))
    # The guard compares extract sizes: provider-closed courses still appear in the extract.
    to_archive = int(((merged["outcome"] == "archived") & (merged["reason"] == "missing")).sum())
    kept_now = int(in_extract.sum())
    active_before = int(active.sum())
    if (
        not force
        and active_before > 0
        and to_archive > 0
        and kept_now < guard_ratio * active_before
    ):
        plan.guard_tripped = True
        raise ArchiveGuardError(
            f"{spec.key}: the extract keeps {kept_now} courses where {active_before} are active "
            f"(under {guard_ratio:.0%}); refusing to archive {to_archive} courses. "
            "Check the provider, then rerun with --force to archive them."
        )
    counts = merged["outcome"].replace({"retag": "updated"}).value_counts().to_dict()
    counts.pop("absent", None)
    plan.counts = {k: int(v) for k, v in counts.items()}
    return plan


def plan_filter_change(
    state: pd.DataFrame, extras: pd.DataFrame, spec: ProviderSpec, filters: dict[str, list[str]] | None
) -> pd.DataFrame:
    """Apply a saved filter to state at once: archive what no longer matches; restore per provider rule.

    `extras` has external_id, filter_lang, filter_type (as stored at the last sync).
    Returns external_id, outcome ("archived"|"restored"), course_id.
    """
    merged = state.merge(extras, on="external_id", how="left")
    matches = filter_mask(merged["filter_lang"], merged["filter_type"], filters).to_numpy(bool)
    active = (merged["status"] == "active").to_numpy(bool)
    filter_archived = ((merged["status"] == "archived") & (merged["archived_reason"] == "filter")).to_numpy(bool)
    outcome = np.select(
        [active & ~matches, filter_archived & matches & spec.filter_restores], ["archived", "restored"], default=""
    )
    merged["outcome"] = outcome
    return merged.loc[merged["outcome"] != "", ["external_id", "outcome", "course_id"]].reset_index(drop=True)
