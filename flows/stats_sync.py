"""Learner statistics: the daily incremental sync and the date-range backfill."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from learnsync.flows.common import (
    backfill_run_name, ensure_integration, final_state, flow_run_id, logger, now_utc, publish_report, refused,
    report_sentence, reraise_redacted, run_lease, window_task_name,
)
from learnsync.flows.exclusive import stats_slot
from learnsync.flows.runtime import Runtime
from learnsync.providers.base import DateWindow, MappingContext
from learnsync.statestore.leases import RunInProgress
from learnsync.tasks.extract import iter_stats_chunks
from learnsync.tasks.contract import unreadable_stats
from learnsync.tasks.load import push_stats, resolve_pending_jobs
from learnsync.tasks.parked_stats import deliver_parked, settle_chunk
from learnsync.statestore.models import RunKind
from learnsync.tasks.report import RunReport
from learnsync.tasks.stats_rules import plan_stats


# Rows mapped, planned and pushed together. Peak memory follows this (not the window's rows);
# 20,000 rows (two full 10,000-item bulk jobs) keep a 1,000,000-row sync under 500 MB.
STATS_CHUNK_ROWS = 20_000


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


@task(name="sync-stats-window", cache_policy=NO_CACHE, task_run_name=window_task_name)
async def sync_window(
    rt: Runtime, lms: Any, integration: dict, window: DateWindow, run_pk: int | None, report: RunReport, dry_run: bool,
    known: set[str] | None = None,
) -> None:
    """Stream one window in bounded chunks: memory depends on the chunk size, not on the rows.

    Pages are fetched ahead (at most `max_concurrent_pages` in flight) while a chunk is mapped,
    planned and pushed; each chunk reads only the stored attempts of its own learner x course
    pairs, so neither time nor memory grows with the integration's history. Activity on courses
    not synced (`known`: the synced ones) and items 360Learning did not take are parked
    (tasks/parked_stats.py), not dropped.
    """
    options = {**rt.spec.default_options, **(integration.get("options") or {})}
    concurrency = max(1, int(rt.settings.provider(rt.spec.key).max_concurrent_pages))
    client = rt.provider_client()
    tally: dict[str, Any] = {}
    try:
        async for raw in iter_stats_chunks(client, window, chunk_rows=STATS_CHUNK_ROWS, concurrency=concurrency, tally=tally):
            ctx = MappingContext(owner_lang=rt.lms_settings.owner_lang, now=now_utc(), options=options)
            mapped = rt.spec.map_stats(raw, ctx)
            del raw
            for k, v in mapped.skipped.items():
                report.skipped[k] = report.skipped.get(k, 0) + int(v)
            stats = mapped.stats.reset_index(drop=True)
            unreadable = unreadable_stats(stats)
            if len(unreadable):
                stats = stats.drop(index=unreadable.pop("_row").unique()).reset_index(drop=True)
                mapped.quarantine = pd.concat([mapped.quarantine, unreadable], ignore_index=True)
            if known is not None:
                synced = stats["course_external_id"].astype(str).isin(known).to_numpy(bool)
                if not synced.all():
                    waiting = int((~synced).sum())
                    report.add("ignored", waiting)
                    report.skipped["course_not_synced"] = report.skipped.get("course_not_synced", 0) + waiting
                    if not dry_run:
                        report.parked += rt.store.park_stats(integration["id"], stats[~synced], "course_not_synced", now=now_utc())
                    stats = stats[synced]
            attempts = _attempts_for(rt, integration, stats)
            plan = plan_stats(stats, attempts)
            quarantine = pd.concat([mapped.quarantine, plan.quarantine], ignore_index=True) if len(plan.quarantine) else mapped.quarantine
            if len(quarantine):
                report.add("quarantined", len(quarantine))
                for ext, fld, reason in quarantine[["external_id", "field", "reason"]].itertuples(index=False):
                    report.error(str(ext), "quarantined", str(reason), str(fld))
                if not dry_run:
                    rt.store.quarantine(integration["id"], "stat", quarantine[["external_id", "field", "reason"]].astype(str).to_dict("records"), now_utc())
            if dry_run:
                report.add("unchanged", plan.unchanged)
                report.add("updated", int(plan.items["existing"].sum()))
                report.add("created", int((~plan.items["existing"]).sum()))
                continue
            delivery = await push_stats(plan, lms=lms, store=rt.store, integration=integration, run_pk=run_pk, report=report)
            settle_chunk(rt.store, integration["id"], stats, delivery, report, now_utc())
    finally:
        await client.aclose()
    total, rows = tally.get("total"), tally.get("rows", 0)
    if total is not None and rows != total:
        # Rows may have been skipped (or shifted between pages): this window must be read again.
        report.incomplete_reads.append(f"stats {window.since or 'start'} .. {window.until}: read {rows} rows where the provider announced {total}")


def _attempts_for(rt: Runtime, integration: dict, stats: pd.DataFrame) -> pd.DataFrame:
    """The stored attempts of this chunk's (course, learner) pairs (all of them on stores without
    the targeted read)."""
    if not integration.get("id"):
        return _empty_attempts()
    reader = getattr(rt.store, "load_attempts_for", None)
    if reader is None:
        return rt.store.load_attempts(integration["id"])
    pairs = zip(stats["course_external_id"].astype(str).to_numpy(dtype=object), stats["user_email"].astype(str).to_numpy(dtype=object))
    return reader(integration["id"], pairs)


def _empty_attempts() -> pd.DataFrame:
    return pd.DataFrame(columns=["course_external_id", "user_email", "first_activity_at", "attempt_no", "completed", "payload_hash"])


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
            if daily:
                watermark = store.get_watermark(integration["id"], "stats") if integration.get("id") else None
                windows = [daily_window(rt, watermark, started.date())]
            # Stats only for courses this integration synced: others would fail as courseNotFound.
            known = set(store.load_courses(integration["id"])["external_id"]) if integration.get("id") else None
            if not dry_run:
                await deliver_parked(
                    lms, store, integration, known, report, run_pk, lambda rows: _attempts_for(rt, integration, rows)
                )
            for window in windows:
                logger().info("%s statistics from %s to %s (excluded).", spec.key, window.since or "the start of history", window.until)
                await sync_window(rt, lms, integration, window, run_pk, report, dry_run, known)
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


@flow(name="stats-sync", flow_run_name="stats-{provider}-{platform}", log_prints=True)
async def stats_sync(provider: str, platform: str = "default", dry_run: bool = False, wait: bool = False) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """Historical statistics for [since, until), in independent windows; never moves the daily watermark.
    wait: when another backfill of this provider and platform is going, wait for it to end."""
    until = until or datetime.now(timezone.utc).date() + timedelta(days=1)
    windows = backfill_windows(since, until, window_days)
    try:
        async with stats_slot(provider, platform):  # never beside a daily stats run of the same provider and platform
            return await run_stats(Runtime.build(provider, platform), windows, kind=RunKind.backfill, dry_run=dry_run, wait=wait)
    except RunInProgress as busy:
        return refused(busy)
