"""What the CLI prints: results on stdout, everything else (context, progress, retries, errors) on stderr.

Scripts read stdout (tables, or JSON with `--output json`); a person watches stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


def _width() -> int | None:
    # A terminal gets its own width; a pipe or a file gets the width COLUMNS says, else 120.
    if sys.stdout.isatty():
        return None
    return int(os.environ.get("COLUMNS") or 0) or 120


out = Console(width=_width(), soft_wrap=False)
err = Console(stderr=True, width=_width(), highlight=False)

_state: dict[str, Any] = {"db_url": None, "debug": False}


def set_debug(on: bool) -> None:
    _state["debug"] = on


def debug() -> bool:
    return bool(_state["debug"])


def set_db_url(url: str | None) -> None:
    _state["db_url"] = url


def current_db_url() -> str | None:
    return _state["db_url"]


def error_line(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def prefect_api_description() -> str:
    """The Prefect API this process talks to (Prefect settings: environment, profile)."""
    try:
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url
    except Exception:  # pragma: no cover - a broken profile: report what the environment says
        url = os.environ.get("PREFECT_API_URL")
    return url or "a temporary local server (runs vanish when the command ends; set PREFECT_API_URL to keep them)"


def prefect_ui_url() -> str | None:
    try:
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        return settings.ui_url or None if settings.api.url else None
    except Exception:  # pragma: no cover
        return None


def context_line(db_url: str | None, *, prefect: bool) -> None:
    """One short line: which state DB and which Prefect API this command used."""
    from learnsync.errors import redact_url

    parts = [f"state DB: {redact_url(db_url) if db_url else 'none'}"]
    if prefect:
        parts.append(f"Prefect API: {prefect_api_description()}")
    note(" · ".join(parts))


# -- reports ------------------------------------------------------------------------------------
def print_report(report: dict[str, Any], title: str | None = None, *, show_planned: int = 50) -> None:
    from learnsync.tasks.report import OUTCOMES

    status = report.get("status")
    table = Table(title=title or f"{report.get('provider')} {report.get('kind')}: {status}", title_justify="left", min_width=44)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome in OUTCOMES:
        table.add_row(outcome, str(report.get("counts", {}).get(outcome, 0)))
    out.print(table)
    if report.get("skipped"):
        out.print("skipped: " + ", ".join(f"{k}={v}" for k, v in report["skipped"].items()))
    for line in report.get("notes", []):
        out.print(f"• {escape(str(line))}")
    planned = report.get("planned")
    if planned is not None:
        print_planned(planned, report.get("planned_total"), show=show_planned)
    errors = report.get("errors") or []
    if errors:
        err_table = Table(title=f"errors ({report.get('error_count', len(errors))}, first {min(len(errors), 20)})")
        for col in ("external_id", "outcome", "field", "reason"):
            err_table.add_column(col, overflow="fold")
        for e in errors[:20]:
            err_table.add_row(e["external_id"], e["outcome"], e["field"], e["reason"])
        out.print(err_table)


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_planned(planned: list[dict[str, Any]], total: int | None, *, show: int = 50) -> None:
    """The item-level diff of a dry run: what would be created, updated, archived, restored."""
    total = total if total is not None else len(planned)
    if not planned:
        out.print("dry run: nothing would be created, updated, archived or restored")
        return
    table = Table(title=f"dry run: what a real run would do ({min(show, len(planned))} of {total} item(s))")
    for col in ("action", "external_id", "name", "changes"):
        table.add_column(col, overflow="fold")
    for item in planned[:show]:
        changes = item.get("changes") or {}
        text = "; ".join(f"{k}: {_short(v[0], 20)} → {_short(v[1], 20)}" for k, v in changes.items())
        if item.get("reason"):
            text = f"{item['reason']}" + (f"; {text}" if text else "")
        table.add_row(item["action"], str(item["external_id"]), _short(item.get("name") or "", 30), text)
    out.print(table)
    if total > show:
        out.print(f"… {total - show} more; `--output json` lists up to {len(planned)}")


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else there (scripts parse it)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# -- progress -----------------------------------------------------------------------------------
@dataclass
class ProgressCounts:
    """What a long command did so far, read from the log records of the run."""

    lms_host: str = ""
    pages: int = 0
    lms_requests: int = 0
    bulk_accepted: int = 0
    bulk_ended: int = 0
    items_pushed: int = 0
    retries: int = 0
    last: str = "starting"
    extra: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """What the run did over HTTP, for the record (the live line is gone once it ends)."""
        parts = []
        if self.pages:
            parts.append(f"{self.pages} provider pages read")
        if self.bulk_accepted:
            parts.append(f"{self.items_pushed} items pushed in {self.bulk_accepted} bulk job(s)")
        if self.retries:
            parts.append(f"{self.retries} request(s) retried")
        return " · ".join(parts)

    def line(self) -> str:
        parts = [self.last[:70]]
        if self.pages:
            parts.append(f"{self.pages} provider pages read")
        if self.bulk_accepted:
            waiting = self.bulk_accepted - self.bulk_ended
            parts.append(f"{self.items_pushed} items pushed in {self.bulk_accepted} bulk jobs ({waiting} waiting)")
        if self.retries:
            parts.append(f"{self.retries} retries")
        return " · ".join(parts)


class ProgressLog(logging.Handler):
    """Feeds the progress line from the run's logs; prints retries and warnings as they happen."""

    def __init__(self, progress: Progress, task_id: Any, counts: ProgressCounts) -> None:
        super().__init__(level=logging.DEBUG)
        self.progress, self.task_id, self.counts = progress, task_id, counts

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._count(record)
            self.progress.update(self.task_id, description=escape(self.counts.line()))
        except Exception:  # progress must never break a run
            pass

    def _count(self, record: logging.LogRecord) -> None:
        c = self.counts
        event = getattr(record, "learnsync_event", None)
        if event == "request":
            if getattr(record, "host", "") == c.lms_host:
                c.lms_requests += 1
            elif getattr(record, "method", "") == "GET":
                c.pages += 1
            return
        if event == "retry":
            c.retries += 1
            self.progress.console.print(f"[yellow]retry[/] {escape(record.getMessage())}", soft_wrap=True)
            return
        if record.levelno < logging.INFO:
            return
        message = record.getMessage().splitlines()[0]
        if record.name == "learnsync.lms360":
            if " accepted: operation " in message:
                c.bulk_accepted += 1
                try:
                    c.items_pushed += int(message.rsplit(",", 1)[1].split()[0])
                except (IndexError, ValueError):
                    pass
            elif " ended: " in message:
                c.bulk_ended += 1
        if record.levelno >= logging.ERROR:
            return  # the error that ends the command is printed once, as one line, at the end
        if record.levelno == logging.WARNING:
            self.progress.console.print(f"[yellow]warning[/] {escape(message)}", soft_wrap=True)
            return
        if not message.startswith(("Beginning ", "Finished in state", "Created task run", "Executing ")):
            c.last = message


