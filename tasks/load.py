"""Push a plan to 360Learning and write state only for what 360Learning confirmed.

Order per run (as edX's transmitters): archive, then upsert (create/update/restore), then
unarchive restored courses, then tags (merged, manual tags survive) and skills (the skills
library; replaced on courses where the platform has a course-skill link).
Each bulk job is recorded in the state store as soon as 360Learning accepts it, so a run
killed before confirmation is resolved by the next run (`resolve_pending_jobs`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from learnsync.tasks.bulk_jobs import JobRecorder, confirm_jobs, resolve_pending_jobs, result_fields
from learnsync.tasks.confirmed import archive_journal_item, course_row, restored_row, tags_row
from learnsync.tasks.course_upserts import SEND_OUTCOMES, CourseUpserter
from learnsync.tasks.diff import CatalogPlan, with_payloads
from learnsync.tasks.report import RunReport
from learnsync.tasks.stats_push import StatsDelivery, bulk_slots, plain_job_runner, push_stats_plan
from learnsync.tasks.stats_rules import StatsPlan

ProgressFn = Callable[[str, int, int], None]


def _now() -> datetime:
    return datetime.now(UTC)


async def _recording_failures(lms: Any, store: Any, integration: dict, report: RunReport, call: Awaitable[Any]) -> Any:
    """Run a bulk call; if it fails, first record what 360Learning already confirmed, then re-raise."""
    try:
        return await call
    except Exception:
        try:
            await resolve_pending_jobs(lms, store, integration, report)
        except Exception:  # the original failure is the one to report; the next run retries resolution
            pass
        raise


async def push_catalog(
    plan: CatalogPlan,
    *,
    lms: Any,
    store: Any,
    integration: dict,
    run_pk: int | None,
    report: RunReport,
    progress: ProgressFn | None = None,
    upserter: CourseUpserter | None = None,
    outcomes: list[dict[str, Any]] | None = None,
) -> None:
    """Send the plan's upsert/archive/restore/tag/skill work; record confirmed items in state.

    `upserter` (with its `outcomes` list): the one the run already sent courses through while
    the catalog was read; only what it has not queued (or queued with another payload) is sent.
    """
    pk = integration["id"]
    items = plan.items
    now = _now()
    outcomes = outcomes if outcomes is not None else []
    upserter = upserter or CourseUpserter(
        lms=lms, store=store, integration=integration, run_pk=run_pk, report=report, outcomes=outcomes, now=now, progress=progress
    )

    send = items[items["outcome"].isin(SEND_OUTCOMES)]
    fresh, stale = (with_payloads(rows) for rows in upserter.pending(send))
    upserter.add(fresh)  # full jobs leave now; they run while the archive below waits for a slot

    archive = items[items["outcome"] == "archived"]
    try:
        if len(archive):
            await archive_courses(lms, store, integration, run_pk, archive, report, outcomes, now)
            if progress:
                progress("archive", len(archive), len(archive))
    except Exception:
        await upserter.abort()
        raise
    await upserter.finish()
    if len(stale):  # sent earlier in the run with another copy of the record: the plan's copy wins
        upserter.add(stale)
        await upserter.finish()

    sent = upserter.sent_rows()
    restored = sent[sent["outcome"] == "restored"]
    if len(restored):
        await _restore(lms, store, pk, [(e, upserter.confirmed[e]) for e in restored["external_id"]], report, outcomes, now)

    retag = items[items["outcome"] == "retag"]
    if len(retag):
        ids = dict(zip(retag["external_id"], retag["course_id"]))
        await _apply_tags_and_skills(lms, store, pk, retag.assign(skills=None), ids, report, outcomes, now, _skill_namespace(integration))
        report.add("updated", len(retag))
        outcomes.extend({"kind": "course", "external_id": e, "outcome": "updated", "reason": "tags"} for e in retag["external_id"])
    if len(sent):
        await _apply_tags_and_skills(lms, store, pk, sent, upserter.confirmed, report, outcomes, now, _skill_namespace(integration))
    steady = items[(items["outcome"] == "unchanged") & (items["status"] == "active") & items["course_id"].notna()]
    steady = steady[[s is not None and not (isinstance(s, float)) for s in steady["skills"]]]
    if len(steady):
        await sync_skills(
            lms, store, pk, steady, dict(zip(steady["external_id"], steady["course_id"])), report, outcomes, now,
            count_drift=True, namespace=_skill_namespace(integration),
        )
    flush_client_notes(lms, report)
    store.add_outcomes(run_pk, outcomes) if run_pk is not None and outcomes else None


def _skill_namespace(integration: dict) -> str:
    """externalId prefix of the skills a provider's categories become (e.g. "edflex:Management")."""
    return str(integration.get("provider") or "skills")


