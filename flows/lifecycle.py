"""Integration lifecycle: configure, change filters (applied at once), share, deactivate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow

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
from learnsync.tasks.diff import filter_mask
from learnsync.tasks.filters import plan_filter_change, validate_filters
from learnsync.tasks.load import archive_courses, result_fields
from learnsync.tasks.report import MAX_ERRORS_KEPT, RunReport

RESTORABLE_REASONS = ("filter", "missing", "provider")


@flow(name="configure-integration", flow_run_name="configure-{provider}-{platform}")
async def configure_integration(provider: str, platform: str = "default", options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create (or adopt) the 360Learning integration for a provider, verify it is listed, store its id and options."""
    rt = Runtime.build(provider, platform)
    existing = rt.store.get_integration(provider, platform)
    if existing and existing.get("active") is False:
        rt.store.set_integration_fields(existing["id"], active=True)
        await _set_paused(provider, platform, paused=False)
    async with rt.lms_client() as lms:
        integration = await ensure_integration(rt, lms, replace_missing=True)
    if options:
        merged = {**(integration.get("options") or {}), **options}
        integration = rt.store.set_integration_fields(integration["id"], options=merged)
    run_pk = rt.store.start_run(provider, platform, RunKind.configure, False, {"options": options or {}}, flow_run_id())
    rt.store.finish_run(run_pk, "completed", {})
    return integration


@flow(name="set-filters", flow_run_name="filters-{provider}-{platform}")
async def set_filters(provider: str, filters: dict[str, list[str]], platform: str = "default", force: bool = False) -> FlowResult:
    """Save the filters and apply them at once: archive what no longer matches; unarchive per provider rule.

    Values the provider does not use are refused before anything is saved; an archiving that would
    leave fewer than LEARNSYNC_ARCHIVE_GUARD_RATIO of the active courses is refused unless `force`.
    """
    rt = Runtime.build(provider, platform)
    spec, store = rt.spec, rt.store
    report = RunReport(provider=provider, kind=RunKind.filters.value, platform=platform)
    # It archives and restores courses and writes their state: never alongside a content run.
    async with run_lease(rt, "content"):
        async with rt.lms_client() as lms:
            integration = await ensure_integration(rt, lms)
            state = store.load_courses(integration["id"], with_extra=True)
            extras = _filter_values(state)
            filters = validate_filters(spec, filters, extras) if not force else filters
            changes = plan_filter_change(
                state.drop(columns=["extra"]), extras, spec, filters, guard_ratio=rt.settings.archive_guard_ratio, force=force
            )
            run_pk = store.start_run(provider, platform, RunKind.filters, False, {"filters": filters, "force": force}, flow_run_id())
            try:
                store.set_filters(integration["id"], filters)
                await _apply_filter_changes(lms, store, integration, changes, report, run_pk)
            except Exception as exc:
                store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
                raise
        store.finish_run(run_pk, report.status, report.counts)
    await publish_report(report)
    return final_state(report)


def _filter_values(state: pd.DataFrame) -> pd.DataFrame:
    """The values each filter compares with, as stored at the course's last sync."""
    extras = [e if isinstance(e, dict) else {} for e in state["extra"]]
    return pd.DataFrame(
        {
            "external_id": state["external_id"],
            "filter_lang": [e.get("filter_lang") for e in extras],
            "filter_type": [e.get("filter_type") for e in extras],
        }
    )


async def _apply_filter_changes(lms: Any, store: Any, integration: dict, changes: pd.DataFrame, report: RunReport, run_pk: int) -> None:
    now = now_utc()
    outcomes: list[dict[str, Any]] = []
    to_archive = changes[changes["outcome"] == "archived"].assign(reason="filter")
    if len(to_archive):
        await archive_courses(lms, store, integration, run_pk, to_archive, report, outcomes, now)
    restore = changes[changes["outcome"] == "restored"]
    await _unarchive(lms, store, integration, list(zip(restore["external_id"], restore["course_id"])), report, outcomes)
    if outcomes:
        store.add_outcomes(run_pk, outcomes)


