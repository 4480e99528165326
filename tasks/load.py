"""Push a plan to 360Learning and write state only for what 360Learning confirmed.

Order per run (as edX's transmitters): archive, then upsert (create/update/restore), then
unarchive restored courses, then tags (merged, manual tags survive) and skills (replaced).
Each bulk job is recorded in the state store as soon as 360Learning accepts it, so a run
killed before confirmation is resolved by the next run (`resolve_pending_jobs`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import pandas as pd

from tasks.diff import CatalogPlan
from tasks.report import RunReport
from tasks.stats_rules import StatsPlan, stat_payloads

ProgressFn = Callable[[str, int, int], None]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def result_fields(result: Any) -> tuple[bool, str | None, str | None, dict[str, Any]]:
    """(ok, resourceId, errorMessage, input) from a bulk item result (pydantic model or dict)."""
    if hasattr(result, "ok") and hasattr(result, "input"):  # lms360 models: no dump per item
        return bool(result.ok), getattr(result, "resource_id", None), getattr(result, "error_message", None), result.input or {}
    data = result.model_dump(by_alias=True) if hasattr(result, "model_dump") else dict(result)
    ok = data.get("status") == "success"
    resource = data.get("resourceId") or data.get("resource_id")
    message = data.get("errorMessage") or data.get("error_message")
    return ok, resource, message, data.get("input") or {}


def _job_recorder(store: Any, integration_pk: int, run_pk: int | None, operation: str, key_fn: Callable[[dict], dict]):
    async def on_submitted(bulk_operation_id: str, batch: list[dict]) -> None:
        store.record_bulk_job(integration_pk, run_pk, operation, bulk_operation_id, [key_fn(item) for item in batch])

    return on_submitted


async def _confirm_jobs(store: Any, lms: Any, integration_pk: int) -> None:
    """Mark as confirmed every job of this integration whose results we have applied."""
    for job in store.pending_bulk_jobs(integration_pk):
        status = await lms.wait_bulk(job["bulk_operation_id"])
        done = getattr(status, "status", None) or status.get("status")
        store.confirm_bulk_job(job["bulk_operation_id"], "confirmed" if done == "completed" else "failed")


async def resolve_pending_jobs(lms: Any, store: Any, integration: dict, report: RunReport) -> int:
    """A previous run died between a bulk job's acceptance and its confirmation: apply its results now."""
    pending = store.pending_bulk_jobs(integration["id"])
    now = _now()
    for job in pending:
        status = await lms.wait_bulk(job["bulk_operation_id"])
        done = getattr(status, "status", None) or status.get("status")
        if done != "completed":
            store.confirm_bulk_job(job["bulk_operation_id"], "failed")
            continue
        results = await lms.bulk_results(job["bulk_operation_id"])
        by_key = {_item_key(job["operation"], result_fields(r)[3]): result_fields(r) for r in results}
        rows = []
        for item in job["items"] or []:
            ok, resource, _msg, _inp = by_key.get(item.get("key"), (False, None, None, {}))
            if not ok:
                continue
            if job["operation"] == "upsert":
                # A course being restored stays archived until its unarchive call: the next plan redoes it.
                status = "archived" if item.get("outcome") == "restored" else "active"
                rows.append({"external_id": item["key"], "course_id": resource, "status": status, "payload_hash": item.get("payload_hash"), "action": "updated"})
            elif job["operation"] == "archive":
                rows.append({"external_id": item["key"], "status": "archived", "archived_reason": item.get("reason"), "action": "archived"})
        if job["operation"] in ("upsert", "archive") and rows:
            store.apply_course_results(integration["id"], rows, now)
        if job["operation"] == "stats":
            stat_rows = [
                _stat_state_row(item)
                for item in job["items"] or []
                if by_key.get(item.get("key"), (False,))[0]
            ]
            if stat_rows:
                store.apply_stat_results(integration["id"], stat_rows, now)
        store.confirm_bulk_job(job["bulk_operation_id"], "confirmed")
        report.notes.append(f"resumed bulk job {job['bulk_operation_id']} ({job['operation']}): applied the results it had left unconfirmed")
    return len(pending)


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


def _stat_state_row(item: dict[str, Any]) -> dict[str, Any]:
    """A confirmed stat as the state store keeps it (the job record holds JSON, the store datetimes)."""
    row = {k: item[k] for k in ("course_external_id", "user_email", "attempt_no", "completed", "payload_hash")}
    row["first_activity_at"] = pd.Timestamp(item["first_activity_at"]).to_pydatetime()
    return row


def _item_key(operation: str, item_input: dict[str, Any]) -> str:
    if operation == "stats":
        return f"{item_input.get('courseIdentifier', {}).get('value')}|{item_input.get('userIdentifier', {}).get('value')}"
    return str(item_input.get("externalId"))