async def archive_courses(
    lms: Any, store: Any, integration: dict, run_pk: int | None, archive: pd.DataFrame, report: RunReport, outcomes: list, now: datetime
) -> None:
    pk, iid = integration["id"], integration["integration_id"]
    reasons = dict(zip(archive["external_id"], archive["reason"]))
    recorder = JobRecorder(store, pk, run_pk, "archive", lambda it: archive_journal_item(it["externalId"], reasons.get(it["externalId"])))
    results = await _recording_failures(
        lms, store, integration, report, lms.archive_courses(iid, archive["external_id"].tolist(), on_submitted=recorder)
    )
    rows = []
    for r in results:
        ok, _res, msg, inp = result_fields(r)
        ext = str(inp.get("externalId"))
        if ok:
            rows.append(course_row("archive", archive_journal_item(ext, reasons.get(ext)), None))
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "archived", "reason": reasons.get(ext)})
        else:
            report.add("failed")
            report.error(ext, "failed", f"archive: {msg}")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"archive: {msg}"})
    report.add("archived", len(rows))
    store.apply_course_results(pk, rows, now)
    await confirm_jobs(store, lms, recorder.operations)


async def _bounded(calls: list[Callable[[], Awaitable[Any]]], limit: int = 8) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            try:
                return await call()
            except Exception as exc:  # one course's failure must not stop the others
                return exc

    return await asyncio.gather(*(run(c) for c in calls))


async def _restore(lms: Any, store: Any, pk: int, pairs: list[tuple[str, str]], report: RunReport, outcomes: list, now: datetime) -> None:
    results = await _bounded([functools.partial(lms.set_course_archived, cid, False) for _ext, cid in pairs])
    rows = []
    for (ext, cid), res in zip(pairs, results):
        if isinstance(res, Exception):
            report.add("failed")
            report.error(ext, "failed", f"restore: {res}")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"restore: {res}"})
        else:
            rows.append(restored_row(ext, cid))
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "restored"})
    report.add("restored", len(rows))
    store.apply_course_results(pk, rows, now)


async def _apply_tags_and_skills(
    lms: Any, store: Any, pk: int, sent: pd.DataFrame, course_ids: dict[str, str], report: RunReport, outcomes: list, now: datetime,
    namespace: str = "skills",
) -> None:
    with_tags = sent[[bool(t) for t in sent["tags"]]]
    with_skills = sent[[s is not None for s in sent["skills"]]]
    if len(with_tags):
        names = sorted({t for tags in with_tags["tags"] for t in tags})
        tag_ids = await lms.ensure_tags(names)

        async def merge_tags(ext: str, wanted: list[str]) -> list[str]:
            cid = course_ids[ext]
            current = [getattr(t, "tag_id", None) or getattr(t, "tagId", None) or t["tagId"] for t in await lms.get_course_tags(cid)]
            merged = list(dict.fromkeys(current + [tag_ids[n] for n in wanted]))
            if set(merged) != set(current):
                await lms.replace_course_tags(cid, merged)
            return wanted

        results = await _bounded([functools.partial(merge_tags, e, w) for e, w in zip(with_tags["external_id"], with_tags["tags"])])
        rows = []
        for ext, res in zip(with_tags["external_id"], results):
            if isinstance(res, Exception):
                report.add("failed")
                report.error(ext, "failed", f"tags: {res}")
                outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"tags: {res}"})
            else:
                rows.append(tags_row(ext, tags=res))
        store.apply_course_results(pk, rows, now)
    if len(with_skills):
        await sync_skills(lms, store, pk, with_skills, course_ids, report, outcomes, now, count_drift=False, namespace=namespace)