async def _unarchive(lms: Any, store: Any, integration: dict, pairs: list[tuple[str, str]], report: RunReport, outcomes: list) -> None:
    """Unarchive courses in 360Learning; record in state the ones it confirmed, report the others."""
    rows = []
    for ext, cid in pairs:
        try:
            await lms.set_course_archived(cid, False)
        except Exception as exc:
            report.add("failed")
            report.error(ext, "failed", f"restore: {exc}")
            outcomes.append({"kind": "course", "external_id": ext, "outcome": "failed", "reason": f"restore: {exc}"})
            continue
        rows.append(restored_row(ext, cid))
        outcomes.append({"kind": "course", "external_id": ext, "outcome": "restored"})
    if rows:
        store.apply_course_results(integration["id"], rows, now_utc())
    report.add("restored", len(rows))


@flow(name="restore-courses", flow_run_name="restore-{provider}-{platform}")
async def restore_courses(
    provider: str, platform: str = "default", reason: str = "filter", since: datetime | None = None, dry_run: bool = False
) -> FlowResult:
    """Undo an archiving that was a mistake: unarchive the courses archived for `reason`
    (filter, missing, provider), archived at or after `since` when given.

    Courses the saved filters still exclude stay archived (a sync would archive them again):
    change the filters first. The only way Coursera content archived by a filter comes back.
    """
    if reason not in RESTORABLE_REASONS:
        raise ValueError(f"reason must be one of {', '.join(RESTORABLE_REASONS)}, not {reason!r}")
    rt = Runtime.build(provider, platform)
    store, spec = rt.store, rt.spec
    integration = store.get_integration(provider, platform)
    if not integration:
        raise ValueError(f"no {provider} integration on platform {platform}: nothing to restore")
    report = RunReport(provider=provider, kind=RunKind.restore.value, platform=platform, dry_run=dry_run)
    state = store.load_courses(integration["id"], with_extra=True)
    archived = state[(state["status"] == "archived") & (state["archived_reason"] == reason) & state["course_id"].notna()]
    if since is not None:
        when = {e: (store.get_course(integration["id"], e) or {}).get("archived_at") for e in archived["external_id"]}
        archived = archived[[at is not None and at >= since for at in (when[e] for e in archived["external_id"])]]
    extras = _filter_values(archived)
    matches = filter_mask(extras["filter_lang"], extras["filter_type"], integration.get("filters") or {}).to_numpy(bool)
    excluded = archived[~matches]
    if len(excluded):
        report.notes.append(
            f"{len(excluded)} courses archived for {reason} are still excluded by the saved filters and stay archived"
        )
    chosen = archived[matches]
    if dry_run:
        report.add("restored", len(chosen))
        report.notes.append("dry run: the courses above would be unarchived; nothing was written")
        await publish_report(report)
        return final_state(report)
    run_pk = store.start_run(provider, platform, RunKind.restore, False, {"reason": reason, "since": since and since.isoformat()}, flow_run_id())
    outcomes: list[dict[str, Any]] = []
    try:
        async with run_lease(rt, "content"), rt.lms_client() as lms:  # it writes course state: never beside a content run
            await _unarchive(lms, store, integration, list(zip(chosen["external_id"], chosen["course_id"])), report, outcomes)
    except Exception as exc:
        store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
        raise
    if outcomes:
        store.add_outcomes(run_pk, outcomes)
    store.finish_run(run_pk, report.status, report.counts)
    logger().info("%s: %d courses archived for %s restored", spec.display_name, report.counts["restored"], reason)
    await publish_report(report)
    return final_state(report)


