"""Learner statistics: the daily incremental sync and the date-range backfill."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.common import (
    backfill_run_name, ensure_integration, final_state, flow_run_id, logger, now_utc, publish_report, report_sentence,
    window_task_name,
)
from flows.exclusive import stats_slot
from learnsync.runtime import Runtime
from providers.base import DateWindow, MappingContext
from tasks.extract import iter_stats_chunks
from tasks.load import push_stats, resolve_pending_jobs
from tasks.report import RunReport
from tasks.stats_rules import plan_stats


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
async def sync_window(rt: Runtime, lms: Any, integration: dict, window: DateWindow, run_pk: int | None, report: RunReport, dry_run: bool) -> None:
    """Stream one window in bounded chunks: memory depends on the chunk size, not on the rows.

    Pages are fetched ahead (at most `max_concurrent_pages` in flight) while a chunk is mapped,
    planned and pushed; each chunk reads only the stored attempts of its own learner x course
    pairs, so neither time nor memory grows with the integration's history.
    """
    options = {**rt.spec.default_options, **(integration.get("options") or {})}
    concurrency = max(1, int(rt.settings.provider(rt.spec.key).max_concurrent_pages))
    # Stats only for courses this integration synced: others would fail as courseNotFound.
    known = set(rt.store.load_courses(integration["id"])["external_id"]) if integration.get("id") else None
    client = rt.provider_client()
    try:
        async for raw in iter_stats_chunks(client, window, chunk_rows=STATS_CHUNK_ROWS, concurrency=concurrency):
            ctx = MappingContext(owner_lang=rt.lms_settings.owner_lang, now=now_utc(), options=options)
            mapped = rt.spec.map_stats(raw, ctx)
            del raw
            for k, v in mapped.skipped.items():
                report.skipped[k] = report.skipped.get(k, 0) + int(v)
            stats = mapped.stats
            if known is not None:
                synced = stats["course_external_id"].astype(str).isin(known).to_numpy(bool)
                if not synced.all():
                    report.add("ignored", int((~synced).sum()))
                    report.skipped["course_not_synced"] = report.skipped.get("course_not_synced", 0) + int((~synced).sum())
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
            await push_stats(plan, lms=lms, store=rt.store, integration=integration, run_pk=run_pk, report=report)
    finally:
        await client.aclose()


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


def content_caught_up(store: Any, provider: str, platform: str) -> bool:
    """Whether the latest content sync of this provider and platform completed (with or without
    item errors): courses it did not sync are then filtered, ignored or failed, not late."""
    run = store.last_run(provider, platform, "content")
    return run is not None and run["status"] in ("completed", "completed_with_errors")


async def run_stats(rt: Runtime, windows: list[DateWindow] | None, *, kind: str, dry_run: bool = False) -> Any:
    """Daily (windows=None: from the watermark, and moves it) or backfill (explicit windows, never moves it)."""
    store, spec = rt.store, rt.spec
    report = RunReport(provider=spec.key, kind=kind, platform=rt.platform, dry_run=dry_run)
    params = {"windows": [[str(w.since), str(w.until)] for w in windows or []]}
    run_pk = None if dry_run else store.start_run(spec.key, rt.platform, kind, dry_run, params, flow_run_id())
    started = now_utc()
    try:
        async with rt.lms_client() as lms:
            integration = await ensure_integration(rt, lms) if not dry_run else (store.get_integration(spec.key, rt.platform) or {"id": None})
            if not dry_run:
                await resolve_pending_jobs(lms, store, integration, report)
            if integration.get("id"):  # decisions #15: quarantine already open is not news
                report.recall_quarantine(store.open_quarantine_keys(integration["id"], "stat"))
            daily = windows is None
            if daily:
                watermark = store.get_watermark(integration["id"], "stats") if integration.get("id") else None
                windows = [daily_window(rt, watermark, started.date())]
            for window in windows:
                logger().info("%s statistics from %s to %s (excluded).", spec.key, window.since or "the start of history", window.until)
                await sync_window(rt, lms, integration, window, run_pk, report, dry_run)
            if daily and not dry_run:
                # Only a fully read window moves the watermark; item failures (unknown learners) do
                # not block it. Activity on courses not synced yet does while the catalog is behind:
                # once the content sync completes, the next daily run reads it again and sends it.
                waiting = report.skipped.get("course_not_synced", 0)
                if waiting and not content_caught_up(store, spec.key, rt.platform):
                    report.notes.append(
                        f"{waiting} activity rows are on courses not synced yet and the last content sync did not "
                        "complete: the stats watermark stays put, so the next daily run reads them again"
                    )
                else:
                    store.set_watermark(integration["id"], "stats", started)
    except Exception as exc:
        if run_pk is not None:
            store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
        await publish_report(report, exc)
        raise
    if run_pk is not None:
        store.finish_run(run_pk, report.status, report.counts)
    await publish_report(report)
    logger().info(report_sentence(report))
    return final_state(report)


@flow(name="stats-sync", flow_run_name="stats-{provider}-{platform}", log_prints=True)
async def stats_sync(provider: str, platform: str = "default", dry_run: bool = False) -> dict[str, Any]:
    """Daily learner statistics since the watermark (minus an overlap); moves the watermark."""
    async with stats_slot(provider, platform):  # never beside a backfill of the same provider and platform
        return await run_stats(Runtime.build(provider, platform), None, kind="stats", dry_run=dry_run)


@flow(name="stats-backfill", flow_run_name=backfill_run_name, log_prints=True)
async def stats_backfill(
    provider: str, since: date, until: date | None = None, platform: str = "default", window_days: int = 7, dry_run: bool = False
) -> dict[str, Any]:
    """Historical statistics for [since, until), in independent windows; never moves the daily watermark."""
    until = until or datetime.now(timezone.utc).date() + timedelta(days=1)
    windows = backfill_windows(since, until, window_days)
    async with stats_slot(provider, platform):  # never beside a daily stats run of the same provider and platform
        return await run_stats(Runtime.build(provider, platform), windows, kind="backfill", dry_run=dry_run)
