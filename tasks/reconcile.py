"""Drift between the state store and what 360Learning holds for an integration (pure).

The state store is a cache of what 360Learning confirmed. Someone may since have deleted,
archived, restored or edited a course in 360Learning: `find_drift` compares, course by course,
the state (status, course id, the payload last confirmed) with what 360Learning answers (the
external-course get and the course list), and says what differs and how to repair it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# kind -> the repair the normal confirmed path applies
DRIFT_KINDS = {
    "missing": "re-create",  # synced and active in state, gone from 360Learning
    "archived_elsewhere": "restore",  # active in state, archived in 360Learning by someone else
    "published_elsewhere": "archive",  # archived in state, published again in 360Learning
    "edited": "re-send",  # fields in 360Learning differ from the payload last confirmed
    "unknown": "report",  # in 360Learning under the integration's name, unknown to state
}
DRIFT_COLUMNS = ("external_id", "course_id", "kind", "detail")


@dataclass
class Remote:
    """What 360Learning holds: per externalId its external-course view (None = not in the
    integration), and the course list's status per course id."""

    external: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)


def _normal(value: Any) -> Any:
    """Absent and null are the same; 30.0 and 30 are the same number."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_normal(value), sort_keys=True, default=str)


def edited_fields(payload: dict[str, Any], remote: dict[str, Any]) -> list[str]:
    """Fields of the confirmed payload that 360Learning now holds with another value."""
    return sorted(k for k, v in payload.items() if k != "externalId" and _canonical(remote.get(k)) != _canonical(v))


def find_drift(state: pd.DataFrame, payloads: dict[str, Any], remote: Remote) -> pd.DataFrame:
    """One row per difference (DRIFT_COLUMNS); courses that agree give no row.

    `state`: the store's courses (external_id, course_id, status). A state row without a
    course id was never confirmed by 360Learning and is left to the content sync.
    """
    rows: list[dict[str, Any]] = []
    known_ids: set[str] = set()
    for ext, cid, status in state[["external_id", "course_id", "status"]].itertuples(index=False):
        if not isinstance(cid, str) or not cid:
            continue
        ext = str(ext)
        view = remote.external.get(ext)
        current_id = str(view.get("courseId")) if view else None
        known_ids.update(i for i in (cid, current_id) if i)
        there = remote.status.get(current_id or cid)
        if view is None or there in (None, "deleted"):
            if status == "active":
                rows.append({"external_id": ext, "course_id": cid, "kind": "missing", "detail": "not in 360Learning any more"})
            continue
        if status == "active" and there == "archived":
            rows.append({"external_id": ext, "course_id": current_id, "kind": "archived_elsewhere", "detail": "archived in 360Learning"})
        elif status == "archived" and there == "published":
            rows.append({"external_id": ext, "course_id": current_id, "kind": "published_elsewhere", "detail": "published in 360Learning"})
        payload = payloads.get(ext)
        if status == "active" and isinstance(payload, dict):
            changed = edited_fields(payload, view)
            if changed:
                rows.append({"external_id": ext, "course_id": current_id, "kind": "edited", "detail": "edited: " + ", ".join(changed)})
    for cid, there in sorted(remote.status.items()):
        if cid not in known_ids and there != "deleted":
            rows.append({"external_id": None, "course_id": cid, "kind": "unknown", "detail": f"{there} in 360Learning, unknown to state"})
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
