"""`learnsync` command line: sandboxes, demo, syncs, backfills, status, integration lifecycle.

Commands stay thin: arguments and settings are checked first (`learnsync.cli_checks`, before
Prefect starts), errors become one line with an exit code (`learnsync.cli_app`,
`learnsync.errors`), and output goes through `learnsync.output`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from learnsync import cli_checks as checks
from learnsync import output
from learnsync.cli_app import make_app
from learnsync.errors import CONFIG, ITEM_ERRORS, ConfigProblem, UsageProblem, redact_url
from learnsync.output import out as console

app = make_app("learnsync: keep 360Learning fed from Udemy Business, Coursera, Edflex and OpenClassrooms.")


def _providers() -> str:
    from learnsync.providers.registry import provider_keys

    *rest, last = provider_keys()
    return f"{', '.join(rest)} or {last}" if rest else last


PROVIDERS_HELP = _providers()  # the registered providers (providers/registry.py)


class SyncKind(str, Enum):
    content = "content"
    stats = "stats"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def _prepare(provider: str | None, platform: str, *, writes: bool = True, services: bool = True) -> tuple[Any, Any]:
    """Check a provider command's arguments, settings, state DB and services; (settings, store)."""
    if provider is not None:
        checks.check_provider(provider)
    settings = checks.load_settings()
    checks.check_platform(settings, platform)
    url = checks.database_url(settings)
    store = checks.open_state_store(url, writable=writes)
    output.context_line(url, prefect=True)
    if services:
        checks.check_services(settings, platform, [provider] if provider else [])
        checks.check_lms_credentials(settings, platform)
    return settings, store


def _lms_url(settings: Any, platform: str) -> str:
    return checks.check_platform(settings, platform).base_url


def _finish(report: dict[str, Any], run_id: str | None, fmt: OutputFormat, title: str | None = None) -> None:
    if fmt is OutputFormat.json:
        db_url = output.current_db_url()
        output.print_json({**report, "flow_run_id": run_id, "state_db": db_url and redact_url(db_url)})
    else:
        output.print_report(report, title)
    output.flow_run_line(run_id)
    if report.get("status") == "completed_with_errors":
        raise typer.Exit(code=ITEM_ERRORS)


