"""Saved filters: which values are real, what a filter change archives, and the guard on it.

A filter value no course has (a typo, or `en' OR '1'='1`) would archive every course at once:
values are checked against the values the provider uses (the ones the synced courses carry,
and the provider's own vocabulary) before anything is saved or archived, and a filter change
goes through the same mass-archive guard as a catalog sync.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from learnsync.providers.base import ProviderSpec
from learnsync.tasks.diff import check_archive_guard, filter_mask

FILTER_COLUMNS = {"languages": "filter_lang", "content_types": "filter_type"}


class FilterValueError(ValueError):
    """A filter value the provider does not use (the message names it and lists known ones)."""


def validate_filters(
    spec: ProviderSpec, filters: Mapping[str, list[str]], seen: pd.DataFrame, *, vocabulary: Mapping[str, Callable[[str], bool]] | None = None
) -> dict[str, list[str]]:
    """The filters with blank values dropped, or FilterValueError naming each unknown value.

    `seen`: the stored filter values of the synced courses (`filter_lang`, `filter_type`).
    A value is known when a synced course carries it or the provider's vocabulary accepts it.
    """
    unknown_filters = set(filters) - set(spec.supports_filters)
    if unknown_filters:
        raise FilterValueError(
            f"{spec.display_name} has no filter {', '.join(sorted(unknown_filters))}; "
            f"it supports {', '.join(spec.supports_filters) or 'none'}"
        )
    checks = dict(spec.filter_vocabulary if vocabulary is None else vocabulary)
    clean: dict[str, list[str]] = {}
    problems = []
    for name, values in filters.items():
        column = FILTER_COLUMNS[name]
        carried = sorted({str(v) for v in seen.get(column, pd.Series(dtype=object)).dropna()}, key=str.lower)
        carried_lower = {v.lower() for v in carried}
        accepts = checks.get(name)
        kept = [str(v).strip() for v in values if str(v).strip()]
        bad = [v for v in kept if v.lower() not in carried_lower and not (accepts is not None and accepts(v))]
        if bad:
            known = ", ".join(carried[:30]) or "none yet (no course synced)"
            problems.append(
                f"unknown {name.replace('_', ' ')} value {', '.join(repr(v) for v in bad)} for {spec.display_name} "
                f"(values of the synced courses: {known})"
            )
        clean[name] = kept
    if problems:
        raise FilterValueError("; ".join(problems) + ". Nothing was saved or archived.")
    return clean


def plan_filter_change(
    state: pd.DataFrame, extras: pd.DataFrame, spec: ProviderSpec, filters: dict[str, list[str]] | None,
    *, guard_ratio: float = 0.5, force: bool = False,
) -> pd.DataFrame:
    """Apply a saved filter to state at once: archive what no longer matches; restore per provider rule.

    `extras` has external_id, filter_lang, filter_type (as stored at the last sync).
    Returns external_id, outcome ("archived"|"restored"), course_id. Raises ArchiveGuardError
    when the change would leave fewer than `guard_ratio` of the active courses (unless `force`).
    """
    merged = state.merge(extras, on="external_id", how="left")
    matches = filter_mask(merged["filter_lang"], merged["filter_type"], filters).to_numpy(bool)
    active = (merged["status"] == "active").to_numpy(bool)
    filter_archived = ((merged["status"] == "archived") & (merged["archived_reason"] == "filter")).to_numpy(bool)
    archive = active & ~matches
    restore = filter_archived & matches & bool(spec.filter_restores)
    check_archive_guard(
        spec, kept=int((active & matches).sum()), active_before=int(active.sum()), to_archive=int(archive.sum()),
        ratio=guard_ratio, force=force, what="the new filters match",
    )
    merged["outcome"] = ""
    merged.loc[archive, "outcome"] = "archived"
    merged.loc[restore, "outcome"] = "restored"
    return merged.loc[merged["outcome"] != "", ["external_id", "outcome", "course_id"]].reset_index(drop=True)
