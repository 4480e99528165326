"""Pieces every flow shares: the integration record, the run record, the report artifacts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from learnsync.core.redaction import redact, scrubbed
from learnsync.flows.run_names import name_runs_never_started, run_parameters
from learnsync.flows.runtime import Runtime
from learnsync.statestore.leases import Lease, RunInProgress, new_holder
from learnsync.tasks.report import MAX_ERRORS_SHOWN, RunReport


def logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # called outside a run (plain function tests)
        return logging.getLogger("learnsync")


def flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


# The runs each lease covers: whatever writes course state holds the content lease.
LEASE_RUN_KINDS: dict[str, tuple[str, ...]] = {"content": ("content", "filters", "deactivate", "restore")}


@asynccontextmanager
async def run_lease(rt: Runtime, kind: str, *, wait: bool = False, run_kinds: Sequence[str] | None = None) -> AsyncIterator[Lease]:
    """Hold the (provider, platform, `kind`) run lease for the block: one such run at a time,
    across processes. Taken: rows of `run_kinds` (default: `kind`) still 'running' are from runs
    that died, and are marked crashed. Held by another run: RunInProgress, or, with `wait`,
    wait until it is free (a killed holder's lease expires after `run_lease_seconds`)."""
    store, key, ttl = rt.store, rt.spec.key, float(rt.settings.run_lease_seconds)
    holder = new_holder()
    if (run_id := flow_run_id()) is not None:
        holder += f" flow run {run_id}"
    waited = False
    while True:
        try:
            lease = await asyncio.to_thread(store.leases.acquire, key, rt.platform, kind, holder, ttl)
            break
        except RunInProgress as busy:
            if not wait:
                raise
            if not waited:
                logger().info("%s; waiting for it to end", str(busy).removesuffix("; try again later"))
                waited = True
            await asyncio.sleep(min(5.0, ttl / 4))
    try:
        lease.start_heartbeat()
        kinds = list(run_kinds or LEASE_RUN_KINDS.get(kind, (kind,)))
        crashed = await asyncio.to_thread(store.mark_crashed_runs, key, rt.platform, kinds, f"the next {kind} run")
        if crashed:
            logger().warning("%s %s run(s) %s had stopped without finishing: marked crashed", key, kind, ", ".join(map(str, crashed)))
        yield lease
    finally:
        await asyncio.to_thread(lease.release)


class IntegrationDeactivated(RuntimeError):
    """Syncing a deactivated integration would bring back what deactivation archived."""


class IntegrationProblem(RuntimeError):
    """The provider's integration in 360Learning cannot be used as configured; the message says how to fix it."""


# What learnsync creates integrations with; drift in 360Learning is patched back at the next run.
INTEGRATION_DEFAULTS = {"default_completion": True, "default_progress": 0, "no_group_propagation": False}


def integration_name(rt: Runtime) -> str:
    """The externalPlatform this provider's integration carries (a setting per provider)."""
    settings = rt.settings.provider(rt.spec.key)
    return getattr(settings, "integration_name", None) or rt.spec.display_name


def _name_setting(rt: Runtime) -> str:
    return f"LEARNSYNC_{rt.spec.key.upper()}__INTEGRATION_NAME"


async def ensure_integration(
    rt: Runtime, lms: Any, *, create: bool = True, replace_missing: bool = False
) -> dict[str, Any]:
    """The integration of this provider on this platform, read from 360Learning once per run.

    The stored id is looked up among the platform's integrations (so a wrong 360Learning URL or
    secret fails the run here, even when nothing else would be sent). Without a stored id, an
    integration with the configured name in the configured group is adopted, else one is
    created (the documented step 2 of an API integration) and its id stored, so later runs
    never create a duplicate. An installation whose stored integration carries an older name
    keeps it: the stored id wins over the name. Settings that drifted in 360Learning
    (defaultCompletion, defaultProgress, noGroupPropagation) are patched back.
    `replace_missing` (configure): a stored integration 360Learning no longer has is replaced.
    """
    store, spec, cfg = rt.store, rt.spec, rt.lms_settings
    name = integration_name(rt)
    row = store.get_integration(spec.key, rt.platform)
    if row and row.get("active") is False:
        raise IntegrationDeactivated(
            f"{spec.display_name} on platform {rt.platform} was deactivated; run `learnsync configure` to reactivate it"
        )
    stored_id = (row or {}).get("integration_id")
    integration = None
    if stored_id:
        integration = next((i for i in await lms.list_integrations() if _iid(i) == stored_id), None)
        if integration is None and not replace_missing:
            raise IntegrationProblem(
                f"the {spec.display_name} integration {stored_id} stored for platform {rt.platform} no longer exists in "
                f"360Learning (deleted there?); run `learnsync configure --provider {spec.key}` to create a new one"
            )
    if integration is None:
        integration = next((i for i in await lms.list_integrations(name) if _group(i) == cfg.group_id), None)
    if integration is None:
        if not create:
            raise IntegrationProblem(f"no {spec.display_name} integration on platform {rt.platform}; run `learnsync configure`")
        integration = await _create(rt, lms, name)
    integration = await _repair_drift(rt, lms, integration)
    options = dict(spec.default_options)
    options.update((row or {}).get("options") or {})
    return store.upsert_integration(
        spec.key,
        rt.platform,
        integration_id=_iid(integration),
        external_platform=_field(integration, "external_platform", "externalPlatform") or name,
        group_id=_group(integration) or cfg.group_id,
        author_id=_field(integration, "author_id", "authorId") or cfg.author_id,
        options=options,
        filters=(row or {}).get("filters") or {},
        active=True,
    )


async def _create(rt: Runtime, lms: Any, name: str) -> Any:
    from learnsync.core.http import ApiError
    from learnsync.lms360.models import IntegrationCreate

    cfg = rt.lms_settings
    try:
        created = await lms.create_integration(
            IntegrationCreate(
                external_platform=name,
                group_id=cfg.group_id,
                author_id=cfg.author_id,
                default_completion=INTEGRATION_DEFAULTS["default_completion"],
                default_progress=INTEGRATION_DEFAULTS["default_progress"],
                no_group_propagation=INTEGRATION_DEFAULTS["no_group_propagation"],
            )
        )
    except ApiError as exc:
        if exc.code == "reservedPlatformName":
            raise IntegrationProblem(
                f"360Learning refuses the integration name {name!r}: it is reserved for one of its own connectors; "
                f"set {_name_setting(rt)} to another name"
            ) from None
        if exc.code == "duplicateExternalPlatform":  # created meanwhile (another run): adopt it
            found = [i for i in await lms.list_integrations(name) if _group(i) == cfg.group_id]
            if found:
                return found[0]
        raise
    # The list is the only read path v2 offers: verify the new integration is visible there.
    listed = await lms.list_integrations(name)
    if not any(_iid(i) == _iid(created) for i in listed):
        raise RuntimeError(f"integration {_iid(created)} created but not listed by 360Learning")
    return created


async def _repair_drift(rt: Runtime, lms: Any, integration: Any) -> Any:
    """PATCH back the settings someone changed in 360Learning; the stored id is kept either way."""
    from learnsync.core.http import ApiError

    changes = {k: v for k, v in INTEGRATION_DEFAULTS.items() if _field(integration, k, _camel(k)) != v}
    if not changes:
        return integration
    logger().warning(
        "%s integration %s: settings changed in 360Learning (%s); setting them back",
        rt.spec.display_name, _iid(integration), ", ".join(f"{_camel(k)}={_field(integration, k, _camel(k))!r}" for k in changes),
    )
    try:
        return await lms.update_integration(_iid(integration), **changes)
    except ApiError as exc:
        if exc.code == "reservedPlatformName":
            raise IntegrationProblem(
                f"360Learning refuses the integration name of {_iid(integration)}: it is reserved; set {_name_setting(rt)}"
            ) from None
        raise


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _field(integration: Any, attr: str, key: str) -> Any:
    if isinstance(integration, dict):
        return integration.get(key, integration.get(attr))
    return getattr(integration, attr, None)


def _group(integration: Any) -> str | None:
    return _field(integration, "group_id", "groupId")


def _iid(integration: Any) -> str:
    if isinstance(integration, dict):
        return integration.get("_id") or integration["id"]
    return getattr(integration, "id", None) or integration._id


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


def backfill_run_name(parameters: dict[str, Any] | None = None) -> str:
    """stats-backfill runs: `backfill-udemy-default-2026-01-01-2026-04-01` (`today` when until is open)."""
    p = run_parameters(parameters)
    return f"backfill-{p.get('provider')}-{p.get('platform', 'default')}-{p.get('since')}-{p.get('until') or 'today'}"


def report_key(report: RunReport) -> str:
    return f"{report.provider}-{report.kind}-{report.platform}".lower().replace("_", "-")


# What a flow returning its report gives back: the run's final State (Completed, or Failed when
# refused), whose data Prefect hands to the caller, or the report itself (see final_state).
FlowResult = State | dict[str, Any]


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
            # the report masks secrets itself; its markdown is masked once more as a whole
            markdown=redact(report.markdown()), key=f"{key}-summary", description=f"{report.status_label}: {attempt}"
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
    await name_runs_never_started()


def final_state(report: RunReport) -> FlowResult:
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
    report.failure = report.failure or redact(f"{type(exc).__name__}: {exc}")
    return Failed(message=report.failure, data=report.as_dict())


def refused(busy: RunInProgress) -> State:
    """The end of a run refused because another run of its kind is going: Failed, the reason as
    its message (no traceback logged: nothing went wrong in this run); callers get `busy` raised."""
    return Failed(message=str(busy), data=busy)


def reraise_redacted(exc: BaseException) -> NoReturn:
    """Raise `exc` again, or, when its text holds a secret, the same text masked (the original
    is dropped: Prefect would put it in the run's state, logs and tracebacks)."""
    clean = scrubbed(exc)
    if clean is exc:
        raise exc
    raise clean from None


def now_utc() -> datetime:
    return datetime.now(UTC)