async def push_catalog(
    plan: CatalogPlan,
    *,
    lms: Any,
    store: Any,
    integration: dict,
    run_pk: int | None,
    report: RunReport,
    progress: ProgressFn | None = None,
) -> None:
    """Send the plan's archive/upsert/restore/tag/skill work; record confirmed items in state."""
    pk, iid = integration["id"], integration["integration_id"]
    items = plan.items
    outcomes: list[dict[str, Any]] = []
    now = _now()

    archive = items[items["outcome"] == "archived"]
    if len(archive):
        reasons = dict(zip(archive["external_id"], archive["reason"]))
        results = await _recording_failures(
            lms, store, integration, report,
            lms.archive_courses(
                iid,
                archive["external_id"].tolist(),
                on_submitted=_job_recorder(store, pk, run_pk, "archive", lambda it: {"key": it["externalId"], "reason": reasons.get(it["externalId"])}),
            ),
        )
        rows = []
        for r in results:
            ok, _res, msg, inp = result_fields(r)
            ext = str(inp.get("externalId"))
            if ok:
                rows.append({"external_id": ext, "status": "archived", "archived_reason": reasons.get(ext), "action": "archived"})
                outcomes.append({"kind": "course", "external_id": ext, "outcome": "archived", "reason": reasons.get(ext)})
            else:
                report.add("failed")
                report.error(ext, "failed", f"archive: {msg}")
                outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"archive: {msg}"})
        report.add("archived", len(rows))
        store.apply_course_results(pk, rows, now)
        await _confirm_jobs(store, lms, pk)
        if progress:
            progress("archive", len(archive), len(archive))

    send = items[items["outcome"].isin(["created", "updated", "restored"])]
    confirmed: dict[str, str] = {}
    if len(send):
        meta = send.set_index("external_id")
        hashes = meta["payload_hash"].to_dict()
        planned = meta["outcome"].to_dict()
        results = await _recording_failures(
            lms, store, integration, report,
            lms.upsert_courses(
                iid,
                send["payload"].tolist(),
                on_submitted=_job_recorder(
                    store, pk, run_pk, "upsert",
                    lambda it: {"key": it["externalId"], "payload_hash": hashes.get(it["externalId"]), "outcome": planned.get(it["externalId"])},
                ),
            ),
        )
        # Plain dicts, not per-row DataFrame lookups: this loop sees every confirmed course.
        payloads = dict(zip(send["external_id"], send["payload"]))
        known_ids = dict(zip(send["external_id"], send["course_id"]))
        extras = {
            e: {**(x if isinstance(x, dict) else {}), "filter_lang": fl, "filter_type": ft}
            for e, x, fl, ft in zip(send["external_id"], send["extra"], send["filter_lang"], send["filter_type"])
        }
        rows = []
        for r in results:
            ok, resource, msg, inp = result_fields(r)
            ext = str(inp.get("externalId"))
            outcome = planned.get(ext, "updated")
            if not ok:
                report.add("failed")
                report.error(ext, "failed", msg or "rejected by 360Learning")
                outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": msg})
                continue
            confirmed[ext] = resource or known_ids.get(ext)
            rows.append(
                {
                    "external_id": ext,
                    "course_id": confirmed[ext],
                    # a restored course stays archived until the unarchive call below succeeds
                    "status": "archived" if outcome == "restored" else "active",
                    "payload_hash": hashes[ext],
                    "payload": payloads[ext],
                    "extra": extras[ext],
                    "action": "created" if outcome == "created" else "updated",
                }
            )
            if outcome != "restored":
                report.add(outcome)
                outcomes.append({"kind": "course", "external_id": ext, "outcome": outcome})
        store.apply_course_results(pk, rows, now)
        await _confirm_jobs(store, lms, pk)
        if progress:
            progress("upsert", len(send), len(send))

    restored = send[send["outcome"] == "restored"] if len(send) else send
    restored = restored[restored["external_id"].isin(confirmed)] if len(restored) else restored
    if len(restored):
        await _restore(lms, store, pk, [(e, confirmed[e]) for e in restored["external_id"]], report, outcomes, now)

    retag = items[items["outcome"] == "retag"]
    if len(retag):
        ids = dict(zip(retag["external_id"], retag["course_id"]))
        await _apply_tags_and_skills(lms, store, pk, retag.assign(skills=None), ids, report, outcomes, now)
        report.add("updated", len(retag))
        outcomes.extend({"kind": "course", "external_id": e, "outcome": "updated", "reason": "tags"} for e in retag["external_id"])
    if len(send):
        await _apply_tags_and_skills(lms, store, pk, send[send["external_id"].isin(confirmed)], confirmed, report, outcomes, now)
    steady = items[(items["outcome"] == "unchanged") & (items["status"] == "active") & items["course_id"].notna()]
    steady = steady[[s is not None and not (isinstance(s, float)) for s in steady["skills"]]]
    if len(steady):
        await sync_skills(lms, store, pk, steady, dict(zip(steady["external_id"], steady["course_id"])), report, outcomes, now, count_drift=True)
    store.add_outcomes(run_pk, outcomes) if run_pk is not None and outcomes else None


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
    results = await _bounded([lambda cid=cid: lms.set_course_archived(cid, False) for _ext, cid in pairs])
    rows = []
    for (ext, cid), res in zip(pairs, results):
        if isinstance(res, Exception):
            report.add("failed")
            report.error(ext, "failed", f"restore: {res}")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"restore: {res}"})
        else:
            rows.append({"external_id": ext, "course_id": cid, "status": "active", "archived_reason": None, "action": "restored"})
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "restored"})
    report.add("restored", len(rows))
    store.apply_course_results(pk, rows, now)


