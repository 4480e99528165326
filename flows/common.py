"""Pieces every flow shares: the integration record, the run record, the report artifacts."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from learnsync.runtime import Runtime
from tasks.report import MAX_ERRORS_SHOWN, RunReport


def logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # called outside a run (plain function tests)
        return logging.getLogger("learnsync")


def flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


class IntegrationDeactivated(RuntimeError):
    """Syncing a deactivated integration would bring back what deactivation archived."""


async def ensure_integration(rt: Runtime, lms: Any, *, create: bool = True) -> dict[str, Any]:
    """The integration of this provider on this platform: stored id, else found by name, else created.

    Creating it through the API is the documented step 2 of an API integration; the id is
    stored so later runs never create a duplicate.
    """
    store, spec = rt.store, rt.spec
    row = store.get_integration(spec.key, rt.platform)
    if row and row.get("active") is False:
        raise IntegrationDeactivated(
            f"{spec.display_name} on platform {rt.platform} was deactivated; run `learnsync configure` to reactivate it"
        )
    if row and row.get("integration_id"):
        return row
    found = await lms.list_integrations(spec.display_name)
    if found:
        integration = found[0]
    elif create:
        from lms360.models import IntegrationCreate

        integration = await lms.create_integration(
            IntegrationCreate(
                externalPlatform=spec.display_name,
                groupId=rt.lms_settings.group_id,
                authorId=rt.lms_settings.author_id,
                defaultCompletion=True,
                defaultProgress=0,
                noGroupPropagation=False,
            )
        )
        # The list is the only read path v2 offers: verify the new integration is visible there.
        listed = await lms.list_integrations(spec.display_name)
        if not any(_iid(i) == _iid(integration) for i in listed):
            raise RuntimeError(f"integration {_iid(integration)} created but not listed by 360Learning")
    else:
        raise RuntimeError(f"no {spec.display_name} integration on platform {rt.platform}; run `learnsync configure`")
    options = dict(spec.default_options)
    options.update((row or {}).get("options") or {})
    return store.upsert_integration(
        spec.key,
        rt.platform,
        integration_id=_iid(integration),
        external_platform=spec.display_name,
        group_id=rt.lms_settings.group_id,
        author_id=rt.lms_settings.author_id,
        options=options,
        filters=(row or {}).get("filters") or {},
        active=True,
    )


def _iid(integration: Any) -> str:
    if isinstance(integration, dict):
        return integration.get("_id") or integration["id"]
    return getattr(integration, "id", None) or getattr(integration, "_id")


def _attempt_of_this_run() -> tuple[str | None, int]:
    """This flow run's name and attempt (a retried run's second attempt is 2)."""
    ctx = FlowRunContext.get()
    if not ctx or not ctx.flow_run:
        return None, 1
    return ctx.flow_run.name, max(1, int(flow_run.run_count or ctx.flow_run.run_count or 1))


def chunk_task_name() -> str:
    """fetch-catalog-pages runs: `udemy-courses-first-pages` for the head of the walk, else from its token."""
    from prefect.runtime import task_run

    p = task_run.parameters
    token = p.get("token")
    where = "first-pages" if token is None else f"from-{str(token)[-40:]}"
    return f"{p.get('provider')}-{p.get('stream')}-{where}"


def window_task_name() -> str:
    """sync-stats-window runs: `stats-udemy-2026-01-01-2026-01-08` (`start` when reading the whole history)."""
    from prefect.runtime import task_run

    p = task_run.parameters
    window = p.get("window")
    provider = getattr(getattr(p.get("rt"), "spec", None), "key", None) or "provider"
    since = getattr(window, "since", None) or "start"
    return f"stats-{provider}-{since}-{getattr(window, 'until', None)}"


def backfill_run_name() -> str:
    """stats-backfill runs: `backfill-udemy-default-2026-01-01-2026-04-01` (`today` when until is open)."""
    p = flow_run.parameters
    return f"backfill-{p.get('provider')}-{p.get('platform', 'default')}-{p.get('since')}-{p.get('until') or 'today'}"


def report_key(report: RunReport) -> str:
    return f"{report.provider}-{report.kind}-{report.platform}".lower().replace("_", "-")


# Flow runs with an attempt that failed in this process. Prefect's engine keeps that attempt's
# exception and re-raises it to an in-process caller when a later attempt returns a State
# (in-process `retries=`); a run retried from the UI or by a worker starts a fresh engine.
_FAILED_IN_THIS_PROCESS: set[str] = set()


async def publish_report(report: RunReport, error: BaseException | None = None) -> None:
    """Markdown summary + counts table + capped error tables, under stable keys per provider/kind.

    `error`: the run failed with it (the summary then says Failed and why). Each artifact names
    the flow run and its attempt, so the attempts of a retried run are told apart in its history.
    """
    if error is not None and report.failure is None:
        report.failure = f"{type(error).__name__}: {error}"
    if error is not None and flow_run_id():
        _FAILED_IN_THIS_PROCESS.add(str(flow_run_id()))
    report.flow_run_name, report.attempt = _attempt_of_this_run()
    key = report_key(report)
    attempt = f"{report.flow_run_name or 'local run'}, attempt {report.attempt}"
    try:
        await acreate_markdown_artifact(
            markdown=report.markdown(), key=f"{key}-summary", description=f"{report.status_label}: {attempt}"
        )
        await acreate_table_artifact(table=report.summary_rows(), key=f"{key}-counts", description=f"items per outcome ({attempt})")
        errors = report.error_rows
        if errors:
            await acreate_table_artifact(
                table=errors[:MAX_ERRORS_SHOWN], key=f"{key}-errors", description=f"first {MAX_ERRORS_SHOWN} errors ({attempt})"
            )
        ignored = report.ignored_rows
        if ignored:
            await acreate_table_artifact(
                table=ignored[:MAX_ERRORS_SHOWN], key=f"{key}-ignored",
                description=f"first {MAX_ERRORS_SHOWN} items ignored, e.g. learners unknown to 360Learning ({attempt})",
            )
    except Exception as exc:  # no Prefect API (plain call): the report is still returned and printed
        logger().warning("The run report artifacts were not published: %s", exc)


def final_state(report: RunReport) -> State | dict[str, Any]:
    """Completed, or Completed named 'Completed with errors' so the UI shows it at a glance
    (on every attempt: a run retried from the UI or by a worker says so too)."""
    data = report.as_dict()
    if flow_run_id() in _FAILED_IN_THIS_PROCESS:
        return data  # in-process retry: a returned State would re-raise the first attempt's error
    if report.status == "completed_with_errors":
        return Completed(name="Completed with errors", message=report_message(report), data=data)
    return Completed(message=report_message(report), data=data)


def report_message(report: RunReport) -> str:
    """One sentence for the run's state: what went wrong, or that everything synced."""
    c = report.counts
    if report.status == "completed":
        message = "all items synced"
        if report.recurring_quarantine:
            message += f"; {report.recurring_quarantine} quarantined entries still open from earlier runs"
        return message
    parts = [f"{c.get('failed', 0)} failed", f"{c.get('quarantined', 0)} quarantined"]
    if report.recurring_quarantine:
        parts.append(f"{report.recurring_quarantine} of them still open from earlier runs")
    return ", ".join(parts)


def report_sentence(report: RunReport) -> str:
    """The run's outcome as a log line: "udemy content sync: Completed with errors (3 created, 1 failed)."."""
    counts = ", ".join(f"{n} {o}" for o, n in report.counts.items() if n) or "nothing to do"
    return f"{report.provider} {report.kind} sync on platform {report.platform}: {report.status_label} ({counts})."


def failed_state(report: RunReport, exc: BaseException) -> State:
    report.failure = report.failure or f"{type(exc).__name__}: {exc}"
    return Failed(message=report.failure, data=report.as_dict())


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
