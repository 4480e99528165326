"""`learnsync` command line: sandboxes, demo, syncs, backfills, status, integration lifecycle."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import date
from enum import Enum
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tasks.report import OUTCOMES

app = typer.Typer(help="learnsync: keep 360Learning fed from Udemy Business, Coursera, Edflex and OpenClassrooms.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160)


class SyncKind(str, Enum):
    content = "content"
    stats = "stats"


class _ProgressLog(logging.Handler):
    """Shows the flow's latest log line (pages read, batches confirmed...) on the progress bar."""

    def __init__(self, progress: Progress, task_id: Any) -> None:
        super().__init__(level=logging.INFO)
        self.progress, self.task_id = progress, task_id

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0][:90]
        self.progress.update(self.task_id, description=message, advance=1)


def _run_flow(coro: Any) -> dict[str, Any]:
    """Run a flow with a live progress bar fed by its run logs; return its report."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True)
    watched = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs", "learnsync.lms360")]
    with progress:
        task_id = progress.add_task("starting (watch it in the Prefect UI too)", total=None)
        handler = _ProgressLog(progress, task_id)
        for log in watched:
            log.addHandler(handler)
        try:
            result = asyncio.run(coro)
        finally:
            for log in watched:
                log.removeHandler(handler)
    return _result_dict(result)


def _result_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "result"):  # a Prefect State
        result = result.result()
    return result if isinstance(result, dict) else {}


def print_report(report: dict[str, Any], title: str | None = None) -> None:
    table = Table(title=title or f"{report.get('provider')} {report.get('kind')} — {report.get('status')}")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome in OUTCOMES:
        table.add_row(outcome, str(report.get("counts", {}).get(outcome, 0)))
    console.print(table)
    if report.get("skipped"):
        console.print("skipped: " + ", ".join(f"{k}={v}" for k, v in report["skipped"].items()))
    for note in report.get("notes", []):
        console.print(f"• {note}")
    errors = report.get("errors") or []
    if errors:
        err = Table(title=f"errors ({report.get('error_count', len(errors))}, first {len(errors)})")
        for col in ("external_id", "outcome", "field", "reason"):
            err.add_column(col)
        for e in errors[:20]:
            err.add_row(e["external_id"], e["outcome"], e["field"], e["reason"])
        console.print(err)


@app.command()
def sandbox(
    name: str = typer.Argument(..., help="360 (or lms360), udemy, coursera, edflex, openclassrooms"),
    port: int = typer.Option(0, help="port on 127.0.0.1 (default: the settings' port for that sandbox)"),
    host: str = typer.Option("127.0.0.1"),
) -> None:
    """Serve one sandbox API in the foreground (Ctrl-C to stop)."""
    from learnsync.sandboxes_runtime import sandbox_app
    from sandboxes.server import serve_forever

    key = "lms360" if name in ("360", "lms360", "360learning") else name
    defaults = {"lms360": 8100, "udemy": 8101, "coursera": 8102, "edflex": 8103, "openclassrooms": 8104}
    serve_forever(sandbox_app(key), host, port or defaults[key])


@app.command()
def sync(
    kind: SyncKind = typer.Argument(..., help="content or stats"),
    provider: str = typer.Option(..., "--provider", "-p"),
    platform: str = typer.Option("default"),
    dry_run: bool = typer.Option(False, "--dry-run", help="compute and report the full diff, write nothing"),
    force: bool = typer.Option(False, "--force", help="archive even if the extract shrank below the guard"),
) -> None:
    """Run one sync now (a Prefect flow run)."""
    if kind is SyncKind.content:
        from flows.content_sync import content_sync

        report = _run_flow(content_sync(provider=provider, platform=platform, dry_run=dry_run, force=force))
    else:
        from flows.stats_sync import stats_sync

        report = _run_flow(stats_sync(provider=provider, platform=platform, dry_run=dry_run))
    print_report(report)
    if report.get("status") == "completed_with_errors":
        raise typer.Exit(code=3)


@app.command()
def backfill(
    what: str = typer.Argument("stats", help="only 'stats' can be backfilled"),
    provider: str = typer.Option(..., "--provider", "-p"),
    since: str = typer.Option(..., help="first day, YYYY-MM-DD"),
    until: Optional[str] = typer.Option(None, help="day after the last one, YYYY-MM-DD (default: tomorrow)"),
    platform: str = typer.Option("default"),
    window_days: int = typer.Option(7, help="size of each independent window"),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Re-import historical statistics for a date range; the daily watermark is not moved."""
    if what != "stats":
        raise typer.BadParameter("only stats can be backfilled")
    from flows.stats_sync import stats_backfill

    report = _run_flow(
        stats_backfill(
            provider=provider,
            since=date.fromisoformat(since),
            until=date.fromisoformat(until) if until else None,
            platform=platform,
            window_days=window_days,
            dry_run=dry_run,
        )
    )
    print_report(report)


