"""The statistics pipeline: read -> map -> plan -> push -> confirm, each stage a Prefect task.

The stages overlap, so a run is bound by the slower of the provider's paging and 360Learning's
bulk jobs, not by their sum:

- read: one task per window reads its activity pages (up to `max_concurrent_pages` in flight)
  into chunks of STATS_CHUNK_ROWS rows, READ_AHEAD_CHUNKS ahead of the chunk being mapped; the
  windows are read one after the other, so the next window is read while the previous one is
  pushed;
- map: the provider's rules on one chunk (off the event loop), unreadable rows quarantined,
  activity on courses not synced yet parked;
- plan: the stored attempts of the chunk's (course, learner) pairs and the attempt rules
  (tasks/stats_rules.py);
- push: one task per bulk job (10,000 items), named with 360Learning's operation id, at most
  360Learning's 3 concurrent jobs running and one more being prepared (tasks/stats_push.py);
- confirm: one task per job writes the attempts 360Learning confirmed, marks the journal
  entry confirmed and parks what it did not take.

Memory is bounded by the chunks in the queue and the jobs open, not by the rows of the run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from learnsync.flows.common import logger, now_utc
from learnsync.flows.progress import RunProgress
from learnsync.flows.runtime import Runtime
from learnsync.providers.base import DateWindow, MappingContext, StatsResult
from learnsync.tasks.contract import unreadable_stats
from learnsync.tasks.extract import iter_stats_chunks
from learnsync.tasks.parked_stats import settle_job
from learnsync.tasks.report import RunReport
from learnsync.tasks.run_graph import in_run_graph, name_running_task, stage_param
from learnsync.tasks.stats_push import (
    StatsDelivery,
    StatsJob,
    StatsPusher,
    bulk_slots,
    confirm_stats_job,
    judge_stats_results,
    pair_keys,
    submit_stats_job,
)
from learnsync.tasks.stats_rules import StatsPlan, plan_stats

# Rows mapped and planned together. Peak memory follows this (not the window's rows) and the
# jobs open at once; a chunk's items join the queue of bulk jobs, which leave 10,000 at a time.
STATS_CHUNK_ROWS = 20_000
READ_AHEAD_CHUNKS = 2  # chunks read while the current one is mapped, planned and pushed


def _window_label(window: DateWindow) -> str:
    return f"{window.since or 'start'}-{window.until or 'now'}"


def _param(name: str) -> Any:
    return stage_param(name)


def _provider_key(rt: Any) -> str:
    return getattr(getattr(rt, "spec", None), "key", None) or "provider"


def read_task_name() -> str:
    """`read-stats-udemy-2026-01-01-2026-01-08` (`start` when reading the whole history)."""
    return f"read-stats-{_provider_key(_param('rt'))}-{_window_label(_param('window'))}"


def chunk_task_name(stage: str) -> Any:
    def name() -> str:
        chunk = _param("chunk")
        return f"{stage}-stats-{_provider_key(_param('rt'))}-{getattr(chunk, 'label', 'chunk')}"

    return name


def push_task_name() -> str:
    return f"push-stats-job-{getattr(_param('job'), 'number', 0)}"


def confirm_task_name() -> str:
    job = _param("job")
    return f"confirm-stats-job-{getattr(job, 'number', 0)}-{getattr(job, 'operation', None) or 'not-accepted'}"


@dataclass
class StatsChunk:
    """Raw activity rows read together, from window `window` (its index in the run)."""

    window: int
    number: int
    raw: pd.DataFrame
    since: Any = None

    @property
    def label(self) -> str:
        return f"w{self.window + 1}-chunk{self.number}"


@dataclass
class WindowCounts:
    """What one window's rows became (the backfill's per-window table)."""

    window: DateWindow
    total: int | None = None  # rows the provider announced
    read: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def row(self) -> dict[str, Any]:
        c = self.counts
        return {
            "since": str(self.window.since or "start"), "until": str(self.window.until or "now"), "rows read": self.read,
            "created": c["created"], "updated": c["updated"], "unchanged": c["unchanged"], "not taken": c["not taken"],
            "skipped": c["skipped"], "parked": c["parked"],
        }


_END = object()


@task(name="read-stats-window", cache_policy=NO_CACHE, task_run_name=read_task_name)
async def read_stats_window(
    rt: Runtime, client: Any, window: DateWindow, index: int, chunks: asyncio.Queue, tallies: list[WindowCounts], concurrency: int,
) -> int:
    """Read one window's pages into chunks (read ahead: the queue holds READ_AHEAD_CHUNKS)."""
    tally: dict[str, Any] = {}
    number = 0
    async for raw in iter_stats_chunks(client, window, chunk_rows=STATS_CHUNK_ROWS, concurrency=concurrency, tally=tally):
        tallies[index].total = tally.get("total")
        number += 1
        await chunks.put(StatsChunk(window=index, number=number, raw=raw))
    tallies[index].total = tally.get("total")
    tallies[index].read = int(tally.get("rows", 0))
    return tallies[index].read


