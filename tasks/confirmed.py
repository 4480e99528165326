"""What 360Learning confirmed, as state rows: the one place they are built.

Every path that writes course or attempt state (a run's own bulk jobs, the jobs a killed run
left unconfirmed, restores, filter changes, tags) goes through these functions, so a row is the
same whichever path confirmed it. A bulk job's journal entry (`journal_item`) holds everything
its state row needs: the next run can finish a killed run's job without its plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


def _plain(value: Any) -> Any:
    """A value as JSON can keep it (a journal entry is stored as JSON)."""
    if value is None or isinstance(value, (str, bool, int, float, list, dict)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def upsert_journal_items(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Journal entries of planned course upserts (plan rows with payloads), by external id."""
    extras = rows["extra"] if "extra" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    lang = rows["filter_lang"] if "filter_lang" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    ctype = rows["filter_type"] if "filter_type" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    known = rows["course_id"] if "course_id" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    out: dict[str, dict[str, Any]] = {}
    for ext, outcome, digest, payload, extra, fl, ft, cid in zip(
        rows["external_id"], rows["outcome"], rows["payload_hash"], rows["payload"], extras, lang, ctype, known
    ):
        out[str(ext)] = {
            "key": str(ext),
            "outcome": outcome,
            "payload_hash": digest,
            "payload": payload,
            # The values filters compare with travel in `extra` (flows/lifecycle.py reads them).
            "extra": {**(extra if isinstance(extra, dict) else {}), "filter_lang": _plain(fl), "filter_type": _plain(ft)},
            "course_id": cid if isinstance(cid, str) else None,
        }
    return out


def archive_journal_item(external_id: str, reason: str | None) -> dict[str, Any]:
    return {"key": str(external_id), "reason": reason}


def course_row(operation: str, item: dict[str, Any], resource_id: str | None) -> dict[str, Any]:
    """The state row of one course item 360Learning confirmed (`operation` upsert or archive)."""
    if operation == "archive":
        return {"external_id": item["key"], "status": "archived", "archived_reason": item.get("reason"), "action": "archived"}
    outcome = item.get("outcome")
    row = {
        "external_id": item["key"],
        "course_id": resource_id or item.get("course_id"),
        # A restored course stays archived until its unarchive call succeeds (the next plan redoes it).
        "status": "archived" if outcome == "restored" else "active",
        "payload_hash": item.get("payload_hash"),
        "action": "created" if outcome == "created" else "updated",
    }
    # An entry journaled before payloads were kept leaves the stored payload and extra as they are.
    for column in ("payload", "extra"):
        if item.get(column) is not None:
            row[column] = item[column]
    return row


def restored_row(external_id: str, course_id: str | None) -> dict[str, Any]:
    return {"external_id": external_id, "course_id": course_id, "status": "active", "archived_reason": None, "action": "restored"}


def archived_row(external_id: str, reason: str | None) -> dict[str, Any]:
    return course_row("archive", archive_journal_item(external_id, reason), None)


def tags_row(external_id: str, tags: list[str] | None = None, skills: list[str] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"external_id": external_id, "action": "tags"}
    if tags is not None:
        row["tags"] = tags
    if skills is not None:
        row["skills"] = skills
    return row


def _journal_instants(first: pd.Series) -> list[str]:
    """`%Y-%m-%dT%H:%M:%S.%f%z` of each instant (vectorised for UTC, the plan's own zone)."""
    if isinstance(first.dtype, pd.DatetimeTZDtype) and str(first.dt.tz) == "UTC" and not first.isna().any():
        text = np.datetime_as_string(first.dt.tz_localize(None).to_numpy(dtype="datetime64[us]"), unit="us")
        return (text.astype(object) + "+0000").tolist()
    return first.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z").tolist()


def stat_journal_items(items: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Journal entries of planned stat items (tasks/stats_rules.py plan rows), by item key."""
    first_iso = _journal_instants(items["first"])

    def values(column: str, kind: str | None = None) -> list[Any]:
        """Plain Python values (text, int, bool), not numpy scalars or Arrow cells."""
        series = items[column]
        return series.astype(kind).tolist() if kind else series.to_numpy(dtype=object).tolist()

    # progress, time spent and last activity too: a job that never ends can be sent again from it.
    return {
        key: {
            "key": key, "course_external_id": c, "user_email": u, "first_activity_at": f,
            "attempt_no": a, "completed": done, "payload_hash": h,
            "progress": p, "time_spent_ms": t, "last_activity_at": str(last),
        }
        for key, c, u, f, a, done, h, p, t, last in zip(
            values("key"), values("course_external_id"), values("user_email"), first_iso, values("attempt_no", "int64"),
            values("completed", "bool"), values("payload_hash"), values("progress", "int64"), values("timeSpent", "int64"),
            values("lastActivityAt"),
        )
    }


def parked_from_journal(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Mapped activity rows (statestore PARKED_COLUMNS) rebuilt from stat journal entries."""
    entries = [i for i in items if i.get("last_activity_at") is not None]
    last = pd.to_datetime(pd.Series([i["last_activity_at"] for i in entries], dtype=object), utc=True, errors="coerce")
    return pd.DataFrame(
        {
            "course_external_id": [i["course_external_id"] for i in entries],
            "user_email": [i["user_email"] for i in entries],
            "progress": [i.get("progress") for i in entries],
            "time_spent_ms": [i.get("time_spent_ms") for i in entries],
            "first_activity_at": pd.to_datetime(pd.Series([i["first_activity_at"] for i in entries], dtype=object), utc=True, errors="coerce"),
            "last_activity_at": last,
            # a completion is progress 100 with the completion date as last activity
            "completed_at": last.where(pd.Series([bool(i.get("completed")) for i in entries], dtype=bool)),
        }
    )


def stat_row(item: dict[str, Any]) -> dict[str, Any]:
    """The state row of one stat item 360Learning confirmed."""
    row = {k: item[k] for k in ("course_external_id", "user_email", "attempt_no", "completed", "payload_hash")}
    row["first_activity_at"] = pd.Timestamp(item["first_activity_at"]).to_pydatetime()
    return row


def apply_course_rows(store: Any, integration_pk: int, rows: Iterable[dict[str, Any]], now: Any) -> int:
    rows = list(rows)
    return store.apply_course_results(integration_pk, rows, now) if rows else 0