@flow(name="share-courses", flow_run_name="share-{provider}-{platform}")
async def share_courses(provider: str, group_ids: list[str], platform: str = "default", targets: list[str] | None = None) -> dict[str, Any]:
    """Add every active synced course to other groups' catalogs and/or libraries (bulk endpoints)."""
    rt = Runtime.build(provider, platform)
    from learnsync.lms360.models import ShareItem

    targets = targets or ["catalog", "library"]
    integration = rt.store.get_integration(provider, platform)
    if not integration:
        raise ValueError(f"no {provider} integration on platform {platform}; run `learnsync configure --provider {provider}` first")
    state = rt.store.load_courses(integration["id"])
    course_ids = state.loc[(state["status"] == "active") & state["course_id"].notna(), "course_id"].tolist()
    shared: dict[str, int] = {}
    attempted: dict[str, int] = {}
    failed: list[dict[str, str]] = []  # one row per item 360Learning refused: nothing is dropped silently
    run_pk = rt.store.start_run(provider, platform, RunKind.share, False, {"groups": group_ids, "targets": targets}, flow_run_id())
    try:
        async with rt.lms_client() as lms:
            for target in targets:
                items = [ShareItem(group_id=g, content_type="course", content_id=c) for g in group_ids for c in course_ids]
                results = await lms.share_courses(items, target)
                attempted[target] = len(items)
                shared[target] = 0
                for r in results:
                    ok, _res, message, item = result_fields(r)
                    if ok:
                        shared[target] += 1
                    else:
                        failed.append({"target": target, "group": str(item.get("groupId")), "course": str(item.get("contentId")), "reason": message or "no reason given"})
    except Exception as exc:
        rt.store.finish_run(run_pk, "failed", {}, error=f"{type(exc).__name__}: {exc}")
        raise
    rt.store.finish_run(run_pk, "completed_with_errors" if failed else "completed", {"shared": sum(shared.values()), "failed": len(failed)})
    logger().info("shared %s courses: %s", provider, shared)
    return {
        "courses": len(course_ids), "groups": group_ids, "shared": shared, "attempted": attempted,
        "failed_count": len(failed), "failed": failed[:MAX_ERRORS_KEPT],
        "status": "completed_with_errors" if failed else "completed",
    }


@flow(name="deactivate-integration", flow_run_name="deactivate-{provider}-{platform}")
async def deactivate_integration(provider: str, platform: str = "default") -> FlowResult:
    """Archive every synced course, pause the schedules, keep all learning data (attempts stay in 360Learning)."""
    rt = Runtime.build(provider, platform)
    store = rt.store
    integration = store.get_integration(provider, platform)
    if not integration:
        raise ValueError(f"no {provider} integration on platform {platform}")
    report = RunReport(provider=provider, kind=RunKind.deactivate.value, platform=platform)
    async with run_lease(rt, "content"):  # it archives every course: never alongside a content run
        state = store.load_courses(integration["id"])
        active = state.loc[state["status"] == "active", ["external_id"]].assign(reason="deactivated")
        run_pk = store.start_run(provider, platform, RunKind.deactivate, False, {}, flow_run_id())
        outcomes: list[dict[str, Any]] = []
        try:
            async with rt.lms_client() as lms:
                if len(active):
                    await archive_courses(lms, store, integration, run_pk, active, report, outcomes, now_utc())
        except Exception as exc:
            store.finish_run(run_pk, "failed", report.counts, error=f"{type(exc).__name__}: {exc}")
            raise
        if outcomes:
            store.add_outcomes(run_pk, outcomes)
        store.finish_run(run_pk, report.status, report.counts)
        store.set_integration_fields(integration["id"], active=False)
    paused = await _set_paused(provider, platform, paused=True)
    report.notes.append(f"paused {paused} deployment(s); learner statistics and attempts are kept")
    await publish_report(report)
    return final_state(report)


async def _set_paused(provider: str, platform: str, *, paused: bool) -> int:
    """Pause (or resume) this provider's deployments on the Prefect API, where they exist."""
    from prefect.client.orchestration import get_client

    changed = 0
    async with get_client() as client:
        for kind in ("content", "stats"):
            try:
                dep = await client.read_deployment_by_name(f"{kind}-sync/{provider}-{kind}-{platform}")
            except Exception:  # not deployed on this Prefect API
                continue
            await (client.pause_deployment(dep.id) if paused else client.resume_deployment(dep.id))
            changed += 1
    return changed