@task(name="map-stats-chunk", cache_policy=NO_CACHE, task_run_name=chunk_task_name("map"))
async def map_stats_chunk(rt: Runtime, chunk: StatsChunk, options: dict[str, Any]) -> StatsResult:
    """The provider's rules on one chunk; rows whose course or learner cannot match are quarantined."""
    ctx = MappingContext(owner_lang=rt.lms_settings.owner_lang, now=now_utc(), options=options)
    return await asyncio.to_thread(_map, rt, chunk.raw, ctx)


def _map(rt: Runtime, raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    mapped = rt.spec.map_stats(raw, ctx)
    stats = mapped.stats.reset_index(drop=True)
    unreadable = unreadable_stats(stats)
    if len(unreadable):
        stats = stats.drop(index=unreadable.pop("_row").unique()).reset_index(drop=True)
        mapped.quarantine = pd.concat([mapped.quarantine, unreadable], ignore_index=True)
    mapped.stats = stats
    return mapped


@task(name="plan-stats-chunk", cache_policy=NO_CACHE, task_run_name=chunk_task_name("plan"))
async def plan_stats_chunk(rt: Runtime, chunk: StatsChunk, integration: dict, stats: pd.DataFrame) -> StatsPlan:
    """The attempt rules against the stored attempts of this chunk's (course, learner) pairs."""
    return await asyncio.to_thread(lambda: plan_stats(stats, attempts_for(rt, integration, stats)))


def attempts_for(rt: Runtime, integration: dict, stats: pd.DataFrame) -> pd.DataFrame:
    """The stored attempts of these rows' (course, learner) pairs."""
    if not integration.get("id") or not len(stats):
        return pd.DataFrame(columns=["course_external_id", "user_email", "first_activity_at", "attempt_no", "completed", "payload_hash"])
    pairs = zip(stats["course_external_id"].astype(str).to_numpy(dtype=object), stats["user_email"].astype(str).to_numpy(dtype=object))
    return rt.store.load_attempts_for(integration["id"], pairs)


@dataclass
class SentJob:
    """A pushed job's per-item results, in item order. Held in one object: Prefect links every
    element of a task's returned list to its task run for the rest of the flow run (a million
    entries, and their memory, in a million-row run), the fields of a dataclass only."""

    results: list[Any]


@task(name="push-stats-job", cache_policy=NO_CACHE, task_run_name=push_task_name)
async def push_stats_job(rt: Runtime, lms: Any, integration: dict, run_pk: int | None, job: StatsJob) -> SentJob:
    """Send one bulk job; the task takes 360Learning's operation id as its name once accepted."""
    renamed: list[asyncio.Task[None]] = []

    def accepted(operation: str) -> None:
        logger().info("stats bulk job %d (%d items) accepted by 360Learning as operation %s", job.number, len(job.items), operation)
        # the run graph names the job by its operation while it is polled
        renamed.append(asyncio.get_running_loop().create_task(name_running_task(f"push-stats-job-{job.number}-{operation}")))

    results = await submit_stats_job(lms, rt.store, integration, run_pk, job, on_accepted=accepted)
    await asyncio.gather(*renamed)
    return SentJob(results)


@task(name="confirm-stats-job", cache_policy=NO_CACHE, task_run_name=confirm_task_name)
async def confirm_stats_job_task(
    rt: Runtime, lms: Any, integration: dict, run_pk: int | None, job: StatsJob, results: list[Any], report: RunReport,
) -> StatsDelivery:
    """Write what 360Learning confirmed (state, journal, outcomes), then park what it did not take."""
    store = rt.store
    delivery, confirmed = judge_stats_results(job, results, report)  # the report is only touched on the loop
    await asyncio.to_thread(store.apply_stat_frame, integration["id"], confirmed, now_utc())
    await confirm_stats_job(store, lms, run_pk, job, offload=True)
    settle_job(store, integration["id"], job, delivery, report, now_utc())
    return delivery


class StatsPipeline:
    """One run's windows through the stages; `run()` returns once every job is confirmed."""

    def __init__(
        self, rt: Runtime, lms: Any, integration: dict, windows: list[DateWindow], run_pk: int | None, report: RunReport,
        *, dry_run: bool, known: set[str] | None, progress: RunProgress | None = None,
    ) -> None:
        self.rt, self.lms, self.integration, self.windows = rt, lms, integration, windows
        self.run_pk, self.report, self.dry_run, self.known, self.progress = run_pk, report, dry_run, known, progress
        self.options = {**rt.spec.default_options, **(integration.get("options") or {})}
        self.tallies = [WindowCounts(w) for w in windows]
        self._planned = Counter[int]()  # rows planned per window
        self._chunks: asyncio.Queue = asyncio.Queue(maxsize=READ_AHEAD_CHUNKS)

    async def run(self) -> list[WindowCounts]:
        pusher = None if self.dry_run else StatsPusher(
            self._run_job, lms=self.lms, store=self.rt.store, integration=self.integration, report=self.report,
            batch_size=int(getattr(self.lms, "max_stats_batch", 10_000)), max_open=bulk_slots(self.lms),
        )
        client = self.rt.provider_client()
        reader = asyncio.ensure_future(self._read(client))
        try:
            while (chunk := await self._next(reader)) is not None:
                await self._chunk(chunk, pusher)
            if pusher is not None:
                await pusher.finish()
        except BaseException:
            reader.cancel()
            if pusher is not None:
                await pusher.abort()
            raise
        finally:
            await asyncio.gather(reader, return_exceptions=True)
            await client.aclose()
        for tally in self.tallies:
            if tally.total is not None and tally.read != tally.total:
                # Rows may have been skipped (or shifted between pages): this window must be read again.
                self.report.incomplete_reads.append(
                    f"stats {tally.window.since or 'start'} .. {tally.window.until}: read {tally.read} rows where the provider announced {tally.total}"
                )
        self._show(100.0 if not self.report.incomplete_reads else None)
        return self.tallies

    # --- read ------------------------------------------------------------------------------------

    async def _read(self, client: Any) -> None:
        concurrency = max(1, int(self.rt.settings.provider(self.rt.spec.key).max_concurrent_pages))
        try:
            for index, window in enumerate(self.windows):
                logger().info("%s statistics from %s to %s (excluded).", self.rt.spec.key, window.since or "the start of history", window.until)
                await in_run_graph(read_stats_window, self.rt, client, window, index, self._chunks, self.tallies, concurrency)
        except Exception as exc:  # the consumer raises it (a cancelled reader is not waited for)
            await self._chunks.put(exc)
            raise
        await self._chunks.put(_END)

    async def _next(self, reader: asyncio.Future[None]) -> StatsChunk | None:
        item = await self._chunks.get()
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    # --- map, plan, push -------------------------------------------------------------------------

    async def _chunk(self, chunk: StatsChunk, pusher: StatsPusher | None) -> None:
        rt, report, tally = self.rt, self.report, self.tallies[chunk.window].counts
        mapped = await in_run_graph(map_stats_chunk, rt, chunk, self.options)
        rows = len(chunk.raw)
        chunk.raw = pd.DataFrame()  # the raw rows are no longer needed
        for k, v in mapped.skipped.items():
            report.skipped[k] = report.skipped.get(k, 0) + int(v)
        tally["skipped"] += int(sum(mapped.skipped.values()))
        stats = mapped.stats
        if self.known is not None:
            synced = stats["course_external_id"].astype(str).isin(self.known).to_numpy(bool)
            if not synced.all():
                waiting = int((~synced).sum())
                report.add("ignored", waiting)
                report.skipped["course_not_synced"] = report.skipped.get("course_not_synced", 0) + waiting
                if not self.dry_run:
                    parked = rt.store.park_stats(self.integration["id"], stats[~synced], "course_not_synced", now=now_utc())
                    report.parked += parked
                    tally["parked"] += parked
                stats = stats[synced].reset_index(drop=True)
        keys = pair_keys(stats)
        if pusher is not None:
            await pusher.settle(set(keys.tolist()))  # pairs still travelling are confirmed first
        plan = await in_run_graph(plan_stats_chunk, rt, chunk, self.integration, stats)
        self._quarantine(mapped.quarantine, plan.quarantine, tally)
        report.add("unchanged", plan.unchanged)
        tally["unchanged"] += plan.unchanged
        self._planned[chunk.window] += rows
        if self.dry_run:
            report.add("updated", int(plan.items["existing"].sum()))
            report.add("created", int((~plan.items["existing"]).sum()))
        elif pusher is not None and len(plan.items):
            items = plan.items.assign(key=pair_keys(plan.items).to_numpy(dtype=object), window=chunk.window)
            await pusher.add(items, stats)
        self._show()

    def _quarantine(self, mapped: pd.DataFrame, planned: pd.DataFrame, tally: Counter[str]) -> None:
        quarantine = pd.concat([mapped, planned], ignore_index=True) if len(planned) else mapped
        if not len(quarantine):
            return
        report = self.report
        report.add("quarantined", len(quarantine))
        tally["skipped"] += len(quarantine)
        for ext, fld, reason in quarantine[["external_id", "field", "reason"]].itertuples(index=False):
            report.error(str(ext), "quarantined", str(reason), str(fld))
        if not self.dry_run:
            records = quarantine[["external_id", "field", "reason"]].astype(str).to_dict("records")
            self.rt.store.quarantine(self.integration["id"], "stat", records, now_utc())

    async def _run_job(self, job: StatsJob) -> StatsDelivery:
        sent = await in_run_graph(push_stats_job, self.rt, self.lms, self.integration, self.run_pk, job)
        delivery = await in_run_graph(confirm_stats_job_task, self.rt, self.lms, self.integration, self.run_pk, job, sent.results, self.report)
        self._count_job(job)
        self._show()
        return delivery

    def _count_job(self, job: StatsJob) -> None:
        ok = job.ok if job.ok is not None else np.zeros(len(job.items), dtype=bool)
        existing = job.items["existing"].to_numpy(dtype=bool)
        windows = job.items["window"].to_numpy(dtype=np.int64)
        for name, mask in (("created", ok & ~existing), ("updated", ok & existing), ("not taken", ~ok)):
            for index, n in zip(*np.unique(windows[mask], return_counts=True)):
                self.tallies[int(index)].counts[name] += int(n)

    # --- progress --------------------------------------------------------------------------------

    def _show(self, percent: float | None = None) -> None:
        """Windows done, the current one by its planned share of the rows the provider announced."""
        if self.progress is None:
            return
        if percent is None:
            shares = []
            for i, tally in enumerate(self.tallies):
                total = tally.total
                shares.append(0.0 if total is None else 1.0 if total == 0 else min(1.0, self._planned[i] / total))
            percent = 100.0 * sum(shares) / max(1, len(shares))
        self.progress.update(percent, f"{self.report.counts.get('created', 0) + self.report.counts.get('updated', 0):,} attempts confirmed")
