"""Integration lifecycle: configure, change filters (applied at once), share, deactivate."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import flow

from flows.common import ensure_integration, final_state, flow_run_id, logger, now_utc, publish_report
from learnsync.runtime import Runtime
from tasks.diff import plan_filter_change
from tasks.load import result_fields
from tasks.report import RunReport


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
    return integration


@flow(name="set-filters", flow_run_name="filters-{provider}-{platform}")
async def set_filters(provider: str, filters: dict[str, list[str]], platform: str = "default") -> dict[str, Any]:
    """Save the filters and apply them at once: archive what no longer matches; unarchive per provider rule."""
    rt = Runtime.build(provider, platform)
    spec, store = rt.spec, rt.store
    unknown = set(filters) - set(spec.supports_filters)
    if unknown:
        raise ValueError(f"{provider} has no filter {sorted(unknown)}; it supports {list(spec.supports_filters) or 'none'}")
    report = RunReport(provider=provider, kind="filters", platform=platform)
    run_pk = store.start_run(provider, platform, "content", False, {"filters": filters}, flow_run_id())
    async with rt.lms_client() as lms:
        integration = await ensure_integration(rt, lms)
        store.set_filters(integration["id"], filters)
        state = store.load_courses(integration["id"], with_extra=True)
        extras = _filter_values(state)
        changes = plan_filter_change(state.drop(columns=["extra"]), extras, spec, filters)
        await _apply_filter_changes(lms, store, integration, changes, report, run_pk)
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


async def _archive(lms: Any, store: Any, integration: dict, external_ids: list[str], reason: str, report: RunReport) -> None:
    """Archive courses in 360Learning; record in state the ones it confirmed, report the others."""
    if not external_ids:
        return
    rows = []
    for r in await lms.archive_courses(integration["integration_id"], external_ids):
        ok, _res, msg, inp = result_fields(r)
        if ok:
            rows.append({"external_id": inp["externalId"], "status": "archived", "archived_reason": reason, "action": "archived"})
        else:
            report.add("failed")
            report.error(inp.get("externalId"), "failed", f"archive: {msg}")
    store.apply_course_results(integration["id"], rows, now_utc())
    report.add("archived", len(rows))


async def _apply_filter_changes(lms: Any, store: Any, integration: dict, changes: pd.DataFrame, report: RunReport, run_pk: int) -> None:
    now = now_utc()
    to_archive = changes[changes["outcome"] == "archived"]
    await _archive(lms, store, integration, to_archive["external_id"].tolist(), "filter", report)
    rows = []
    for ext, cid in changes.loc[changes["outcome"] == "restored", ["external_id", "course_id"]].itertuples(index=False):
        try:
            await lms.set_course_archived(cid, False)
            rows.append({"external_id": ext, "status": "active", "archived_reason": None, "action": "restored"})
        except Exception as exc:
            report.add("failed")
            report.error(ext, "failed", f"restore: {exc}")
    store.apply_course_results(integration["id"], rows, now)
    report.add("restored", len(rows))
    store.add_outcomes(run_pk, [{"kind": "course", "external_id": r["external_id"], "outcome": r["action"]} for r in rows])


@flow(name="share-courses", flow_run_name="share-{provider}-{platform}")
async def share_courses(provider: str, group_ids: list[str], platform: str = "default", targets: list[str] | None = None) -> dict[str, Any]:
    """Add every active synced course to other groups' catalogs and/or libraries (bulk endpoints)."""
    rt = Runtime.build(provider, platform)
    from lms360.models import ShareItem

    targets = targets or ["catalog", "library"]
    state = rt.store.load_courses(rt.store.get_integration(provider, platform)["id"])
    course_ids = state.loc[(state["status"] == "active") & state["course_id"].notna(), "course_id"].tolist()
    shared: dict[str, int] = {}
    async with rt.lms_client() as lms:
        for target in targets:
            items = [ShareItem(groupId=g, contentType="course", contentId=c) for g in group_ids for c in course_ids]
            results = await lms.share_courses(items, target)
            shared[target] = sum(1 for r in results if result_fields(r)[0])
    logger().info("shared %s courses: %s", provider, shared)
    return {"courses": len(course_ids), "groups": group_ids, "shared": shared}


@flow(name="deactivate-integration", flow_run_name="deactivate-{provider}-{platform}")
async def deactivate_integration(provider: str, platform: str = "default") -> dict[str, Any]:
    """Archive every synced course, pause the schedules, keep all learning data (attempts stay in 360Learning)."""
    rt = Runtime.build(provider, platform)
    store = rt.store
    integration = store.get_integration(provider, platform)
    if not integration:
        raise ValueError(f"no {provider} integration on platform {platform}")
    report = RunReport(provider=provider, kind="deactivate", platform=platform)
    state = store.load_courses(integration["id"])
    active = state.loc[state["status"] == "active", "external_id"].tolist()
    async with rt.lms_client() as lms:
        await _archive(lms, store, integration, active, "deactivated", report)
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