async def _apply_tags_and_skills(
    lms: Any, store: Any, pk: int, sent: pd.DataFrame, course_ids: dict[str, str], report: RunReport, outcomes: list, now: datetime
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

        results = await _bounded([lambda e=e, w=w: merge_tags(e, w) for e, w in zip(with_tags["external_id"], with_tags["tags"])])
        rows = []
        for ext, res in zip(with_tags["external_id"], results):
            if isinstance(res, Exception):
                report.add("failed")
                report.error(ext, "failed", f"tags: {res}")
                outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"tags: {res}"})
            else:
                rows.append({"external_id": ext, "tags": res, "action": "tags"})
        store.apply_course_results(pk, rows, now)
    if len(with_skills):
        await sync_skills(lms, store, pk, with_skills, course_ids, report, outcomes, now, count_drift=False)


async def sync_skills(
    lms: Any, store: Any, pk: int, rows: pd.DataFrame, course_ids: dict[str, str], report: RunReport,
    outcomes: list, now: datetime, *, count_drift: bool,
) -> None:
    """Skills are replaced, not merged: a skill added by hand disappears at the next sync.

    Reads each course's skills and writes only where they differ, so unchanged courses cost a
    read; `count_drift` counts a rewritten unchanged course as updated.
    """
    names = sorted({s for skills in rows["skills"] for s in skills})
    skill_ids = await lms.ensure_skills(names) if names else {}

    async def replace_skills(ext: str, wanted: list[str]) -> bool:
        cid = course_ids[ext]
        target = [skill_ids[n] for n in wanted if n in skill_ids]
        current = [getattr(c, "skill_id", None) or c["skillId"] for c in await lms.get_course_skills(cid)]
        if sorted(current) == sorted(target):
            return False
        await lms.replace_course_skills(cid, target)
        return True

    results = await _bounded([lambda e=e, w=w: replace_skills(e, w) for e, w in zip(rows["external_id"], rows["skills"])])
    done = []
    for ext, wanted, res in zip(rows["external_id"], rows["skills"], results):
        if isinstance(res, Exception):
            report.add("failed")
            report.error(ext, "failed", f"skills: {res}")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"skills: {res}"})
            continue
        done.append({"external_id": ext, "skills": wanted, "action": "tags"})
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
) -> None:
    """Import planned stat items; record confirmed attempts; failures (unknown users...) reported."""
    pk, iid = integration["id"], integration["integration_id"]
    items = plan.items
    report.add("unchanged", plan.unchanged)
    if items.empty:
        return
    items = items.assign(key=items["course_external_id"].astype(str) + "|" + items["user_email"].astype(str))
    first_iso = items["first"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    state_items = {
        k: {"key": k, "course_external_id": c, "user_email": u, "first_activity_at": f, "attempt_no": int(a), "completed": bool(done), "payload_hash": h}
        for k, c, u, f, a, done, h in zip(
            items["key"], items["course_external_id"], items["user_email"], first_iso, items["attempt_no"], items["completed"], items["payload_hash"]
        )
    }
    results = await _recording_failures(
        lms, store, integration, report,
        lms.import_stats(
            iid,
            stat_payloads(items),
            on_submitted=_job_recorder(store, pk, run_pk, "stats", lambda it: state_items[_item_key("stats", it)]),
        ),
    )
    rows, outcomes = [], []
    for r in results:
        ok, _res, msg, inp = result_fields(r)
        key = _item_key("stats", inp)
        if ok:
            rows.append(_stat_state_row(state_items[key]))
        else:
            # A learner without a 360Learning account is expected (same e-mail on both sides is the
            # matching rule): reported as ignored, retried next run in case the account appears.
            outcome = "ignored" if msg and "userNotFound" in msg else "failed"
            report.add(outcome)
            report.error(key, outcome, msg or "rejected by 360Learning")
            outcomes.append({"kind": "stat", "external_id": key, "outcome": outcome, "reason": msg})
    existing = dict(zip(items["key"], items["existing"]))
    for row in rows:
        key = f"{row['course_external_id']}|{row['user_email']}"
        outcome = "updated" if existing.get(key) else "created"
        report.add(outcome)
        outcomes.append({"kind": "stat", "external_id": key, "outcome": outcome})
    store.apply_stat_results(pk, rows, _now())
    await _confirm_jobs(store, lms, pk)
    if run_pk is not None and outcomes:
        store.add_outcomes(run_pk, outcomes)
