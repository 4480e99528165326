"""Turn mapped learner activity into 360Learning v2 stat items, attempt-safe.

The v2 rules every provider shares (decisions.md #2, #4; 360learning-v2.md §5):
- completion is progress 100 with lastActivityAt = the completion date;
- firstActivityAt falls back to the last activity date, and stays stable across syncs of an
  open attempt (a moved firstActivityAt would open a new attempt in 360Learning);
- time spent is sent on the first recorded attempt only (later attempts get the 1 ms minimum);
- timeSpent >= 1; rows identical to what was last confirmed are not resent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

ISO_MS = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass
class StatsPlan:
    items: pd.DataFrame  # key columns + attempt_no, completed, payload_hash, and the v2 fields
    unchanged: int
    quarantine: pd.DataFrame  # external_id, field, reason


def _iso(series: pd.Series) -> pd.Series:
    return series.dt.strftime(ISO_MS).str.slice(0, 23) + "Z"


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, errors="coerce")


def plan_stats(stats: pd.DataFrame, attempts: pd.DataFrame) -> StatsPlan:
    """Vectorised: mapped STAT_COLUMNS rows + stored attempts -> items to send."""
    df = stats.copy()
    for col in ("first_activity_at", "last_activity_at", "completed_at"):
        df[col] = _utc(df[col]) if col in df.columns else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    df = df.drop_duplicates(["course_external_id", "user_email"], keep="last").reset_index(drop=True)

    completed = df["completed_at"].notna()
    last = df["completed_at"].where(completed, df["last_activity_at"])
    last = last.fillna(df["first_activity_at"])
    first = df["first_activity_at"].fillna(last)
    no_date = first.isna()
    quarantine = pd.DataFrame(
        {
            "external_id": df.loc[no_date, "course_external_id"].astype(str) + "|row" + df.index[no_date].astype(str),
            "field": "firstActivityAt",
            "reason": "no activity date at all (first, last or completion)",
        }
    )
    df = df.assign(first=first, last=last, completed=completed)[~no_date].reset_index(drop=True)
    # A first activity after the last one is a provider glitch: keep the timeline ordered.
    df["first"] = df[["first", "last"]].min(axis=1)
    df["progress"] = np.where(df["completed"], 100, pd.to_numeric(df["progress"], errors="coerce").fillna(0)).clip(0, 100).round().astype(int)

    # Attempt stability: reuse the first activity of the open attempt for this course+user.
    att = attempts.copy()
    if att.empty:
        att = pd.DataFrame(columns=["course_external_id", "user_email", "first_activity_at", "attempt_no", "completed", "payload_hash"])
    att["first_activity_at"] = _utc(att["first_activity_at"])
    att["attempt_no"] = pd.to_numeric(att["attempt_no"]).astype("Int64")
    per_pair = att.groupby(["course_external_id", "user_email"], as_index=False).agg(max_attempt=("attempt_no", "max"))
    open_att = (
        att[~att["completed"].astype(bool)]
        .sort_values("first_activity_at")
        .drop_duplicates(["course_external_id", "user_email"], keep="last")
        [["course_external_id", "user_email", "first_activity_at", "attempt_no"]]
        .rename(columns={"first_activity_at": "open_first", "attempt_no": "open_no"})
    )
    df = df.merge(per_pair, on=["course_external_id", "user_email"], how="left").merge(
        open_att, on=["course_external_id", "user_email"], how="left"
    )
    has_open = df["open_first"].notna()
    df["first"] = df["first"].where(~has_open, df["open_first"])
    df["last"] = df[["first", "last"]].max(axis=1)
    known = att[["course_external_id", "user_email", "first_activity_at", "attempt_no", "payload_hash"]].rename(
        columns={"first_activity_at": "first", "attempt_no": "known_no", "payload_hash": "known_hash"}
    )
    df = df.merge(known, on=["course_external_id", "user_email", "first"], how="left")
    next_no = df["max_attempt"].fillna(0).astype(int) + 1
    df["attempt_no"] = df["known_no"].fillna(df["open_no"]).fillna(next_no).astype(int)
    df["existing"] = df["known_no"].notna().to_numpy(bool) | has_open.to_numpy(bool)

    spent = pd.to_numeric(df.get("time_spent_ms"), errors="coerce").fillna(0).clip(lower=0).round()
    df["timeSpent"] = np.where(df["attempt_no"] == 1, np.maximum(spent, 1), 1).astype("int64")
    df["firstActivityAt"] = _iso(df["first"])
    df["lastActivityAt"] = _iso(df["last"])
    sig = (
        df["course_external_id"].astype(str) + "|" + df["user_email"].astype(str) + "|" + df["progress"].astype(str)
        + "|" + df["timeSpent"].astype(str) + "|" + df["firstActivityAt"] + "|" + df["lastActivityAt"]
    )
    df["payload_hash"] = [hashlib.sha1(s.encode()).hexdigest()[:24] for s in sig]
    unchanged_mask = (df["payload_hash"] == df["known_hash"]).to_numpy(bool)
    items = df.loc[
        ~unchanged_mask,
        ["course_external_id", "user_email", "first", "attempt_no", "existing", "completed", "payload_hash",
         "progress", "timeSpent", "firstActivityAt", "lastActivityAt"],
    ].reset_index(drop=True)
    return StatsPlan(items=items, unchanged=int(unchanged_mask.sum()), quarantine=quarantine)


def stat_payloads(items: pd.DataFrame) -> list[dict]:
    """v2 ImportExternalStatisticsDTO dicts for the planned items."""
    return [
        {
            "courseIdentifier": {"type": "externalId", "value": c},
            "userIdentifier": {"type": "mail", "value": u},
            "progress": int(p),
            "timeSpent": int(t),
            "firstActivityAt": f,
            "lastActivityAt": l,
        }
        for c, u, p, t, f, l in zip(
            items["course_external_id"], items["user_email"], items["progress"], items["timeSpent"],
            items["firstActivityAt"], items["lastActivityAt"],
        )
    ]
