"""Daily catalog sync of one provider into one 360Learning platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from learnsync.core.http import PageTokenGuard
from learnsync.flows.common import (
    FlowResult,
    chunk_task_name,
    ensure_integration,
    final_state,
    flow_run_id,
    logger,
    now_utc,
    publish_report,
    refused,
    report_sentence,
    reraise_redacted,
    run_lease,
)
from learnsync.flows.page_cache import ChunkSerializer, chunk_cache_key
from learnsync.flows.runtime import Runtime
from learnsync.providers.base import MappingContext
from learnsync.providers.fastparse import responsive_switching
from learnsync.statestore.leases import RunInProgress
from learnsync.statestore.models import RunKind
from learnsync.tasks.bulk_jobs import resolve_pending_jobs
from learnsync.tasks.contract import enforce_course_contract
from learnsync.tasks.course_upserts import CourseUpserter
from learnsync.tasks.diff import CatalogPlan, drop_repeated_ids, plan_extract, prepare_extract
from learnsync.tasks.extract import (
    completeness,
    paused_gc,
    read_announced_pages,
    read_first_page,
    read_page_chunk,
    record_keys,
    records_of,
)
from learnsync.tasks.load import push_catalog
from learnsync.tasks.mapped_chunks import HEAD_CHUNK, MappedChunkCache, PreparedChunk, context_key
from learnsync.tasks.plan_preview import MAX_PLANNED, planned_items
from learnsync.tasks.report import RunReport
from learnsync.tasks.run_graph import in_run_graph, stage_param

PAGES_PER_CHUNK = 10


@task(
    name="fetch-catalog-pages",
    cache_key_fn=chunk_cache_key,
    persist_result=True,
    result_serializer=ChunkSerializer(),
    cache_expiration=timedelta(hours=24),
    task_run_name=chunk_task_name,
)
async def fetch_catalog_chunk(
    provider: str,
    platform: str,
    stream: str,
    token: str | None,
    client: Any,
    tokens: Sequence[str] | None = None,
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


@dataclass
class CatalogChunk:
    """Pages of one stream read together: `position` orders chunks as the provider pages them;
    `key` (the first page's token, HEAD_CHUNK for page 1) is where their mapping is kept."""

    position: int
    key: str
    pages: dict[str, Any]  # tasks.extract.PagesChunk


class CatalogWalk:
    """Iterate a stream's pages in cached chunks of up to PAGES_PER_CHUNK pages, each chunk as
    soon as it is read (not in page order: `CatalogChunk.position` gives it).

    When the client announces its page tokens, the chunks after the head are fetched
    concurrently (at most `max_concurrent_pages` requests in flight); otherwise the walk is
    sequential, guarded against a provider handing back a token twice. After the walk, `total`
    is the record count the provider announced (None when it does not tell) and `visited` the
    keys of the chunks read.
    """

    def __init__(self, rt: Runtime, client: Any, stream: str) -> None:
        self._rt, self._client, self._stream = rt, client, stream
        self.total: int | None = None
        self.visited: set[str] = set()

    def __aiter__(self) -> AsyncIterator[CatalogChunk]:
        return self._walk()

    def _chunk(self, position: int, key: str, pages: dict[str, Any]) -> CatalogChunk:
        self.visited.add(key)
        return CatalogChunk(position, key, pages)

    async def _walk(self) -> AsyncIterator[CatalogChunk]:
        rt, client, stream = self._rt, self._client, self._stream
        key, platform = rt.spec.key, rt.platform
        limit = max(1, int(rt.settings.provider(key).max_concurrent_pages))
        head = await fetch_catalog_chunk(key, platform, stream, None, client)
        self.total = head.get("total")
        yield self._chunk(0, HEAD_CHUNK, head)
        token: str | None = head["next_token"]
        position = 1
        guard = PageTokenGuard(f"{key}/{stream}")
        announced = head.get("tokens")
        if announced:
            token = None
            async for index, group, chunk in self._announced(announced, limit):
                yield self._chunk(1 + index, group[0], chunk)
                if index == self._groups(announced) - 1 and not chunk.get("ended"):
                    token = chunk["next_token"]  # None, unless the catalog goes on past the announced pages
            position = 1 + self._groups(announced)
        while token is not None:
            guard.check(token)
            chunk = await fetch_catalog_chunk(key, platform, stream, token, client)
            yield self._chunk(position, token, chunk)
            position += 1
            token = chunk["next_token"]

    @staticmethod
    def _groups(tokens: Sequence[str]) -> int:
        return -(-len(tokens) // PAGES_PER_CHUNK)

    async def _announced(self, tokens: Sequence[str], limit: int) -> AsyncIterator[tuple[int, Sequence[str], dict[str, Any]]]:
        """The announced pages in chunks, at most `limit` chunks in flight, in completion order.

        A chunk is started only while no page has ended the walk (`tasks.extract.ends_walk`), so
        an announced total larger than the catalog costs at most `limit` chunks of pages past
        its end; chunks after the end are dropped, errors included.
        """
        key, platform, stream, client = self._rt.spec.key, self._rt.platform, self._stream, self._client
        gate = asyncio.Semaphore(limit)
        count = self._groups(tokens)
        end: int | None = None
        started = 0
        in_flight: dict[asyncio.Future[tuple[int, dict[str, Any]]], int] = {}

        async def fetch(index: int, group: Sequence[str]) -> tuple[int, dict[str, Any]]:
            return index, await fetch_catalog_chunk(key, platform, stream, group[0], client, tokens=group, gate=gate)

        def group(index: int) -> Sequence[str]:
            return tokens[index * PAGES_PER_CHUNK : (index + 1) * PAGES_PER_CHUNK]

        try:
            while True:
                while len(in_flight) < limit and started < count and end is None:
                    in_flight[asyncio.ensure_future(fetch(started, group(started)))] = started
                    started += 1
                if not in_flight:
                    return
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for future in sorted(done, key=in_flight.__getitem__):
                    index = in_flight.pop(future)
                    if end is not None and index > end:
                        if not future.cancelled():
                            future.exception()  # a page past the end: its answer does not count
                        continue
                    _, chunk = future.result()
                    if chunk.get("ended"):
                        end = index if end is None else min(end, index)
                        for other, later in list(in_flight.items()):
                            if later > end:
                                other.cancel()
                    yield index, group(index), chunk
        finally:
            for future in in_flight:
                future.cancel()


@dataclass
class CatalogRead:
    """A provider catalog read, mapped and prepared for the plan."""

    extract: pd.DataFrame  # tasks.diff.prepare_extract rows, in page order, one per course
    quarantine: pd.DataFrame
    ignored: pd.DataFrame
    incomplete: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class StreamRead:
    """What one catalog stream's walk gathered besides its chunks: for completeness and notes."""

    keys: set[str] = field(default_factory=set)
    records: int = 0
    truncated: int = 0


@dataclass
class CatalogParts:
    """The mapped chunks of every stream, gathered as they arrive and put in page order at the end."""

    extracts: list[tuple[tuple[int, int], pd.DataFrame]] = field(default_factory=list)
    quarantine: list[pd.DataFrame] = field(default_factory=list)
    ignored: list[pd.DataFrame] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, where: tuple[int, int], prepared: PreparedChunk, tally: StreamRead) -> None:
        tally.keys.update(prepared.record_keys)
        tally.records += prepared.records
        tally.truncated += prepared.truncated
        self.quarantine.append(prepared.quarantine)
        self.ignored.append(prepared.ignored)
        self.extracts.append((where, prepared.extract))

    def result(self, duplicates_keep: str) -> CatalogRead:
        ordered = [e for _, e in sorted(self.extracts, key=lambda item: item[0])]
        extract = pd.concat(ordered, ignore_index=True) if ordered else prepare_extract(pd.DataFrame(columns=["externalId"]))
        extract, repeated = drop_repeated_ids(extract, duplicates_keep)
        ignored = self.ignored + ([repeated] if len(repeated) else [])
        return CatalogRead(
            extract=extract,
            quarantine=pd.concat(self.quarantine, ignore_index=True) if self.quarantine else pd.DataFrame(),
            ignored=pd.concat(ignored, ignore_index=True) if ignored else pd.DataFrame(),
            incomplete=self.incomplete,
            notes=self.notes,
        )


async def read_catalog(
    rt: Runtime, ctx: MappingContext, state: Any, filters: dict[str, list[str]], upserter: CourseUpserter | None,
    *, integration_pk: int | None = None, remember: bool = True,
) -> CatalogRead:
    """Read, map and prepare every catalog stream chunk by chunk, as pages arrive.

    Mapping and planning a chunk run in a worker thread while the event loop goes on fetching
    pages. With an `upserter`, each chunk's new and changed courses are queued for 360Learning
    at once (a bulk job leaves as soon as it is full), so the bulk jobs run while later pages
    are read. The run's plan over the whole catalog stays the authority (`push_catalog` sends
    what these early sends did not cover). `state`: the stored courses, or an awaitable of them.
    With an `integration_pk`, chunks whose pages come back unchanged reuse their stored
    mapping, and fresh mappings are stored when `remember` (tasks/mapped_chunks.py).
    The caller pauses the cyclic GC around it (run_content_sync does).
    """
    parts = CatalogParts()
    announced = 0  # courses the streams walked so far announced (or served)
    client = rt.provider_client()
    with responsive_switching():  # the loop handles pages while the worker thread maps
        try:
            for s_index, stream in enumerate(rt.spec.catalog_streams(ctx.options)):
                cache = await _mapping_cache(rt, client, stream, ctx, integration_pk, remember)
                walk = CatalogWalk(rt, client, stream)
                tally = StreamRead()
                async for chunk in walk:
                    state = state if isinstance(state, pd.DataFrame) else await state
                    prepared, early = await in_run_graph(
                        map_catalog_chunk, rt, client, chunk, stream, ctx, state, filters, upserter is not None, cache
                    )
                    if chunk.pages.get("bodies") is not None:
                        # Prefect keeps each task's result for the whole flow run: keep the
                        # bodies (a copy of the retry cache), not the parsed records as well.
                        chunk.pages["records"] = None
                    if prepared is None:
                        continue
                    parts.add((s_index, chunk.position), prepared, tally)
                    if upserter is not None:
                        upserter.expect(announced + max(walk.total or 0, tally.records))
                    if upserter is not None and len(early):
                        # an id also served by an earlier chunk waits for the plan
                        upserter.add(early[~early["external_id"].isin(upserter.sent_hash)])
                await _end_of_stream(rt, stream, walk, tally, cache, parts)
                announced += max(walk.total or 0, tally.records)
        finally:
            await client.aclose()
    return parts.result(rt.spec.duplicates_keep)


async def _mapping_cache(
    rt: Runtime, client: Any, stream: str, ctx: MappingContext, integration_pk: int | None, remember: bool,
) -> MappedChunkCache | None:
    """The stream's stored mappings (pages unchanged since they were mapped are not mapped again)."""
    if integration_pk is None or not rt.settings.mapping_cache:
        return None
    cache = await asyncio.to_thread(
        MappedChunkCache, rt.store, integration_pk, stream, context_key(rt.spec.key, stream, ctx), writable=remember
    )
    client.known_pages = cache.known_pages()
    return cache


async def _end_of_stream(
    rt: Runtime, stream: str, walk: CatalogWalk, tally: StreamRead, cache: MappedChunkCache | None, parts: CatalogParts,
) -> None:
    """Say what the stream's walk read, judge its completeness, and prune mappings it no longer serves."""
    logger().info("%s/%s: %d records extracted", rt.spec.key, stream, tally.records)
    if tally.truncated:
        parts.notes.append(f"{stream}: {tally.truncated} descriptions longer than the accepted size were cut (with an ellipsis)")
    reason = completeness(tally.keys, walk.total, tally.records)
    if reason:
        parts.incomplete.append(f"{stream}: {reason}")
    if cache is None:
        return
    if cache.reused:
        parts.notes.append(
            f"{stream}: {cache.reused} of {cache.reused + cache.mapped} chunks of pages unchanged since they were last mapped (mapping reused)"
        )
    if not reason:  # a partial walk visited only some pages: the others' mappings stay
        await asyncio.to_thread(cache.prune, walk.visited)


def map_task_name() -> str:
    """map-catalog-chunk runs: `map-udemy-courses-chunk3` (chunks counted as the provider pages them)."""
    return f"map-{stage_param('rt').spec.key}-{stage_param('stream')}-chunk{stage_param('chunk').position + 1}"


def plan_task_name() -> str:
    return f"plan-catalog-{stage_param('rt').spec.key}"


@task(name="map-catalog-chunk", cache_policy=NO_CACHE, task_run_name=map_task_name)
async def map_catalog_chunk(
    rt: Runtime, client: Any, chunk: CatalogChunk, stream: str, ctx: MappingContext, state: pd.DataFrame,
    filters: dict[str, list[str]], early: bool, cache: MappedChunkCache | None,
) -> tuple[PreparedChunk | None, pd.DataFrame]:
    """The provider's rules on one chunk of pages, in a worker thread while pages keep arriving."""
    return await asyncio.to_thread(_process_chunk, rt, client, chunk, stream, ctx, state, filters, early, cache)


@task(name="plan-catalog", cache_policy=NO_CACHE, task_run_name=plan_task_name)
async def plan_catalog(
    rt: Runtime, extract: pd.DataFrame, state: pd.DataFrame, filters: dict[str, list[str]], force: bool, complete: bool,
) -> CatalogPlan:
    """The decision table over the whole catalog against the stored courses (tasks/diff.py)."""
    return plan_extract(
        extract, state, rt.spec, filters, guard_ratio=rt.settings.archive_guard_ratio, force=force, complete=complete, payloads=False,
    )


def _process_chunk(
    rt: Runtime, client: Any, chunk: CatalogChunk, stream: str, ctx: MappingContext, state: pd.DataFrame,
    filters: dict[str, list[str]], early: bool, cache: MappedChunkCache | None,
) -> tuple[PreparedChunk | None, pd.DataFrame]:
    """Map a chunk by the provider's rules (or take its stored mapping when its pages are
    unchanged), prepare it for the plan and, when `early`, pick the courses it creates or
    changes (pure CPU work, run off the event loop). None for a chunk without records."""
    pages = chunk.pages
    digests = pages.get("digests") or []
    prepared = cache.lookup(chunk.key, digests) if cache is not None else None
    if prepared is None:
        records = records_of(pages, client, stream)
        if not records:
            return None, pd.DataFrame()
        result = rt.spec.map_catalog(pd.DataFrame.from_records(records), stream, ctx)
        contract = enforce_course_contract(result.courses)
        quarantine = pd.concat([result.quarantine, contract.quarantine], ignore_index=True) if len(contract.quarantine) else result.quarantine
        prepared = PreparedChunk(
            extract=prepare_extract(contract.courses), quarantine=quarantine, ignored=result.ignored,
            record_keys=list(record_keys(records)), records=len(records), truncated=contract.truncated,
        )
        if cache is not None:
            cache.save(chunk.key, digests, pages.get("next_tokens") or [], prepared)
    extract = prepared.extract
    sends = _early_sends(extract, state, rt.spec, filters) if early and len(extract) else extract.iloc[0:0]
    return prepared, sends


def _early_sends(extract: pd.DataFrame, state: pd.DataFrame, spec: Any, filters: dict[str, list[str]]) -> pd.DataFrame:
    """The plan rows of a chunk's created/updated courses (restores and archives wait for the plan)."""
    if len(state):
        # A course whose payload hash is stored unchanged is neither created nor updated: only
        # the others need planning (a no-change re-sync plans nothing here).
        stored = pd.Series(state["payload_hash"].to_numpy(), index=state["external_id"].to_numpy())
        stored = stored[~stored.index.duplicated()]
        changed = (extract["external_id"].map(stored) != extract["payload_hash"]).to_numpy()
        extract = extract[changed]
        if not len(extract):
            return extract
    known = state[state["external_id"].isin(extract["external_id"])] if len(state) else state
    chunk_plan = plan_extract(extract, known, spec, filters, complete=False, force=True)
    return chunk_plan.items[chunk_plan.items["outcome"].isin(["created", "updated"])]


@flow(name="content-sync", flow_run_name="content-{provider}-{platform}", log_prints=True)
async def content_sync(
    provider: str, platform: str = "default", dry_run: bool = False, force: bool = False, wait: bool = False
) -> FlowResult:
    """Extract the provider catalog, map it by the provider's rules (docs/rules/), diff against state, push to 360Learning.

    dry_run: compute and report the full diff, write nothing (360Learning nor state).
    force: archive even when the extract shrank below the guard ratio.
    wait: when another content run of this provider and platform is going, wait for it to end
    (default: stop at once, saying so).
    """
    rt = Runtime.build(provider, platform)
    try:
        return await run_content_sync(rt, dry_run=dry_run, force=force, wait=wait)
    except RunInProgress as busy:
        return refused(busy)


async def run_content_sync(
    rt: Runtime, *, dry_run: bool = False, force: bool = False, progress: Any = None, wait: bool = False
) -> Any:
    """One content sync; a real one holds the content run lease of its provider and platform
    (a dry run writes nothing, so it needs none)."""
    if dry_run:
        return await _content_sync(rt, dry_run=True, force=force, progress=progress)
    async with run_lease(rt, "content", wait=wait):
        return await _content_sync(rt, dry_run=False, force=force, progress=progress)


async def _content_sync(rt: Runtime, *, dry_run: bool, force: bool, progress: Any) -> Any:
    spec, store = rt.spec, rt.store
    report = RunReport(provider=spec.key, kind="content", platform=rt.platform, dry_run=dry_run)
    run_pk = None if dry_run else store.start_run(spec.key, rt.platform, RunKind.content, dry_run, {"force": force}, flow_run_id())
    try:
        async with rt.lms_client() as lms:
            integration = await ensure_integration(rt, lms, create=not dry_run) if not dry_run else (
                store.get_integration(spec.key, rt.platform) or {"id": None, "options": dict(spec.default_options), "filters": {}}
            )
            if not dry_run:
                await resolve_pending_jobs(lms, store, integration, report)
            if integration.get("id"):  # quarantine already open is not news (docs: D-15)
                report.recall_quarantine(store.open_quarantine_keys(integration["id"], "course"))
            options = {**spec.default_options, **(integration.get("options") or {})}
            ctx = MappingContext(owner_lang=rt.lms_settings.owner_lang, now=now_utc(), options=options)
            # the stored courses load in a thread while the first pages are fetched
            loading = asyncio.ensure_future(asyncio.to_thread(store.load_courses, integration["id"])) if integration.get("id") else None
            filters = integration.get("filters") or {}
            outcomes: list[dict[str, Any]] = []
            upserter = None if dry_run else CourseUpserter(
                lms=lms, store=store, integration=integration, run_pk=run_pk, report=report, outcomes=outcomes, now=now_utc(), progress=progress
            )
            try:
                # Reading and planning hold the catalog's records and frames (acyclic, freed by
                # refcounting): a cyclic collection halfway would walk all of them for nothing.
                with paused_gc():
                    read = await read_catalog(
                        rt, ctx, loading if loading is not None else pd.DataFrame(), filters, upserter,
                        integration_pk=integration.get("id"), remember=not dry_run,
                    )
                    state = await loading if loading is not None else pd.DataFrame()
                    incomplete = read.incomplete
                    plan = await in_run_graph(plan_catalog, rt, read.extract, state, filters, force, not incomplete)
            except Exception:
                if upserter is not None:
                    await upserter.abort()  # jobs already accepted end and are recorded
                raise
            report.notes.extend(read.notes)
            for reason in incomplete:
                report.notes.append(f"incomplete catalog read ({reason}): nothing archived as missing this run")
                report.error(spec.key, "failed", f"incomplete catalog read: {reason}")
                report.add("failed")
            _report_mapping_rejects(report, read.quarantine, read.ignored)
            report.add("ignored", plan.counts.get("ignored", 0))
            if dry_run:
                for outcome in ("created", "updated", "unchanged", "archived", "restored"):
                    report.add(outcome, plan.counts.get(outcome, 0))
                report.notes.append("dry run: the counts are what a real run would do; nothing was written")
                report.planned, report.planned_total = planned_items(plan.items, _stored_payloads(store, integration, plan.items))
            else:
                report.add("unchanged", plan.counts.get("unchanged", 0))
                _count_resumed(report, plan.items)
                _record_quarantine(store, integration["id"], run_pk, read.quarantine, read.extract, report)
                await push_catalog(
                    plan, lms=lms, store=store, integration=integration, run_pk=run_pk, report=report,
                    progress=progress, upserter=upserter, outcomes=outcomes,
                )
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


def _count_resumed(report: RunReport, items: pd.DataFrame) -> None:
    """Courses a resumed bulk job confirmed at the start of this run count as what that job did
    (created, updated, archived), not as unchanged: the plan found them already in state."""
    if not report.resumed:
        return
    unchanged = items.loc[items["outcome"].isin(["unchanged", "absent"]), "external_id"]
    for ext in unchanged:
        outcome = report.resumed.get(ext)
        if outcome in ("created", "updated", "archived"):
            if items.loc[items["external_id"] == ext, "outcome"].iat[0] == "unchanged":
                report.counts["unchanged"] -= 1
            report.add(outcome)
def _stored_payloads(store: Any, integration: dict, items: pd.DataFrame) -> dict[str, Any]:
    """What 360Learning holds of the courses a dry run would update (their changed fields)."""
    updated = items.loc[items["outcome"].isin(["updated", "retag"]), "external_id"].head(MAX_PLANNED)
    return store.course_payloads(integration["id"], updated.tolist()) if integration.get("id") and len(updated) else {}


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


def _record_quarantine(store: Any, integration_pk: int, run_pk: int | None, quarantine: pd.DataFrame, extract: pd.DataFrame, report: RunReport) -> None:
    now = now_utc()
    if len(quarantine):
        items = quarantine[["external_id", "field", "reason"]].astype(str).to_dict("records")
        store.quarantine(integration_pk, "course", items, now)
        if run_pk is not None:
            store.add_outcomes(run_pk, [{"kind": "course", "outcome": "quarantined", **i} for i in items])
    if len(extract):
        store.resolve_quarantine(integration_pk, "course", extract["external_id"].tolist(), now)