@app.command()
def status(limit: int = typer.Option(10, help="runs to show")) -> None:
    """Integrations, last runs and open quarantine from the state store."""
    from learnsync.runtime import state_store
    from learnsync.settings import load_settings

    store = state_store(load_settings().database_url)
    integ = Table(title="integrations")
    for col in ("provider", "platform", "360 integration", "active", "options", "filters"):
        integ.add_column(col)
    for row in store.list_integrations():
        integ.add_row(row["provider"], row["platform"], str(row.get("integration_id")), str(row.get("active")), str(row.get("options")), str(row.get("filters")))
    console.print(integ)
    runs = Table(title=f"last {limit} runs")
    for col in ("id", "provider", "kind", "status", "started", "counts"):
        runs.add_column(col)
    for run in store.list_runs(limit=limit):
        counts = {k: v for k, v in (run.get("counts") or {}).items() if v}
        runs.add_row(str(run["id"]), run["provider"], run["kind"], run["status"], str(run["started_at"])[:19], str(counts))
    console.print(runs)
    quarantine = store.open_quarantine()
    console.print(f"open quarantine: {len(quarantine)} item(s)")
    if len(quarantine):
        console.print(quarantine.head(20).to_string(index=False))


@app.command()
def demo(
    providers: Optional[list[str]] = typer.Option(None, "--provider", "-p", help="default: every provider available"),
    courses: int = typer.Option(200, help="catalog size per provider"),
    database_url: Optional[str] = typer.Option(None, help="default: sqlite file .learnsync/demo.db"),
) -> None:
    """Start the sandboxes on loopback and run content + stats sync for every provider through Prefect."""
    from learnsync.demo import run_demo

    run_demo(providers, courses=courses, database_url=database_url, console=console)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def bench(ctx: typer.Context) -> None:
    """Run the performance benchmark (same as `python -m bench`; `learnsync bench --help` for its options)."""
    from bench.cli import main as bench_main

    raise typer.Exit(bench_main(list(ctx.args)))


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--option expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out


@app.command()
def configure(
    provider: str = typer.Option(..., "--provider", "-p"),
    platform: str = typer.Option("default"),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="e.g. tags_sync=true, learning_paths_sync=true, skills_sync=true"),
) -> None:
    """Create (or adopt) the provider's integration in 360Learning, verify it is listed, store its id and options."""
    from flows.lifecycle import configure_integration

    row = asyncio.run(configure_integration(provider=provider, platform=platform, options=_parse_options(option or [])))
    console.print(f"{provider} on {platform}: integration {row['integration_id']} options={row.get('options')} filters={row.get('filters')}")


@app.command()
def filters(
    provider: str = typer.Option(..., "--provider", "-p"),
    language: Optional[list[str]] = typer.Option(None, "--language", "-l", help="repeat for several (OR)"),
    content_type: Optional[list[str]] = typer.Option(None, "--content-type", "-t", help="repeat for several (OR)"),
    platform: str = typer.Option("default"),
) -> None:
    """Save filters and apply them at once (archive what no longer matches; unarchive where the provider's rule says so)."""
    from flows.lifecycle import set_filters

    chosen: dict[str, list[str]] = {}
    if language:
        chosen["languages"] = language
    if content_type:
        chosen["content_types"] = content_type
    print_report(_run_flow(set_filters(provider=provider, filters=chosen, platform=platform)))