NO_SKILL_LINK_NOTE = (
    "skills: the categories were added to the platform's skills library and kept as subjects; they are not "
    "linked to courses, because 360Learning API v2 has no course-skill endpoint (set "
    "LEARNSYNC_LMS360__COURSE_SKILLS_PATH where the platform has one)"
)


def _note_once(report: RunReport, note: str) -> None:
    if note not in report.notes:
        report.notes.append(note)


def flush_client_notes(lms: Any, report: RunReport) -> None:
    """What the 360Learning client detected during the run, said once in the report."""
    for note in getattr(lms, "notes", None) or []:
        _note_once(report, note)
    if getattr(lms, "notes", None):
        lms.notes.clear()


async def sync_skills(
    lms: Any, store: Any, pk: int, rows: pd.DataFrame, course_ids: dict[str, str], report: RunReport,
    outcomes: list, now: datetime, *, count_drift: bool, namespace: str = "skills",
) -> None:
    """Skills go to the skills library (docs: V2-21, D-14); courses get them only through a link endpoint.

    The library upsert (`PUT /bulk/skills`) is the only skills call API v2 documents. Whether
    the platform also links skills to courses is detected once per run; without a link the
    run says so once and makes no call per course. With one, skills are replaced, not merged
    (a skill added by hand disappears at the next sync): each course's skills are read and
    written only where they differ; `count_drift` counts a rewritten unchanged course as updated.
    """
    names = sorted({s for skills in rows["skills"] for s in skills})
    skill_ids = await lms.ensure_skills(names, namespace) if names else {}
    probe = next((c for c in course_ids.values() if isinstance(c, str) and c), None)
    linked = probe is not None and await lms.course_skill_link_available(probe)
    flush_client_notes(lms, report)
    if not linked:
        _note_once(report, NO_SKILL_LINK_NOTE)
        if not count_drift:  # the sent courses' skills are what the library now holds
            store.apply_course_results(
                pk, [{"external_id": e, "skills": w, "action": "tags"} for e, w in zip(rows["external_id"], rows["skills"])], now
            )
        return

    async def replace_skills(ext: str, wanted: list[str]) -> bool:
        cid = course_ids[ext]
        target = [skill_ids[n] for n in wanted if n in skill_ids]
        current = [getattr(c, "skill_id", None) or c["skillId"] for c in await lms.get_course_skills(cid)]
        if sorted(current) == sorted(target):
            return False
        await lms.replace_course_skills(cid, target)
        return True

    results = await _bounded([functools.partial(replace_skills, e, w) for e, w in zip(rows["external_id"], rows["skills"])])
    done = []
    for ext, wanted, res in zip(rows["external_id"], rows["skills"], results):
        if isinstance(res, Exception):
            report.add("failed")
            report.error(ext, "failed", f"skills: {res}")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"skills: {res}"})
            continue
        done.append(tags_row(ext, skills=wanted))
        if res and count_drift:
            report.counts["unchanged"] -= 1
            report.add("updated")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "updated", "reason": "skills changed in 360Learning"})
    store.apply_course_results(pk, done, now)


async def push_stats(
    plan: StatsPlan,
    *,
    lms: Any,
    store: Any,
    integration: dict,
    run_pk: int | None,
    report: RunReport,
) -> StatsDelivery:
    """Import planned stat items and record the confirmed attempts; say which items were not taken.

    The plan's jobs run as the statistics sync runs its own (tasks/stats_push.py), at most
    360Learning's concurrent jobs at a time, each confirmed as it ends.
    """
    report.add("unchanged", plan.unchanged)
    if plan.items.empty:
        return StatsDelivery()
    return await push_stats_plan(
        plan.items, plan.items.iloc[0:0], plain_job_runner(lms, store, integration, run_pk, report),
        lms=lms, store=store, integration=integration, report=report,
        batch_size=int(getattr(lms, "max_stats_batch", 10_000)), max_open=bulk_slots(lms),
    )
