"""Planned stat items pushed as bulk jobs while later chunks are read, mapped and planned.

A statistics sync is bound by 360Learning's bulk jobs (10,000 items each, 3 at a time): planned
items are queued, a job leaves as soon as a job's worth is queued, and up to `max_open` jobs are
in the air (360Learning runs 3; one more is being prepared while they run). Each job is
journaled when 360Learning accepts it and confirmed on its own: its confirmed attempts are
written to state the moment it ends (confirm-then-write, job by job), then what it did not take
is parked (tasks/parked_stats.py).

Attempt safety: planning a chunk reads the stored attempts of its (course, learner) pairs. A
pair still travelling in a job that has not been confirmed yet would be planned against stale
state (and could open a second attempt), so `settle(keys)` first waits for the jobs holding any
of the chunk's pairs; chunks whose pairs are all new (the common case) never wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from learnsync.tasks.bulk_jobs import JobRecorder, confirm_jobs, item_key, resolve_pending_jobs, result_fields
from learnsync.tasks.confirmed import stat_journal_items
from learnsync.tasks.item_errors import is_permanent, is_unknown_learner
from learnsync.tasks.report import RunReport
from learnsync.tasks.stats_rules import stat_payloads

ATTEMPT_FRAME = ["course_external_id", "user_email", "first", "attempt_no", "completed", "payload_hash"]


def pair_keys(frame: pd.DataFrame) -> pd.Series:
    """`course|learner` of each row: the key a stat item is journaled and correlated by."""
    return frame["course_external_id"].astype(str) + "|" + frame["user_email"].astype(str)


@dataclass
class StatsDelivery:
    """What 360Learning did with stat items, by (course external id, learner e-mail)."""

    delivered: set[tuple[str, str]] = field(default_factory=set)
    undelivered: dict[tuple[str, str], str] = field(default_factory=dict)  # may succeed later: kept
    rejected: dict[tuple[str, str], str] = field(default_factory=dict)  # for good (learner unknown...)

    def merge(self, other: StatsDelivery) -> None:
        self.delivered |= other.delivered
        self.undelivered.update(other.undelivered)
        self.rejected.update(other.rejected)


@dataclass
class StatsJob:
    """One bulk job's worth of planned items, with the mapped rows they were planned from."""

    number: int
    items: pd.DataFrame  # tasks/stats_rules.py plan rows + "key"
    sources: list[pd.DataFrame]  # mapped activity rows of the chunks the items come from (parking)
    keys: frozenset[str]
    operation: str | None = None  # 360Learning's bulk operation id, once accepted
    operations: list[str] = field(default_factory=list)  # every accepted id (a job refused as too large is split)
    ok: np.ndarray | None = None  # per item: confirmed by 360Learning
    outcomes: list[dict[str, Any]] | None = None  # per-item outcomes, until recorded

    def rows_of(self, pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
        """The mapped rows these items were planned from, for these pairs (the last row per pair)."""
        from learnsync.tasks.parked_stats import rows_of_pairs

        wanted = set(pairs)
        source = pd.concat(self.sources, ignore_index=True) if len(self.sources) > 1 else self.sources[0]
        return rows_of_pairs(source, wanted)


def _now() -> datetime:
    return datetime.now(UTC)


async def submit_stats_job(
    lms: Any, store: Any, integration: dict, run_pk: int | None, job: StatsJob, on_accepted: Callable[[str], None] | None = None,
) -> list[Any]:
    """Journal and send one job; its per-item results, in item order, once it has ended."""
    journal = stat_journal_items(job.items)
    recorder = JobRecorder(store, integration["id"], run_pk, "stats", lambda it: journal[item_key("stats", it)])

    async def accepted(operation: str, batch: list[dict]) -> None:
        await recorder(operation, batch)
        job.operation = operation
        if on_accepted is not None:
            on_accepted(operation)

    results = await lms.import_stats(integration["integration_id"], stat_payloads(job.items), on_submitted=accepted, wire_ready=True)
    job.operations = recorder.operations
    return results


def apply_stats_results(
    store: Any, integration: dict, run_pk: int | None, job: StatsJob, results: list[Any], report: RunReport,
    *, delivered: bool = False,
) -> StatsDelivery:
    """Write the attempts 360Learning confirmed, count each item's outcome (`judge_stats_results`)."""
    delivery, confirmed = judge_stats_results(job, results, report, delivered=delivered)
    store.apply_stat_frame(integration["id"], confirmed, _now())
    return delivery


def judge_stats_results(
    job: StatsJob, results: list[Any], report: RunReport, *, delivered: bool = False,
) -> tuple[StatsDelivery, pd.DataFrame]:
    """What 360Learning did with each item: counted in the report, kept as the job's outcomes;
    returns the delivery and the confirmed attempts the state store is to keep.

    `delivered`: also list the delivered pairs (callers that unpark or resend need them).
    """
    items = job.items
    keys = items["key"].to_numpy(dtype=object)
    fields = [result_fields(r) for r in results]
    if len(fields) != len(items):  # never expected (results come back in item order): match by key
        by_key = {item_key("stats", f[3]): f for f in fields}
        fields = [by_key.get(k, (False, None, "no result returned", {})) for k in keys]
    ok = np.fromiter((f[0] for f in fields), dtype=bool, count=len(fields))
    job.ok = ok
    delivery = StatsDelivery()
    outcomes: list[dict[str, Any]] = []
    courses = items["course_external_id"].to_numpy(dtype=object)
    emails = items["user_email"].to_numpy(dtype=object)
    for i in np.flatnonzero(~ok):
        message = fields[i][2]
        reason = message or "rejected by 360Learning"
        pair = (str(courses[i]), str(emails[i]))
        if is_permanent(message):
            # A learner without a 360Learning account is expected (the same e-mail on both sides is
            # the matching rule): reported as ignored, not as an error.
            outcome = "ignored" if is_unknown_learner(message) else "failed"
            delivery.rejected[pair] = reason
        else:
            outcome = "failed"
            delivery.undelivered[pair] = reason
        report.add(outcome)
        report.error(str(keys[i]), outcome, reason)
        outcomes.append({"kind": "stat", "external_id": keys[i], "outcome": outcome, "reason": message})
    confirmed = items.loc[ok, ATTEMPT_FRAME].rename(columns={"first": "first_activity_at"})
    existing = items["existing"].to_numpy(dtype=bool)
    report.add("updated", int((ok & existing).sum()))
    report.add("created", int((ok & ~existing).sum()))
    outcomes.extend(
        {"kind": "stat", "external_id": k, "outcome": "updated" if e else "created"} for k, e in zip(keys[ok], existing[ok])
    )
    if delivered:
        delivery.delivered = set(zip(courses[ok].astype(str), emails[ok].astype(str)))
    job.outcomes = outcomes
    return delivery, confirmed


async def confirm_stats_job(store: Any, lms: Any, run_pk: int | None, job: StatsJob, *, offload: bool = False) -> None:
    """Mark the job's journal entries confirmed, then record its items' outcomes (`offload`: the
    outcomes' write in a worker thread, off the event loop)."""
    await confirm_jobs(store, lms, job.operations)
    outcomes, job.outcomes = job.outcomes, None
    if run_pk is not None and outcomes:
        if offload:
            await asyncio.to_thread(store.add_outcomes, run_pk, outcomes)
        else:
            store.add_outcomes(run_pk, outcomes)


JobRunner = Callable[[StatsJob], Awaitable[StatsDelivery]]


def bulk_slots(lms: Any) -> int:
    """Jobs open at once: the platform's concurrent bulk jobs, plus one being prepared."""
    settings = getattr(lms, "settings", None)
    return max(1, int(getattr(settings, "max_concurrent_bulk", 3))) + 1


def plain_job_runner(
    lms: Any, store: Any, integration: dict, run_pk: int | None, report: RunReport,
    settle: Callable[[StatsJob, StatsDelivery], None] | None = None,
) -> JobRunner:
    """Send, confirm and (with `settle`) settle one job, outside any Prefect task."""

    async def run(job: StatsJob) -> StatsDelivery:
        results = await submit_stats_job(lms, store, integration, run_pk, job)
        delivery = apply_stats_results(store, integration, run_pk, job, results, report, delivered=True)
        await confirm_stats_job(store, lms, run_pk, job)
        if settle is not None:
            settle(job, delivery)
        return delivery

    return run


class StatsPusher:
    """Queue planned items; full jobs leave at once, at most `max_open` are open at a time.

    `run_job` sends one job and confirms it (state written, outcomes recorded, parking settled);
    the flow gives it as Prefect tasks. A job that fails stops the pusher: the jobs still open
    end and are recorded, then what 360Learning confirmed of any job is resolved, then the
    first failure is raised.
    """

    def __init__(
        self, run_job: JobRunner, *, lms: Any, store: Any, integration: dict, report: RunReport,
        batch_size: int, max_open: int, collect: bool = False,
    ) -> None:
        self._run_job, self._lms, self._store, self._integration, self._report = run_job, lms, store, integration, report
        self._batch = max(1, int(batch_size))
        self._max_open = max(1, int(max_open))
        self._items: list[pd.DataFrame] = []
        self._sources: list[pd.DataFrame] = []
        self._buffered = 0
        self._open: dict[asyncio.Future[StatsDelivery], StatsJob] = {}
        self._failures: list[BaseException] = []
        self._collect = collect
        self.delivery = StatsDelivery()  # every job's, when `collect`
        self.jobs = 0  # jobs started
        self.queued = 0  # items queued
        self.done = 0  # items of ended jobs

    async def add(self, items: pd.DataFrame, source: pd.DataFrame) -> None:
        """Queue plan rows (with "key") planned from `source` (mapped rows); full jobs leave now."""
        self._raise_if_failed()
        if not len(items):
            return
        self._items.append(items)
        self._sources.append(source)
        self._buffered += len(items)
        self.queued += len(items)
        while self._buffered >= self._batch:
            await self._launch(self._take(self._batch))

    async def settle(self, keys: set[str]) -> None:
        """Return once no job that is not confirmed yet holds one of these pair keys."""
        if any(not keys.isdisjoint(part["key"]) for part in self._items):
            await self._launch(self._take(self._buffered))
        while True:
            waiting = [task for task, job in self._open.items() if not job.keys.isdisjoint(keys)]
            if not waiting:
                break
            await asyncio.wait(waiting)
            self._reap()
        self._raise_if_failed()

    async def finish(self) -> None:
        """Send what is queued and wait for every job; re-raise the first failure after
        resolving what 360Learning confirmed."""
        if self._buffered and not self._failures:
            await self._launch(self._take(self._buffered))
        await self._drain()
        if self._failures:
            try:
                await resolve_pending_jobs(self._lms, self._store, self._integration, self._report)
            except Exception:  # the original failure is the one to report; the next run retries
                pass
            raise self._failures[0]

    async def abort(self) -> None:
        """The run is failing: drop the queue, let open jobs end and record them."""
        self._items, self._sources, self._buffered = [], [], 0
        await self._drain()
        try:
            await resolve_pending_jobs(self._lms, self._store, self._integration, self._report)
        except Exception:  # the run's own failure is the one to report
            pass

    # --- jobs ------------------------------------------------------------------------------------

    def _take(self, n: int) -> StatsJob:
        items = pd.concat(self._items, ignore_index=True) if len(self._items) > 1 else self._items[0].reset_index(drop=True)
        head, rest = items.iloc[:n].reset_index(drop=True), items.iloc[n:]
        sources = list(self._sources)
        self._items = [rest] if len(rest) else []
        self._sources = [self._sources[-1]] if len(rest) else []
        self._buffered = len(rest)
        self.jobs += 1
        return StatsJob(number=self.jobs, items=head, sources=sources, keys=frozenset(head["key"].tolist()))

    async def _launch(self, job: StatsJob) -> None:
        while len(self._open) >= self._max_open:
            await asyncio.wait(self._open, return_when=asyncio.FIRST_COMPLETED)
            self._reap()
        self._raise_if_failed()
        self._open[asyncio.ensure_future(self._run_job(job))] = job

    def _reap(self) -> None:
        for task in [t for t in self._open if t.done()]:
            job = self._open.pop(task)
            self.done += len(job.items)
            if task.cancelled():
                self._failures.append(asyncio.CancelledError(f"stats bulk job {job.number} cancelled"))
            elif task.exception() is not None:
                self._failures.append(task.exception())  # type: ignore[arg-type]
            elif self._collect:
                self.delivery.merge(task.result())

    async def _drain(self) -> None:
        if self._open:
            await asyncio.wait(self._open)
        self._reap()

    def _raise_if_failed(self) -> None:
        if self._failures:
            raise self._failures[0]


async def push_stats_plan(
    plan_items: pd.DataFrame, source: pd.DataFrame, run_job: JobRunner, *, lms: Any, store: Any, integration: dict,
    report: RunReport, batch_size: int, max_open: int,
) -> StatsDelivery:
    """Push a whole plan and wait for it: every job's delivery, merged."""
    pusher = StatsPusher(
        run_job, lms=lms, store=store, integration=integration, report=report, batch_size=batch_size, max_open=max_open, collect=True,
    )
    items = plan_items.assign(key=pair_keys(plan_items).to_numpy(dtype=object))
    try:
        await pusher.add(items, source)
    except BaseException:
        await pusher.abort()
        raise
    await pusher.finish()
    return pusher.delivery