@app.command()
def sandbox(
    name: str = typer.Argument(..., help=f"360, {PROVIDERS_HELP.replace(' or ', ', ')}, or all"),
    port: int | None = typer.Option(None, min=1, max=65535, help="port (default: the one learnsync's default settings use, 8100 for "
                             "360 and each provider's own; with `all`, the first of consecutive ports)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
) -> None:
    """Serve sandbox APIs in the foreground (Ctrl-C to stop); `all` starts every one and prints the settings that point at them."""
    import time

    from learnsync.sandboxes.fleet import default_ports, sandbox_app, start_fleet
    from learnsync.sandboxes.server import serve_forever

    keys = checks.check_sandbox_name(name)
    ports = default_ports()
    if len(keys) == 1:
        try:
            serve_forever(sandbox_app(keys[0]), host, port or ports[keys[0]])
        except OSError as exc:
            raise ConfigProblem(f"cannot listen on {host}:{port or ports[keys[0]]}: {exc.strerror or exc}; pass another --port") from None
        return
    chosen = {k: (port + i if port else ports[k]) for i, k in enumerate(keys)}
    try:
        fleet = start_fleet([k for k in keys if k != "lms360"], host=host, ports=chosen)
    except OSError as exc:
        raise ConfigProblem(f"cannot listen on {host} ports {min(chosen.values())}-{max(chosen.values())}: {exc.strerror or exc} "
                            "(sandboxes already running?); pass another --port") from None
    try:
        console.print("sandboxes running (Ctrl-C stops them):")
        for key, server in fleet.servers.items():
            console.print(f"  {key:<15} {server.url}")
        console.print("Point learnsync at them (already the defaults when the ports are the default ones):")
        for var, value in fleet.env().items():
            console.print(f"  export {var}={value}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("sandboxes stopped")
    finally:
        fleet.close()


@app.command()
def sync(
    kind: SyncKind = typer.Argument(..., help="content or stats"),
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    platform: str = typer.Option("default", help="360Learning platform (default, or one of LEARNSYNC_PLATFORMS)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would be created, updated, archived and restored; write nothing"),
    force: bool = typer.Option(False, "--force", help="archive even if the extract shrank below the guard"),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--output", "-o", help="table, or json for scripts"),
    wait: bool = typer.Option(False, "--wait", help="if another run of this kind is going, wait for it to end (default: exit at once)"),
) -> None:
    """Run one sync now (a Prefect flow run)."""
    settings, _store = _prepare(provider, platform, writes=not dry_run)
    if kind is SyncKind.content:
        from learnsync.flows.content_sync import content_sync

        report, run_id = output.run_flow(
            lambda: content_sync(provider=provider, platform=platform, dry_run=dry_run, force=force, wait=wait, return_state=True),
            lms_url=_lms_url(settings, platform),
        )
    else:
        from learnsync.flows.stats_sync import stats_sync

        report, run_id = output.run_flow(
            lambda: stats_sync(provider=provider, platform=platform, dry_run=dry_run, wait=wait, return_state=True), lms_url=_lms_url(settings, platform)
        )
    _finish(report, run_id, fmt)


@app.command()
def backfill(
    what: str = typer.Argument("stats", help="only 'stats' can be backfilled"),
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    since: str = typer.Option(..., help="first day, YYYY-MM-DD"),
    until: str | None = typer.Option(None, help="day after the last one, YYYY-MM-DD (default: tomorrow)"),
    platform: str = typer.Option("default"),
    window_days: int = typer.Option(7, min=1, help="days in each independent window (at least 1)"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--output", "-o", help="table, or json for scripts"),
    wait: bool = typer.Option(False, "--wait", help="if another backfill is going, wait for it to end (default: exit at once)"),
) -> None:
    """Re-import historical statistics for a date range; the daily watermark is not moved."""
    if what != "stats":
        raise UsageProblem(f"only stats can be backfilled, not {what!r}: learnsync backfill stats --provider P --since YYYY-MM-DD")
    first = checks.parse_day(since, "--since")
    last = checks.parse_day(until, "--until")
    assert first is not None
    checks.check_window(first, last)
    settings, _store = _prepare(provider, platform)
    from learnsync.flows.stats_sync import stats_backfill

    report, run_id = output.run_flow(
        lambda: stats_backfill(provider=provider, since=first, until=last, platform=platform, window_days=window_days,
                               dry_run=dry_run, wait=wait, return_state=True),
        lms_url=_lms_url(settings, platform),
    )
    _finish(report, run_id, fmt)


@app.command()
def status(
    limit: int = typer.Option(5, min=1, help="runs shown per provider and platform"),
    provider: str | None = typer.Option(None, "--provider", "-p", help="only this provider"),
    platform: str | None = typer.Option(None, help="only this 360Learning platform"),
    db: str | None = typer.Option(None, "--db", help="state DB URL or SQLite file (default: LEARNSYNC_DATABASE_URL, else .learnsync/state.db)"),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--output", "-o", help="table, or json for scripts"),
    chart: str | None = typer.Option(None, "--chart", help="also draw the sync history (outcomes per run, open quarantine) to this PNG file"),
) -> None:
    """Integrations, last runs (state, duration, counts, error, Prefect run), open quarantine and
    lifecycle actions, read from the state store (read-only: never migrates or writes)."""
    from learnsync.status_view import collect_status, open_read_only, prefect_ui_base, render_status

    if provider is not None:
        checks.check_provider(provider)
    if db:
        url = db if "://" in db else f"sqlite:///{Path(db).expanduser().resolve()}"
    else:
        url = checks.database_url(checks.load_settings())
    output.set_db_url(url)
    store, schema = open_read_only(url)
    ui = prefect_ui_base()
    output.note(f"state DB: {redact_url(url)} (read-only) · Prefect UI: {ui or 'none set (PREFECT_API_URL); runs on a temporary server leave no link'}")
    if schema == "older":
        output.note("this state DB has an older schema: the next sync upgrades it; shown as it is")
    data = collect_status(store, provider=provider, platform=platform, limit=limit)
    if chart:
        from learnsync.charts import sync_history_chart

        output.note(f"sync history drawn to {sync_history_chart(data, chart)}")
    if fmt is OutputFormat.json:
        output.print_json(data)
    else:
        render_status(data, console)


@app.command()
def demo(
    providers: list[str] | None = typer.Option(None, "--provider", "-p", help="default: every provider available"),
    courses: int = typer.Option(200, min=1, help="catalog size per provider"),
    database_url: str | None = typer.Option(None, help="an empty state DB (default: .learnsync/demo.db, started afresh each run)"),
) -> None:
    """Start the sandboxes on loopback and run content + stats sync for every provider through Prefect."""
    for p in providers or []:
        checks.check_provider(p)
    from learnsync.demo import run_demo

    run_demo(providers, courses=courses, database_url=database_url, console=console)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def bench(ctx: typer.Context) -> None:
    """Run the performance benchmark and draw its chart (same as `python -m bench`; `learnsync bench --help` for its options)."""
    from learnsync.bench.cli import main as bench_main

    raise typer.Exit(bench_main(list(ctx.args)))


@app.command()
def configure(
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    platform: str = typer.Option("default"),
    option: list[str] | None = typer.Option(None, "--option", "-o", help="key=value, typed by the provider's options: e.g. tags_sync=true (booleans: true/false, 1/0, yes/no)"),
) -> None:
    """Create (or adopt) the provider's integration in 360Learning, verify it is listed, store its id and options."""
    from learnsync.core.settings import OptionValueError, parse_integration_options
    from learnsync.providers.registry import get_provider

    checks.check_provider(provider)
    try:
        options = parse_integration_options(option or [], get_provider(provider).default_options)
    except OptionValueError as exc:
        raise UsageProblem(f"--option: {exc}") from None
    settings, _store = _prepare(provider, platform, services=False)
    checks.check_services(settings, platform, [])
    checks.check_lms_credentials(settings, platform)
    from learnsync.flows.lifecycle import configure_integration

    row, run_id = output.run_flow(lambda: configure_integration(provider=provider, platform=platform, options=options, return_state=True),
                                  lms_url=_lms_url(settings, platform))
    console.print(f"{provider} on {platform}: integration {row['integration_id']} options={row.get('options')} filters={row.get('filters')}")
    output.flow_run_line(run_id)


@app.command()
def filters(
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    language: list[str] | None = typer.Option(None, "--language", "-l", help="repeat for several (OR)"),
    content_type: list[str] | None = typer.Option(None, "--content-type", "-t", help="repeat for several (OR)"),
    platform: str = typer.Option("default"),
    force: bool = typer.Option(False, "--force", help="accept values no synced course carries, and archive past the mass-archive guard"),
) -> None:
    """Save filters and apply them at once (archive what no longer matches; unarchive where the provider's rule says so).

    Values the provider does not use are refused; a change that would archive more than the
    mass-archive guard allows is refused too (undo a mistaken one with `learnsync restore`)."""
    from learnsync.providers.registry import get_provider

    checks.check_provider(provider)
    chosen: dict[str, list[str]] = {}
    if language:
        chosen["languages"] = language
    if content_type:
        chosen["content_types"] = content_type
    supported = get_provider(provider).supports_filters
    unknown = sorted(set(chosen) - set(supported))
    if unknown:
        flags = {"languages": "--language", "content_types": "--content-type"}
        raise UsageProblem(f"{provider} cannot filter by {', '.join(flags[u] for u in unknown)}; it supports "
                           f"{', '.join(flags[s] for s in supported) or 'no filter'}")
    settings, _store = _prepare(provider, platform, services=False)
    checks.check_services(settings, platform, [])
    checks.check_lms_credentials(settings, platform)
    from learnsync.flows.lifecycle import set_filters

    report, run_id = output.run_flow(lambda: set_filters(provider=provider, filters=chosen, platform=platform, force=force, return_state=True),
                                     lms_url=_lms_url(settings, platform))
    _finish(report, run_id, OutputFormat.table)


def _require_integration(store: Any, provider: str, platform: str) -> dict[str, Any]:
    integration = store.get_integration(provider, platform)
    if not integration or not integration.get("integration_id"):
        raise ConfigProblem(
            f"no {provider} integration on platform {platform} in the state DB {redact_url(store.url)}: "
            f"run `learnsync sync content --provider {provider}` (or `learnsync configure --provider {provider}`) first"
        )
    return integration


@app.command()
def restore(
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    reason: str = typer.Option("filter", help="what archived them: filter, missing or provider"),
    since: datetime | None = typer.Option(None, help="only courses archived at or after this time (UTC)"),
    platform: str = typer.Option("default"),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would be unarchived, change nothing"),
) -> None:
    """Undo an archiving that was a mistake (e.g. a wrong filter): unarchive the courses archived for REASON.

    Courses the saved filters still exclude stay archived: fix the filters first."""
    from learnsync.flows.lifecycle import RESTORABLE_REASONS

    checks.check_provider(provider)
    if reason not in RESTORABLE_REASONS:
        raise UsageProblem(f"--reason {reason!r}: choose one of {', '.join(RESTORABLE_REASONS)}")
    settings, store = _prepare(provider, platform, services=False, writes=not dry_run)
    _require_integration(store, provider, platform)
    checks.check_services(settings, platform, [])
    checks.check_lms_credentials(settings, platform)
    from learnsync.flows.lifecycle import restore_courses

    when = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    report, run_id = output.run_flow(
        lambda: restore_courses(provider=provider, platform=platform, reason=reason, since=when, dry_run=dry_run, return_state=True),
        lms_url=_lms_url(settings, platform),
    )
    _finish(report, run_id, OutputFormat.table)


@app.command()
def share(
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    group: list[str] = typer.Option(..., "--group", "-g", help="target group id (repeat)"),
    target: list[str] | None = typer.Option(None, help="catalog and/or library (default both)"),
    platform: str = typer.Option("default"),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--output", "-o", help="table, or json for scripts"),
) -> None:
    """Share every synced course with other groups' catalogs and libraries (bulk endpoints)."""
    checks.check_provider(provider)
    checks.check_group_ids(group)
    for t in target or []:
        if t not in ("catalog", "library"):
            raise UsageProblem(f"--target {t!r}: choose catalog or library")
    settings, store = _prepare(provider, platform, services=False)
    _require_integration(store, provider, platform)
    checks.check_services(settings, platform, [])
    checks.check_lms_credentials(settings, platform)
    from learnsync.flows.lifecycle import share_courses

    result, run_id = output.run_flow(
        lambda: share_courses(provider=provider, group_ids=group, platform=platform, targets=target, return_state=True),
        lms_url=_lms_url(settings, platform),
    )
    if fmt is OutputFormat.json:
        output.print_json({**result, "flow_run_id": run_id})
    else:
        _print_share(result)
    output.flow_run_line(run_id)
    if result.get("failed_count"):
        raise typer.Exit(code=ITEM_ERRORS)


def _print_share(result: dict[str, Any]) -> None:
    from rich.table import Table

    if not result["courses"]:
        console.print("nothing to share: no active synced course (run `learnsync sync content` first)")
        return
    done = ", ".join(f"{t} {result['shared'][t]}/{result['attempted'][t]}" for t in result["shared"])
    console.print(f"shared {result['courses']} course(s) with {len(result['groups'])} group(s): {done}")
    if result.get("failed"):
        grouped: dict[tuple[str, str, str], int] = {}
        for f in result["failed"]:
            k = (f["target"], f["group"], f["reason"])
            grouped[k] = grouped.get(k, 0) + 1
        table = Table(title=f"not shared ({result['failed_count']} item(s))")
        for col in ("target", "group", "reason", "items"):
            table.add_column(col, overflow="fold")
        for (t, g, reason), n in sorted(grouped.items()):
            table.add_row(t, g, reason, str(n))
        console.print(table)


@app.command()
def deactivate(provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP), platform: str = typer.Option("default")) -> None:
    """Archive every synced course and pause the schedules; learning data is kept."""
    checks.check_provider(provider)
    settings, store = _prepare(provider, platform, services=False)
    _require_integration(store, provider, platform)
    checks.check_services(settings, platform, [])
    checks.check_lms_credentials(settings, platform)
    from learnsync.flows.lifecycle import deactivate_integration

    report, run_id = output.run_flow(lambda: deactivate_integration(provider=provider, platform=platform, return_state=True),
                                     lms_url=_lms_url(settings, platform))
    _finish(report, run_id, OutputFormat.table)


faults_app = typer.Typer(help="Switch fault injection on a running sandbox.", no_args_is_help=True)
app.add_typer(faults_app, name="faults")


@faults_app.command("add")
def faults_add(
    sandbox_url: str = typer.Argument(..., help="e.g. http://127.0.0.1:8100"),
    kind: str = typer.Option(..., help="status, timeout, drop, truncate, badjson, rewrite, drip, echo or relink"),
    path: str = typer.Option(".*", help="regex on the request path"),
    query: str | None = typer.Option(None, help="regex on the query string (e.g. one page of a catalog)"),
    method: str | None = typer.Option(None),
    status: int = typer.Option(503, help="for kind=status and kind=echo"),
    retry_after: float | None = typer.Option(None, help="Retry-After seconds (kind=status)"),
    delay: float = typer.Option(5.0, help="seconds held (kind=timeout), or between two bytes (kind=drip)"),
    times: int | None = typer.Option(1, help="how many requests to hit; 0 = until cleared"),
    skip: int = typer.Option(0, help="let this many matching requests through first"),
    probability: float = typer.Option(1.0),
    find: str = typer.Option("", help="kind=rewrite: text to look for in the body (Latin-1; \\xff is one invalid byte)"),
    replace: str = typer.Option("", help="kind=rewrite: what replaces it (Python escapes too: \\\\ud800 writes a lone surrogate escape)"),
    occurrences: int = typer.Option(1, help="kind=rewrite: how many of the first occurrences"),
    target: str | None = typer.Option(None, help="kind=relink: the origin the Link header's URLs are moved to"),
) -> None:
    """Add a transport fault rule to a sandbox (the kinds are described in sandboxes/faults.py)."""
    import httpx

    from learnsync.sandboxes.faults import FAULT_KINDS

    if kind not in FAULT_KINDS:
        raise UsageProblem(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
    if kind == "rewrite" and not find:
        raise UsageProblem("--kind rewrite needs --find (the text to replace) and --replace")
    if kind == "relink" and not target:
        raise UsageProblem("--kind relink needs --target, e.g. http://127.0.0.1:9999")
    rule = {"kind": kind, "path": path, "query": query, "method": method, "status": status, "retry_after": retry_after,
            "delay": delay, "times": times or None, "skip": skip, "probability": probability,
            "find": find.encode("latin-1", "backslashreplace").decode("unicode_escape") if find else "",
            "replace": replace.encode("latin-1", "backslashreplace").decode("unicode_escape") if replace else "",
            "occurrences": occurrences, "target": target}
    response = httpx.post(f"{sandbox_url.rstrip('/')}/_sandbox/faults", json=rule, timeout=10)
    response.raise_for_status()
    console.print(response.json())


@faults_app.command("list")
def faults_list(sandbox_url: str = typer.Argument(...)) -> None:
    """Rules in force and what fired so far."""
    import httpx

    console.print(httpx.get(f"{sandbox_url.rstrip('/')}/_sandbox/faults", timeout=10).json())


@faults_app.command("clear")
def faults_clear(sandbox_url: str = typer.Argument(...)) -> None:
    """Remove every fault rule."""
    import httpx

    httpx.delete(f"{sandbox_url.rstrip('/')}/_sandbox/faults", timeout=10).raise_for_status()
    console.print("faults cleared")


@faults_app.command("data")
def faults_data(
    sandbox_url: str = typer.Argument(..., help="a provider sandbox, e.g. http://127.0.0.1:8101"),
    kind: str | None = typer.Option(None, help="missing_required, wrong_type, bad_email, progress_out_of_range, "
                                       "negative_duration, future_date, duplicate_id_in_page, unknown_language, repeat_page, skip_page"),
    count: int | None = typer.Option(None, help="fault this many records/pages"),
    rate: float | None = typer.Option(None, help="or this share of records"),
    stream: str | None = typer.Option(None, help="catalog, stats or a stream name"),
    clear: bool = typer.Option(False, "--clear", help="remove every data fault"),
) -> None:
    """Bad records and paging faults served by a provider sandbox (no option: list them)."""
    import httpx

    url = f"{sandbox_url.rstrip('/')}/_sandbox/data-faults"
    if clear:
        httpx.delete(url, timeout=10).raise_for_status()
        console.print("data faults cleared")
        return
    if kind:
        body: dict[str, Any] = {"kind": kind, **({"count": count} if count is not None else {}), **({"rate": rate} if rate is not None else {})}
        if stream:
            body["stream"] = stream
        httpx.post(url, json=body, timeout=10).raise_for_status()
    console.print(httpx.get(url, timeout=10).json())


@faults_app.command("lms360")
def faults_lms360(
    sandbox_url: str = typer.Argument(..., help="the 360Learning sandbox, e.g. http://127.0.0.1:8100"),
    reject: list[str] | None = typer.Option(None, "--reject", help="externalId whose bulk items fail (repeat)"),
    message: str = typer.Option("internalError: item rejected", help="per-item error message"),
    job_error: str | None = typer.Option(None, help="end the next bulk job in status error with this message"),
    clear: bool = typer.Option(False, "--clear", help="stop rejecting items"),
) -> None:
    """360Learning-side faults: per-item bulk errors and bulk jobs ending in error."""
    import httpx

    body = {"reject": reject or [], "message": message, "job_error": job_error, "clear": clear}
    httpx.post(f"{sandbox_url.rstrip('/')}/_sandbox/bulk-faults", json=body, timeout=10).raise_for_status()
    console.print("360Learning sandbox faults set")


@app.command()
def deploy(
    platform: str = typer.Option("default"),
    provider: list[str] | None = typer.Option(None, "--provider", "-p", help="default: all providers"),
    work_pool: str = typer.Option("learnsync-process", help="process work pool the deployments run on (created if missing)"),
    notify: str | None = typer.Option(
        None, help="notification block (type/name, e.g. slack-webhook/on-call) alerted on Failed, Crashed and Completed with errors runs"
    ),
) -> None:
    """Register the deployments of deployments/prefect.yaml (schedules in Europe/Paris), their limits and alerts."""
    from learnsync.deployments.register import register

    done = register(platform, provider, work_pool=work_pool, notify_block=notify)
    console.print(
        f"{len(done.deployments)} deployments registered on work pool {work_pool!r}, {len(done.limits)} concurrency limits set"
        + (f", {len(done.automations)} alerts sending to {notify}" if notify else " (no alerts: pass --notify type/name)")
        + f"; start a worker with `prefect worker start --pool {work_pool}`."
    )


@app.command()
def serve(
    platform: str = typer.Option("default"),
    provider: list[str] | None = typer.Option(None, "--provider", "-p", help="default: all providers"),
) -> None:
    """Serve every deployment from this process: schedules fire here while it runs; stopping it pauses them."""
    from prefect import serve as prefect_serve

    from learnsync.deployments.schedules import runner_deployments

    prefect_serve(*runner_deployments(platform, provider))


@app.command()
def doctor(
    provider: list[str] | None = typer.Option(None, "--provider", "-p", help="default: every provider"),
    platform: str = typer.Option("default"),
) -> None:
    """Check every configured host, credential and scope in seconds; one line per problem with its fix."""
    from learnsync.doctor import diagnose
    from learnsync.providers.registry import available_providers
    from learnsync.providers.settings import load_settings

    diagnosis = asyncio.run(diagnose(load_settings(), list(provider or available_providers()), platform))
    for finding in diagnosis.findings:
        console.print(finding.line(), markup=False, highlight=False, soft_wrap=True)
    problems = diagnosis.problems
    console.print(f"{len(problems)} problem(s)" if problems else "no problem found", markup=False)
    if problems:
        raise typer.Exit(code=CONFIG)  # a setting or a service to fix: one line each above


@app.command()
def reconcile(
    provider: str = typer.Option(..., "--provider", "-p", help=PROVIDERS_HELP),
    platform: str = typer.Option("default"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report the differences, repair nothing"),
) -> None:
    """Compare what 360Learning holds for the integration with the state store, and repair the drift."""
    settings, store = _prepare(provider, platform, services=False, writes=not dry_run)
    _require_integration(store, provider, platform)
    checks.check_services(settings, platform, [])
    checks.check_lms_credentials(settings, platform)
    from learnsync.flows.reconcile import reconcile as reconcile_flow

    report, run_id = output.run_flow(
        lambda: reconcile_flow(provider=provider, platform=platform, dry_run=dry_run, return_state=True),
        lms_url=_lms_url(settings, platform),
    )
    _finish(report, run_id, OutputFormat.table)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
