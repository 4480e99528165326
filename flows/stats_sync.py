"""Learner statistics: the daily incremental sync and the date-range backfill."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from prefect import flow

from learnsync.flows.common import (
    FlowResult,
    backfill_run_name,
    ensure_integration,
    final_state,
    flow_run_id,
    logger,
    now_utc,
    publish_report,
    refused,
    report_key,
    report_sentence,
    reraise_redacted,
    run_lease,
)
from learnsync.flows.exclusive import stats_slot
from learnsync.flows.progress import RunProgress
from learnsync.flows.runtime import Runtime
from learnsync.flows.stats_pipeline import STATS_CHUNK_ROWS, StatsPipeline, WindowCounts, attempts_for
from learnsync.providers.base import DateWindow
from learnsync.statestore.leases import RunInProgress
from learnsync.statestore.models import RunKind
from learnsync.tasks.load import resolve_pending_jobs
from learnsync.tasks.parked_stats import deliver_parked
from learnsync.tasks.report import RunReport

__all__ = ["STATS_CHUNK_ROWS", "backfill_windows", "daily_window", "run_stats", "stats_backfill", "stats_sync"]


def daily_window(rt: Runtime, watermark: datetime | None, today: date) -> DateWindow:
    """From the watermark minus an overlap (provider data lags), to tomorrow (half-open)."""
    until = today + timedelta(days=1)
    if watermark is None:
        if rt.spec.stats_full_history_first_run or rt.settings.stats_initial_lookback_days is None:
            return DateWindow(None, until)
        return DateWindow(today - timedelta(days=rt.settings.stats_initial_lookback_days), until)
    return DateWindow(watermark.date() - timedelta(days=rt.settings.stats_overlap_days), until)


def backfill_windows(since: date, until: date, days: int = 7) -> list[DateWindow]:
    """[since, until) split into windows of `days`; each window is an independent, idempotent unit."""
    if until <= since:
        raise ValueError(f"backfill: until ({until}) must be after since ({since})")
    windows, start = [], since
    while start < until:
        end = min(until, start + timedelta(days=days))
        windows.append(DateWindow(start, end))
        start = end
    return windows


def _attempts_for(rt: Runtime, integration: dict, stats: pd.DataFrame) -> pd.DataFrame:
    """The stored attempts of these rows' (course, learner) pairs."""
    return attempts_for(rt, integration, stats)


async def run_stats(rt: Runtime, windows: list[DateWindow] | None, *, kind: RunKind, dry_run: bool = False, wait: bool = False) -> Any:
    """Daily (windows=None: from the watermark, and moves it) or backfill (explicit windows, never moves it).

    A real run holds the `kind` run lease of its provider and platform; `wait`: wait for
    another such run to end instead of stopping at once."""
    if dry_run:
        return await _run_stats(rt, windows, kind=kind, dry_run=True)
    async with run_lease(rt, kind.value, wait=wait):
        return await _run_stats(rt, windows, kind=kind, dry_run=False)


async def _run_stats(rt: Runtime, windows: list[DateWindow] | None, *, kind: RunKind, dry_run: bool) -> Any:
    store, spec = rt.store, rt.spec
    report = RunReport(provider=spec.key, kind=kind.value, platform=rt.platform, dry_run=dry_run)
    params = {"windows": [[str(w.since), str(w.until)] for w in windows or []]}
    run_pk = None if dry_run else store.start_run(spec.key, rt.platform, kind, dry_run, params, flow_run_id())
    started = now_utc()
    try:
        async with rt.lms_client() as lms:
            integration = await ensure_integration(rt, lms) if not dry_run else (store.get_integration(spec.key, rt.platform) or {"id": None})
            if not dry_run:
                await resolve_pending_jobs(lms, store, integration, report)
            if integration.get("id"):  # quarantine already open is not news (docs: D-15)
                report.recall_quarantine(store.open_quarantine_keys(integration["id"], "stat"))
            daily = windows is None
            if windows is None:
                watermark = store.get_watermark(integration["id"], "stats") if integration.get("id") else None
                windows = [daily_window(rt, watermark, started.date())]
            # Stats only for courses this integration synced: others would fail as courseNotFound.
            known = store.course_external_ids(integration["id"]) if integration.get("id") else None
            if not dry_run:
                await deliver_parked(
                    lms, store, integration, known, report, run_pk, lambda rows: _attempts_for(rt, integration, rows)
                )
            progress = RunProgress(f"{report_key(report)}-progress", f"{spec.key} statistics: reading")
            pipeline = StatsPipeline(rt, lms, integration, windows, run_pk, report, dry_run=dry_run, known=known, progress=progress)
            try:
                tallies = await pipeline.run()
            finally:
                await progress.close()
            if not daily:
                await _publish_windows(report, tallies)
            if report.parked:
                report.notes.append(
                    f"{report.parked} activity rows parked in the state store (course not synced yet, or not taken by "
                    "360Learning): every stats run sends them first, until they are delivered"
                )
            for reason in report.incomplete_reads:
                report.notes.append(f"incomplete read ({reason})" + (": the stats watermark stays where it was" if daily else ""))
                report.error(spec.key, "failed", f"incomplete read: {reason}")
                report.add("failed")
            if daily and not dry_run and not report.incomplete_reads:
                # A fully read window moves the watermark: what was read and not delivered is parked.
                store.set_watermark(integration["id"], "stats", started)
    except Exception as exc:
        if run_pk is not None:
            store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
        await publish_report(report, exc)
        reraise_redacted(exc)
    if run_pk is not None:
        store.finish_run(run_pk, report.status, report.counts)
    await publish_report(report)
    logger().info(report_sentence(report))
    return final_state(report)


async def _publish_windows(report: RunReport, tallies: list[WindowCounts]) -> None:
    """The backfill's counts per window, as a table artifact next to the run's summary."""
    from prefect.artifacts import acreate_table_artifact

    try:
        await acreate_table_artifact(
            table=[t.row() for t in tallies], key=f"{report_key(report)}-windows", description=f"{len(tallies)} windows: rows read and what they became",
        )
    except Exception as exc:  # no Prefect API (plain call): the report still has the totals
        logger().warning("The per-window table was not published: %s", exc)


@flow(name="stats-sync", flow_run_name="stats-{provider}-{platform}", log_prints=True)
async def stats_sync(provider: str, platform: str = "default", dry_run: bool = False, wait: bool = False) -> FlowResult:
    """Daily learner statistics since the watermark (minus an overlap); moves the watermark.
    wait: when another stats run of this provider and platform is going, wait for it to end."""
    try:
        async with stats_slot(provider, platform):  # never beside a backfill of the same provider and platform
            return await run_stats(Runtime.build(provider, platform), None, kind=RunKind.stats, dry_run=dry_run, wait=wait)
    except RunInProgress as busy:
        return refused(busy)


@flow(name="stats-backfill", flow_run_name=backfill_run_name, log_prints=True)
async def stats_backfill(
    provider: str, since: date, until: date | None = None, platform: str = "default", window_days: int = 7, dry_run: bool = False,
    wait: bool = False,
) -> FlowResult:
    """Historical statistics for [since, until), in independent windows; never moves the daily watermark.
    wait: when another backfill of this provider and platform is going, wait for it to end."""
    until = until or datetime.now(UTC).date() + timedelta(days=1)
    windows = backfill_windows(since, until, window_days)
    try:
        async with stats_slot(provider, platform):  # never beside a daily stats run of the same provider and platform
            return await run_stats(Runtime.build(provider, platform), windows, kind=RunKind.backfill, dry_run=dry_run, wait=wait)
    except RunInProgress as busy:
        return refused(busy)
