"""Daily catalog sync of one provider into one 360Learning platform."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.common import ensure_integration, final_state, flow_run_id, logger, now_utc, publish_report
from learnsync.runtime import Runtime
from providers.base import MappingContext
from tasks.diff import plan_catalog
from learnsync.http import PageTokenGuard
from tasks.extract import completeness, paused_gc, read_announced_pages, read_first_page, read_page_chunk
from tasks.load import push_catalog, resolve_pending_jobs
from tasks.report import RunReport


PAGES_PER_CHUNK = 10


def _chunk_key(context: Any, params: dict[str, Any]) -> str:
    # Small explicit key (never the client, the gate or a DataFrame): a retry of the same flow run
    # reuses the pages it already fetched; a new run reads the catalog afresh. `tokens` (the
    # announced pages of a concurrent chunk) is keyed by its length: the head chunk fixed them.
    tokens = params.get("tokens")
    shape = "seq" if tokens is None else f"{len(tokens)}p"
    return "catalog-chunk|{provider}|{platform}|{stream}|{token}|{shape}|{run}".format(
        run=flow_run.id or "local", shape=shape, provider=params["provider"], platform=params["platform"],
        stream=params["stream"], token=params["token"],
    )


@task(
    name="fetch-catalog-pages",
    cache_key_fn=_chunk_key,
    persist_result=True,
    cache_expiration=timedelta(hours=24),
    task_run_name="{provider}-{stream}-from-{token}",
)
async def fetch_catalog_chunk(
    provider: str,
    platform: str,
    stream: str,
    token: str | None,
    client: Any,
    tokens: list[str] | None = None,
    gate: asyncio.Semaphore | None = None,
) -> dict[str, Any]:
    """One cacheable unit of catalog pages.

    token None: the head of the walk (page 1, plus the later page tokens when the client
    announces them, else up to PAGES_PER_CHUNK pages read in a row). `tokens` given: exactly
    those pages, fetched concurrently through `gate`. Otherwise PAGES_PER_CHUNK pages in a row
    from `token`.
    """
    if token is None:
        return await read_first_page(client, stream, PAGES_PER_CHUNK)
    if tokens is not None:
        return await read_announced_pages(client, stream, tokens, gate or asyncio.Semaphore(1))
    return await read_page_chunk(client, stream, token, PAGES_PER_CHUNK)


async def extract_catalog(rt: Runtime, client: Any, stream: str) -> pd.DataFrame:
    """All pages of a stream, in cached chunks of up to PAGES_PER_CHUNK pages.

    When the client announces its page tokens, the chunks after the head are fetched
    concurrently (at most `max_concurrent_pages` requests in flight); otherwise the walk is
    sequential, guarded against a provider handing back a token twice.
    """
    with paused_gc():
        return await _extract(rt, client, stream)


async def _extract(rt: Runtime, client: Any, stream: str) -> pd.DataFrame:
    key, platform = rt.spec.key, rt.platform
    limit = max(1, int(rt.settings.provider(key).max_concurrent_pages))
    head = await fetch_catalog_chunk(key, platform, stream, None, client)
    parts: list[list[dict[str, Any]]] = [head["records"]]
    token: str | None = head["next_token"]
    guard = PageTokenGuard(f"{key}/{stream}")
    if head.get("tokens"):
        announced = head["tokens"]
        gate = asyncio.Semaphore(limit)
        groups = [announced[i : i + PAGES_PER_CHUNK] for i in range(0, len(announced), PAGES_PER_CHUNK)]
        chunks = await asyncio.gather(
            *(fetch_catalog_chunk(key, platform, stream, g[0], client, tokens=g, gate=gate) for g in groups)
        )
        for t in announced:
            guard.check(t)
        parts.extend(c["records"] for c in chunks)
        token = chunks[-1]["next_token"]  # None, unless the catalog grew while it was read
    elif head.get("tokens") == []:
        token = None
    while token is not None:
        guard.check(token)
        chunk = await fetch_catalog_chunk(key, platform, stream, token, client)
        parts.append(chunk["records"])
        token = chunk["next_token"]
    records = [r for part in parts for r in part]
    logger().info("%s/%s: %d records extracted", key, stream, len(records))
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.attrs["incomplete"] = completeness(records, head.get("total"))
    return frame


@task(name="map-catalog", cache_policy=NO_CACHE)
def map_catalog(rt: Runtime, raw: pd.DataFrame, stream: str, ctx: MappingContext) -> Any:
    return rt.spec.map_catalog(raw, stream, ctx)


@flow(name="content-sync", flow_run_name="content-{provider}-{platform}", log_prints=True)
async def content_sync(
    provider: str, platform: str = "default", dry_run: bool = False, force: bool = False
) -> dict[str, Any]:
    """Extract the provider catalog, map it by the rule book, diff against state, push to 360Learning.

    dry_run: compute and report the full diff, write nothing (360Learning nor state).
    force: archive even when the extract shrank below the guard ratio.
    """
    rt = Runtime.build(provider, platform)
    return await run_content_sync(rt, dry_run=dry_run, force=force)


async def run_content_sync(rt: Runtime, *, dry_run: bool = False, force: bool = False, progress: Any = None) -> Any:
    spec, store = rt.spec, rt.store
    report = RunReport(provider=spec.key, kind="content", platform=rt.platform, dry_run=dry_run)
    run_pk = None if dry_run else store.start_run(spec.key, rt.platform, "content", dry_run, {"force": force}, flow_run_id())
    try:
        async with rt.lms_client() as lms:
            integration = await ensure_integration(rt, lms, create=not dry_run) if not dry_run else (
                store.get_integration(spec.key, rt.platform) or {"id": None, "options": dict(spec.default_options), "filters": {}}
            )
            if not dry_run:
                await resolve_pending_jobs(lms, store, integration, report)
            options = {**spec.default_options, **(integration.get("options") or {})}
            ctx = MappingContext(owner_lang=rt.lms_settings.owner_lang, now=now_utc(), options=options)
            client = rt.provider_client()
            try:
                mapped_parts, quarantine_parts, ignored_parts = [], [], []
                incomplete: list[str] = []
                for stream in spec.catalog_streams(options):
                    raw = await extract_catalog(rt, client, stream)
                    if raw.attrs.get("incomplete"):
                        incomplete.append(f"{stream}: {raw.attrs['incomplete']}")
                    result = map_catalog(rt, raw, stream, ctx)
                    mapped_parts.append(result.courses)
                    quarantine_parts.append(result.quarantine)
                    ignored_parts.append(result.ignored)
            finally:
                await client.aclose()
            mapped = pd.concat([p for p in mapped_parts if len(p)], ignore_index=True) if any(len(p) for p in mapped_parts) else pd.DataFrame(columns=["externalId"])
            quarantine = pd.concat(quarantine_parts, ignore_index=True) if quarantine_parts else pd.DataFrame()
            ignored = pd.concat(ignored_parts, ignore_index=True) if ignored_parts else pd.DataFrame()
            state = store.load_courses(integration["id"]) if integration.get("id") else pd.DataFrame()
            plan = plan_catalog(
                mapped, state, spec, integration.get("filters") or {}, guard_ratio=rt.settings.archive_guard_ratio,
                force=force, complete=not incomplete,
            )
            for reason in incomplete:
                report.notes.append(f"incomplete catalog read ({reason}): nothing archived as missing this run")
                report.error(spec.key, "failed", f"incomplete catalog read: {reason}")
                report.add("failed")
            _report_mapping_rejects(report, quarantine, ignored)
            report.add("ignored", plan.counts.get("ignored", 0))
            if dry_run:
                for outcome in ("created", "updated", "unchanged", "archived", "restored"):
                    report.add(outcome, plan.counts.get(outcome, 0))
                report.notes.append("dry run: the counts are what a real run would do; nothing was written")
            else:
                report.add("unchanged", plan.counts.get("unchanged", 0))
                _record_quarantine(store, integration["id"], run_pk, quarantine, mapped, report)
                await push_catalog(plan, lms=lms, store=store, integration=integration, run_pk=run_pk, report=report, progress=progress)
    except Exception as exc:
        if run_pk is not None:
            store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
        report.notes.append(f"run failed: {type(exc).__name__}: {exc}")
        await publish_report(report)
        raise
    if run_pk is not None:
        store.finish_run(run_pk, report.status, report.counts)
    await publish_report(report)
    logger().info("%s content sync: %s", spec.key, report.counts)
    return final_state(report)


def _report_mapping_rejects(report: RunReport, quarantine: pd.DataFrame, ignored: pd.DataFrame) -> None:
    if len(ignored):
        report.add("ignored", len(ignored))
        for reason, n in ignored["reason"].value_counts().items():
            report.skipped[str(reason)] = int(n)
    if len(quarantine):
        bad_ids = quarantine["external_id"].astype(str).unique()
        report.add("quarantined", len(bad_ids))
        for ext, fld, reason in quarantine[["external_id", "field", "reason"]].itertuples(index=False):
            report.error(str(ext), "quarantined", str(reason), str(fld))


def _record_quarantine(store: Any, integration_pk: int, run_pk: int | None, quarantine: pd.DataFrame, mapped: pd.DataFrame, report: RunReport) -> None:
    now = now_utc()
    if len(quarantine):
        items = quarantine[["external_id", "field", "reason"]].astype(str).to_dict("records")
        store.quarantine(integration_pk, "course", items, now)
        if run_pk is not None:
            store.add_outcomes(run_pk, [{"kind": "course", "outcome": "quarantined", **i} for i in items])
    if len(mapped):
        store.resolve_quarantine(integration_pk, "course", mapped["externalId"].astype(str).tolist(), now)