WATCHED_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "learnsync")  # learnsync.* propagate to "learnsync"


def run_flow(call: Callable[[], Any], *, lms_url: str = "") -> tuple[dict[str, Any], str | None]:
    """Run a flow (the coroutine `call()` makes, called with return_state=True) with a live
    progress line; return its report and its Prefect flow run id. A failed run re-raises its
    exception (the CLI turns it into one line)."""
    from learnsync.errors import host_of

    counts = ProgressCounts(lms_host=host_of(lms_url) if lms_url else "")
    # A live line only on a terminal: a log file gets the retries, warnings and the summary line.
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True,
                        disable=not err.is_terminal)
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    http_log, own_log = logging.getLogger("learnsync.core.http"), logging.getLogger("learnsync")
    previous = http_log.level, own_log.level
    with progress:
        task_id = progress.add_task("starting the flow run", total=None)
        handler = ProgressLog(progress, task_id, counts)
        for log in loggers:
            log.addHandler(handler)
        http_log.setLevel(logging.DEBUG)  # every request (pages read), retries at INFO
        own_log.setLevel(logging.INFO)  # bulk jobs accepted and ended
        started = time.monotonic()
        try:
            state = asyncio.run(call())
        finally:
            http_log.setLevel(previous[0])
            own_log.setLevel(previous[1])
            for log in loggers:
                log.removeHandler(handler)
    if counts.summary():
        note(counts.summary())
    run_id = None
    details = getattr(state, "state_details", None)
    if details is not None and getattr(details, "flow_run_id", None):
        run_id = str(details.flow_run_id)
    result = state.result() if hasattr(state, "result") else state  # raises the run's exception if it failed
    if hasattr(result, "result") and hasattr(result, "type"):  # a State returned by the flow
        result = result.result()
    report = result if isinstance(result, dict) else {}
    report.setdefault("seconds", round(time.monotonic() - started, 1))
    return report, run_id


def flow_run_line(run_id: str | None) -> None:
    if not run_id:
        return
    ui = prefect_ui_url()
    note(f"Prefect flow run {run_id}" + (f": {ui.rstrip('/')}/runs/flow-run/{run_id}" if ui else ""))


def terminal_width() -> int:
    return shutil.get_terminal_size((120, 24)).columns
