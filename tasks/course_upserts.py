"""Course upserts sent as bulk jobs while the catalog is still being read.

A full sync is bound by 360Learning's bulk jobs (10,000 items each, 3 at a time), so a job
leaves as soon as a job's worth of courses is planned instead of after the whole catalog is
read. Each job is recorded in the state store when 360Learning accepts it, and its confirmed
results are written to state the moment it ends: a run killed later keeps what was confirmed,
and the next run resolves a job that was accepted but not yet applied.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from learnsync.tasks.bulk_jobs import JobRecorder, confirm_jobs, resolve_pending_jobs, result_fields
from learnsync.tasks.confirmed import course_row, upsert_journal_items
from learnsync.tasks.report import RunReport
from learnsync.tasks.run_graph import in_run_graph, name_running_task, stage_param

ProgressFn = Callable[[str, int, int], None]
SEND_OUTCOMES = ("created", "updated", "restored")


MIN_BALANCED_JOB = 2_000  # below this a job's fixed costs (submit, start, poll, results) outweigh its items


def balanced_batch(items: int, largest: int, slots: int, smallest: int = MIN_BALANCED_JOB) -> int:
    """The job size that spreads `items` over the bulk slots in full waves.

    360Learning runs `slots` jobs at a time, each of at most `largest` items, one item after the
    other: 50,000 courses as 5 jobs of 10,000 take two waves of 10,000 items (the second wave
    with a slot idle); as 6 jobs of 8,334, two waves of 8,334. Never below `smallest` items.
    """
    fewest = max(1, math.ceil(items / largest))
    jobs = max(fewest, min(math.ceil(fewest / slots) * slots, items // smallest))
    return largest if jobs == fewest else math.ceil(items / jobs)


class CourseUpserter:
    """Queue planned course upserts (plan item rows with their payload); full jobs leave at once."""

    def __init__(
        self,
        *,
        lms: Any,
        store: Any,
        integration: dict,
        run_pk: int | None,
        report: RunReport,
        outcomes: list[dict[str, Any]],
        now: datetime,
        progress: ProgressFn | None = None,
    ) -> None:
        self._lms, self._store, self._integration = lms, store, integration
        self._run_pk, self._report, self._outcomes, self._now = run_pk, report, outcomes, now
        self._progress = progress
        self._largest = self._batch = max(1, int(getattr(lms, "max_upsert_batch", 10_000)))
        self._slots = max(1, int(getattr(getattr(lms, "settings", None), "max_concurrent_bulk", 3)))
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._tasks: list[asyncio.Future[None]] = []
        self._sent_rows: list[pd.DataFrame] = []
        self.sent_hash: dict[str, str] = {}  # external id -> payload hash queued for sending
        self.confirmed: dict[str, str] = {}  # external id -> 360Learning course id, confirmed
        self.queued = 0
        self.done = 0
        self._jobs = 0

    # --- queueing ----------------------------------------------------------------------------

    def add(self, rows: pd.DataFrame) -> None:
        """Queue rows (outcome created/updated/restored); every full batch is submitted now."""
        if not len(rows):
            return
        self.sent_hash.update(zip(rows["external_id"], rows["payload_hash"]))
        self._buffer.append(rows)
        self._buffered += len(rows)
        self.queued += len(rows)
        while self._buffered >= self._batch:
            self._submit(self._take(self._batch))

    def expect(self, items: int) -> None:
        """About `items` courses may be sent in this run (the catalog's announced size): size the
        jobs to fill every bulk slot in each wave (tasks.course_upserts.balanced_batch)."""
        self._batch = balanced_batch(items, self._largest, self._slots)
        while self._buffered >= self._batch:
            self._submit(self._take(self._batch))

    def pending(self, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Split a plan's send rows into (not queued yet, queued with another payload).

        Rows queued with the same payload hash are already on their way and dropped.
        """
        queued = rows["external_id"].map(self.sent_hash)
        fresh = queued.isna().to_numpy()
        stale = ~fresh & (queued != rows["payload_hash"]).to_numpy()
        return rows[fresh], rows[stale]

    async def finish(self) -> None:
        """Submit what is buffered and wait for every job; re-raise the first failure after
        recording what 360Learning confirmed."""
        if self._buffered:
            self._submit(self._take(self._buffered))
        await self._settle()

    async def abort(self) -> None:
        """The run is failing: drop the buffer, let submitted jobs end and record them."""
        self._buffer, self._buffered = [], 0
        try:
            await self._settle()
        except Exception:  # the run's own failure is the one to report
            pass

    def sent_rows(self) -> pd.DataFrame:
        """Plan rows of the courses 360Learning confirmed (for tags, skills, restores)."""
        if not self._sent_rows:
            return pd.DataFrame(columns=["external_id", "outcome", "tags", "skills"])
        rows = pd.concat(self._sent_rows, ignore_index=True)
        return rows[rows["external_id"].isin(self.confirmed)]

    # --- jobs --------------------------------------------------------------------------------

    def _take(self, n: int) -> pd.DataFrame:
        rows = pd.concat(self._buffer, ignore_index=True) if len(self._buffer) > 1 else self._buffer[0]
        head, rest = rows.iloc[:n], rows.iloc[n:]
        self._buffer = [rest] if len(rest) else []
        self._buffered = len(rest)
        return head

    def _submit(self, rows: pd.DataFrame) -> None:
        self._tasks.append(asyncio.ensure_future(self._run(rows)))

    async def _settle(self) -> None:
        tasks, self._tasks = self._tasks, []
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            try:
                await resolve_pending_jobs(self._lms, self._store, self._integration, self._report)
            except Exception:  # the original failure is the one to report; the next run retries
                pass
            raise failures[0]

    async def _run(self, rows: pd.DataFrame) -> None:
        self._jobs += 1
        number = self._jobs
        journal = upsert_journal_items(rows)
        results, operations = await in_run_graph(push_courses_job, self, number, rows, journal)
        await in_run_graph(confirm_courses_job, self, number, operations[0] if operations else "not-accepted", rows, journal, results, operations)

    async def _push(self, number: int, rows: pd.DataFrame, journal: dict[str, dict[str, Any]]) -> tuple[list[Any], list[str]]:
        recorder = JobRecorder(self._store, self._integration["id"], self._run_pk, "upsert", lambda it: journal[str(it["externalId"])])
        async def submitted(operation: str, batch: list[dict]) -> None:
            await recorder(operation, batch)
            await name_running_task(f"push-courses-job-{number}-{operation}")  # the run graph names the job by its operation

        results = await self._lms.upsert_courses(self._integration["integration_id"], rows["payload"].tolist(), on_submitted=submitted)
        return results, list(recorder.operations)

    async def _confirm(self, rows: pd.DataFrame, journal: dict[str, dict[str, Any]], results: list[Any], operations: list[str]) -> None:
        state_rows = []
        for r in results:
            ok, resource, msg, inp = result_fields(r)
            ext = str(inp.get("externalId"))
            item = journal.get(ext) or {"key": ext, "outcome": "updated"}
            outcome = item["outcome"]
            if not ok:
                self._report.add("failed")
                self._report.error(ext, "failed", msg or "rejected by 360Learning")
                self._outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": msg})
                continue
            row = course_row("upsert", item, resource)
            self.confirmed[ext] = row["course_id"]
            state_rows.append(row)
            if outcome != "restored":
                self._report.add(outcome)
                self._outcomes.append({"kind": "course", "external_id": ext, "outcome": outcome})
        self._store.apply_course_results(self._integration["id"], state_rows, self._now)
        await confirm_jobs(self._store, self._lms, operations)
        self._sent_rows.append(rows)
        self.done += len(rows)
        if self._progress:
            self._progress("upsert", self.done, self.queued)


def _push_name() -> str:
    return f"push-courses-job-{stage_param('number')}"


def _confirm_name() -> str:
    return f"confirm-courses-job-{stage_param('number')}-{stage_param('operation')}"


@task(name="push-courses-job", cache_policy=NO_CACHE, task_run_name=_push_name)
async def push_courses_job(
    upserter: CourseUpserter, number: int, rows: pd.DataFrame, journal: dict[str, dict[str, Any]],
) -> tuple[list[Any], list[str]]:
    """Send one bulk job of course upserts and wait for 360Learning's results."""
    return await upserter._push(number, rows, journal)


@task(name="confirm-courses-job", cache_policy=NO_CACHE, task_run_name=_confirm_name)
async def confirm_courses_job(
    upserter: CourseUpserter, number: int, operation: str, rows: pd.DataFrame, journal: dict[str, dict[str, Any]],
    results: list[Any], operations: list[str],
) -> None:
    """Write the courses 360Learning confirmed to state, then mark the job confirmed."""
    await upserter._confirm(rows, journal, results, operations)