@app.command()
def share(
    provider: str = typer.Option(..., "--provider", "-p"),
    group: list[str] = typer.Option(..., "--group", "-g", help="target group id (repeat)"),
    target: Optional[list[str]] = typer.Option(None, help="catalog and/or library (default both)"),
    platform: str = typer.Option("default"),
) -> None:
    """Share every synced course with other groups' catalogs and libraries (bulk endpoints)."""
    from flows.lifecycle import share_courses

    result = asyncio.run(share_courses(provider=provider, group_ids=group, platform=platform, targets=target))
    console.print(result)


@app.command()
def deactivate(provider: str = typer.Option(..., "--provider", "-p"), platform: str = typer.Option("default")) -> None:
    """Archive every synced course and pause the schedules; learning data is kept."""
    from flows.lifecycle import deactivate_integration

    print_report(_run_flow(deactivate_integration(provider=provider, platform=platform)))


faults_app = typer.Typer(help="Switch fault injection on a running sandbox (see sandboxes/faults.py).", no_args_is_help=True)
app.add_typer(faults_app, name="faults")


@faults_app.command("add")
def faults_add(
    sandbox_url: str = typer.Argument(..., help="e.g. http://127.0.0.1:8100"),
    kind: str = typer.Option(..., help="status, timeout, drop, truncate or badjson"),
    path: str = typer.Option(".*", help="regex on the request path"),
    method: Optional[str] = typer.Option(None),
    status: int = typer.Option(503, help="for kind=status"),
    retry_after: Optional[float] = typer.Option(None, help="Retry-After seconds (kind=status)"),
    delay: float = typer.Option(5.0, help="seconds held (kind=timeout)"),
    times: Optional[int] = typer.Option(1, help="how many requests to hit; 0 = until cleared"),
    probability: float = typer.Option(1.0),
) -> None:
    """Add a transport fault rule to a sandbox."""
    import httpx

    rule = {"kind": kind, "path": path, "method": method, "status": status, "retry_after": retry_after,
            "delay": delay, "times": times or None, "probability": probability}
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
    kind: Optional[str] = typer.Option(None, help="missing_required, wrong_type, bad_email, progress_out_of_range, "
                                       "negative_duration, future_date, duplicate_id_in_page, unknown_language, repeat_page, skip_page"),
    count: Optional[int] = typer.Option(None, help="fault this many records/pages"),
    rate: Optional[float] = typer.Option(None, help="or this share of records"),
    stream: Optional[str] = typer.Option(None, help="catalog, stats or a stream name"),
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
    reject: Optional[list[str]] = typer.Option(None, "--reject", help="externalId whose bulk items fail (repeat)"),
    message: str = typer.Option("internalError: item rejected", help="per-item error message"),
    job_error: Optional[str] = typer.Option(None, help="end the next bulk job in status error with this message"),
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
    provider: Optional[list[str]] = typer.Option(None, "--provider", "-p", help="default: all providers"),
    work_pool: str = typer.Option("learnsync-process", help="process work pool the deployments run on (created if missing)"),
    notify: Optional[str] = typer.Option(
        None, help="notification block (type/name, e.g. slack-webhook/on-call) alerted on Failed, Crashed and Completed with errors runs"
    ),
) -> None:
    """Register the deployments of deployments/prefect.yaml (schedules in Europe/Paris), their limits and alerts."""
    from deployments.register import register

    done = register(platform, provider, work_pool=work_pool, notify_block=notify)
    console.print(
        f"{len(done.deployments)} deployments registered on work pool {work_pool!r}, {len(done.limits)} concurrency limits set"
        + (f", {len(done.automations)} alerts sending to {notify}" if notify else " (no alerts: pass --notify type/name)")
        + f"; start a worker with `prefect worker start --pool {work_pool}`."
    )


@app.command()
def serve(
    platform: str = typer.Option("default"),
    provider: Optional[list[str]] = typer.Option(None, "--provider", "-p", help="default: all providers"),
) -> None:
    """Serve every deployment from this process: schedules fire here while it runs; stopping it pauses them."""
    from prefect import serve as prefect_serve

    from deployments.schedules import runner_deployments

    prefect_serve(*runner_deployments(platform, provider))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    app()
