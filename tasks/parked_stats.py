"""Learner activity that could not be delivered yet is parked in the state store, never dropped.

A stats run parks the rows of courses 360Learning does not have yet (a catalog run failed, or
left the course out) and the items 360Learning did not take for a reason that may pass
(`internalError`, a job's missing result...). Every stats run first sends what is parked on
synced courses, oldest attempt first, then reads the provider: the watermark can move on and
nothing read is lost, however many runs the delivery takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from learnsync.tasks.load import push_stats
from learnsync.tasks.report import RunReport
from learnsync.tasks.stats_push import StatsDelivery, StatsJob
from learnsync.tasks.stats_rules import KEY, plan_stats

STAT_DATES = ("first_activity_at", "last_activity_at", "completed_at")


def attempt_at(stats: pd.DataFrame) -> pd.Series:
    """The instant an activity row's attempt is known by: first activity, else last, else completion."""
    dates = [pd.to_datetime(stats[c], utc=True, errors="coerce") if c in stats.columns else None for c in STAT_DATES]
    out = dates[0] if dates[0] is not None else pd.Series(pd.NaT, index=stats.index, dtype="datetime64[ns, UTC]")
    for more in dates[1:]:
        if more is not None:
            out = out.fillna(more)
    return out


def rows_of_pairs(stats: pd.DataFrame, pairs: set[tuple[str, str]] | dict[tuple[str, str], Any]) -> pd.DataFrame:
    """The rows a plan sent for these (course, learner) pairs (plan_stats keeps each pair's last row)."""
    if not pairs or not len(stats):
        return stats.iloc[0:0]
    last = stats.drop_duplicates(KEY, keep="last")
    index = pd.MultiIndex.from_arrays([last["course_external_id"].astype(str), last["user_email"].astype(str)])
    return last[index.isin(list(pairs))]


def settle_chunk(store: Any, integration_pk: int, stats: pd.DataFrame, delivery: StatsDelivery, report: RunReport, now: Any) -> None:
    """Park what 360Learning did not take; forget parked copies of attempts it has now taken."""
    if delivery.undelivered:
        _park_undelivered(store, integration_pk, rows_of_pairs(stats, delivery.undelivered), delivery, report, now)
    if delivery.delivered and store.has_parked_stats(integration_pk):
        sent = rows_of_pairs(stats, delivery.delivered)
        store.unpark_superseded(integration_pk, zip(sent["course_external_id"].astype(str), sent["user_email"].astype(str), attempt_at(sent)))


def settle_job(store: Any, integration_pk: int, job: StatsJob, delivery: StatsDelivery, report: RunReport, now: Any) -> None:
    """`settle_chunk` for one bulk job: costs one probe of the store when nothing is parked and
    every item was taken."""
    if delivery.undelivered:
        _park_undelivered(store, integration_pk, job.rows_of(delivery.undelivered), delivery, report, now)
    if job.ok is None or not job.ok.any() or not store.has_parked_stats(integration_pk):
        return
    taken = job.items.loc[job.ok]
    sent = job.rows_of(zip(taken["course_external_id"].astype(str), taken["user_email"].astype(str)))
    store.unpark_superseded(integration_pk, zip(sent["course_external_id"].astype(str), sent["user_email"].astype(str), attempt_at(sent)))


def _park_undelivered(store: Any, integration_pk: int, waiting: pd.DataFrame, delivery: StatsDelivery, report: RunReport, now: Any) -> None:
    messages = pd.Series(
        [delivery.undelivered.get((str(c), str(u)), "") for c, u in zip(waiting["course_external_id"], waiting["user_email"])],
        index=waiting.index,
    )
    for message, rows in waiting.groupby(messages):
        report.parked += store.park_stats(integration_pk, rows, "undelivered", str(message), now)


async def deliver_parked(
    lms: Any, store: Any, integration: dict, known: set[str] | None, report: RunReport, run_pk: int | None, attempts_for: Any
) -> None:
    """Send the parked rows of synced courses, oldest attempt of each learner and course first.

    Rows of one (course, learner) go in rounds: plan_stats sends one row per pair, and an older
    attempt sent after a newer one would overwrite it in 360Learning.
    """
    parked = store.parked_stats(integration["id"], courses=known)
    if not len(parked):
        return
    delivered = kept = 0
    parked = parked.assign(_round=parked.groupby(KEY).cumcount())
    for _, rows in parked.groupby("_round", sort=True):
        rows = rows.reset_index(drop=True)
        plan = plan_stats(rows, attempts_for(rows))
        delivery = await push_stats(plan, lms=lms, store=store, integration=integration, run_pk=run_pk, report=report)
        pairs = list(zip(rows["course_external_id"].astype(str), rows["user_email"].astype(str)))
        planned = set(zip(plan.items["course_external_id"].astype(str), plan.items["user_email"].astype(str)))
        # Rows the plan did not send are already in 360Learning (identical attempt) or can never
        # be sent (no date at all): either way nothing is left to deliver.
        done = np.array([p not in planned or p in delivery.delivered or p in delivery.rejected for p in pairs], dtype=bool)
        store.unpark_stats(rows.loc[done, "id"].tolist())
        delivered += int(done.sum())
        still = rows.loc[~done]
        for message, group in still.groupby(pd.Series([delivery.undelivered.get(p, "") for p, d in zip(pairs, done) if not d], index=still.index)):
            store.retry_parked_stats(group["id"].tolist(), str(message))
        kept += len(still)
        if len(plan.quarantine):
            report.add("quarantined", len(plan.quarantine))
            for ext, fld, reason in plan.quarantine[["external_id", "field", "reason"]].itertuples(index=False):
                report.error(str(ext), "quarantined", str(reason), str(fld))
    report.notes.append(
        f"{delivered} parked activity rows delivered or settled"
        + (f"; {kept} still not taken by 360Learning, kept for the next run" if kept else "")
    )
