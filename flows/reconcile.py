"""Drift repair: what 360Learning holds for an integration, compared with the state store.

Reads the integration's courses through documented endpoints (the course list filtered by
type and group, the external-course get per synced course), reports every difference
(tasks/reconcile.py) and, unless `dry_run`, repairs them through the normal confirmed path:
a bulk upsert of the payload last confirmed (missing or edited courses), the archive endpoint
(restored or re-archived courses). State rows are written only for what 360Learning confirmed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pandas as pd
from prefect import flow

from learnsync.core.http import ApiError
from learnsync.flows.common import (
    FlowResult,
    ensure_integration,
    final_state,
    flow_run_id,
    logger,
    now_utc,
    publish_report,
    run_lease,
)
from learnsync.flows.runtime import Runtime
from learnsync.statestore.models import RunKind
from learnsync.tasks.confirmed import restored_row
from learnsync.tasks.course_upserts import CourseUpserter
from learnsync.tasks.load import archive_courses
from learnsync.tasks.reconcile import DRIFT_KINDS, Remote, find_drift
from learnsync.tasks.report import RunReport


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


_NOT_IN_INTEGRATION = {"courseNotBelongToIntegration", "courseNotFound"}


async def read_remote(lms: Any, integration: dict[str, Any], external_ids: list[str]) -> Remote:
    """The integration's courses as 360Learning holds them (list + one external-course get each)."""
    iid, name = integration["integration_id"], integration.get("external_platform")
    listed = await lms.list_courses(group_id=integration.get("group_id"))
    remote = Remote(status={c.id: str(c.status) for c in listed if c.external_platform == name})
    sem = asyncio.Semaphore(8)

    async def one(ext: str) -> None:
        async with sem:
            try:
                view = await lms.get_external_course(iid, ext)
            except ApiError as exc:
                if exc.code in _NOT_IN_INTEGRATION:
                    remote.external[ext] = None
                    return
                raise
            remote.external[ext] = view.model_dump(by_alias=True)
            cid = view.course_id
            if cid not in remote.status:  # listed under another group or name: ask the course itself
                try:
                    remote.status[cid] = str((await lms.get_course(cid)).status)
                except ApiError as exc:
                    if exc.code != "courseNotFound":
                        raise

    await asyncio.gather(*(one(e) for e in external_ids))
    return remote


@flow(name="reconcile", flow_run_name="reconcile-{provider}-{platform}", log_prints=True)
async def reconcile(provider: str, platform: str = "default", dry_run: bool = False) -> FlowResult:
    """Report (and unless dry_run, repair) what changed in 360Learning behind learnsync's back."""
    rt = Runtime.build(provider, platform)
    store = rt.store
    report = RunReport(provider=provider, kind=RunKind.reconcile.value, platform=platform, dry_run=dry_run)
    run_pk = None
    try:
        # Repairs write course state: never beside a content run (a dry run writes nothing).
        async with (run_lease(rt, "content") if not dry_run else _nothing()), rt.lms_client() as lms:
            integration = await ensure_integration(rt, lms, create=False)
            pk = integration["id"]
            if not dry_run:
                run_pk = store.start_run(provider, platform, RunKind.reconcile, False, {}, flow_run_id())
            state = store.load_courses(pk, with_extra=True)
            synced = state[state["course_id"].notna()]
            remote = await read_remote(lms, integration, synced["external_id"].astype(str).tolist())
            payloads = store.load_course_payloads(pk)
            drift = find_drift(state, payloads, remote)
            _describe(report, drift, len(synced))
            if dry_run:
                report.notes.append("dry run: nothing was repaired")
            else:
                await _repair(lms, store, integration, state, payloads, drift, report, run_pk)
    except Exception as exc:
        if run_pk is not None:
            store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
        raise
    if run_pk is not None:
        store.finish_run(run_pk, report.status, report.counts)
    await publish_report(report)
    logger().info("%s reconcile: %s", provider, report.counts)
    return final_state(report)


def _describe(report: RunReport, drift: pd.DataFrame, checked: int) -> None:
    by_kind = drift["kind"].value_counts().to_dict() if len(drift) else {}
    summary = ", ".join(f"{by_kind.get(k, 0)} {k.replace('_', ' ')}" for k in DRIFT_KINDS)
    report.notes.append(f"compared {checked} synced courses with 360Learning: {summary}")
    report.add("unchanged", max(0, checked - drift.loc[drift["kind"] != "unknown", "external_id"].nunique()))
    for row in drift.itertuples(index=False):
        report.skipped[row.kind] = report.skipped.get(row.kind, 0) + 1
        if row.kind == "unknown":
            report.notes.append(f"course {row.course_id}: {row.detail} (not repaired: its externalId is not known)")


async def _repair(
    lms: Any, store: Any, integration: dict, state: pd.DataFrame, payloads: dict[str, Any], drift: pd.DataFrame, report: RunReport,
    run_pk: int | None = None,
) -> None:
    pk = integration["id"]
    now = now_utc()
    by_ext = state.set_index("external_id")
    outcomes: list[dict[str, Any]] = []

    resend = drift[drift["kind"].isin(["missing", "edited"])].drop_duplicates("external_id")
    without_payload = [e for e in resend["external_id"] if not isinstance(payloads.get(e), dict)]
    for ext in without_payload:
        report.add("failed")
        report.error(ext, "failed", "no confirmed payload in state to re-send; the next content sync sends it")
    resend = resend[~resend["external_id"].isin(without_payload)]
    if len(resend):
        extras = [by_ext.at[e, "extra"] if isinstance(by_ext.at[e, "extra"], dict) else {} for e in resend["external_id"]]
        rows = pd.DataFrame(
            {
                "external_id": resend["external_id"].tolist(),
                "outcome": ["created" if k == "missing" else "updated" for k in resend["kind"]],
                "payload": [payloads[e] for e in resend["external_id"]],
                "payload_hash": [by_ext.at[e, "payload_hash"] for e in resend["external_id"]],
                "course_id": [None if k == "missing" else c for k, c in zip(resend["kind"], resend["course_id"])],
                "extra": [{k: v for k, v in x.items() if k not in ("filter_lang", "filter_type")} for x in extras],
                "filter_lang": [x.get("filter_lang") for x in extras],
                "filter_type": [x.get("filter_type") for x in extras],
            }
        )
        upserter = CourseUpserter(lms=lms, store=store, integration=integration, run_pk=run_pk, report=report, outcomes=outcomes, now=now)
        upserter.add(rows)
        await upserter.finish()

    restore = drift[drift["kind"] == "archived_elsewhere"]
    confirmed = []
    for ext, cid in zip(restore["external_id"], restore["course_id"]):
        try:
            await lms.set_course_archived(cid, False)
        except ApiError as exc:
            report.add("failed")
            report.error(ext, "failed", f"restore: {exc.code}: {exc.message}")
            continue
        confirmed.append(restored_row(ext, cid))
    report.add("restored", len(confirmed))
    store.apply_course_results(pk, confirmed, now)

    rearchive = drift[drift["kind"] == "published_elsewhere"]
    if len(rearchive):
        reasons = [by_ext.at[e, "archived_reason"] if e in by_ext.index else None for e in rearchive["external_id"]]
        archive = pd.DataFrame({"external_id": rearchive["external_id"].tolist(), "reason": reasons})
        await archive_courses(lms, store, integration, run_pk, archive, report, outcomes, now)
    if run_pk is not None and outcomes:
        store.add_outcomes(run_pk, outcomes)
