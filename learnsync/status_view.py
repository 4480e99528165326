"""`learnsync status`: what on-call needs from the state store, read-only.

Per provider and platform: the integration, the last runs (state, start, duration, counts, the
error, the Prefect flow run), open quarantine and the lifecycle actions (every run kind other
than the syncs, shown as they are). `collect_status` gathers plain data (the `--output json`
document); `render_status` prints it as tables.
"""

from __future__ import annotations

import os
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from learnsync.errors import ConfigProblem, describe, redact_url

SYNC_KINDS = frozenset({"content", "stats", "backfill"})
QUARANTINE_RUN_KINDS = {"course": ("content",), "stat": ("stats", "backfill")}


def open_read_only(url: str) -> tuple[Any, str]:
    """The store opened read-only and its schema state; a missing or foreign DB is one clear line."""
    from learnsync.statestore.store import StateStore

    shown = redact_url(url)
    try:
        store = StateStore.read_only(url)
        state, current, head = store.schema_state()
    except FileNotFoundError as exc:
        raise ConfigProblem(
            f"no state DB at {exc.filename}: nothing was synced with it yet (set LEARNSYNC_DATABASE_URL or pass --db)"
        ) from None
    except Exception as exc:
        raise ConfigProblem(describe(exc).message.replace("the state DB", f"the state DB {shown}", 1)) from exc
    if state == "empty":
        raise ConfigProblem(f"the state DB {shown} has no learnsync tables: nothing was synced with it yet")
    if state == "newer":
        raise ConfigProblem(f"the state DB {shown} is at schema revision {current}, unknown to this learnsync (expects {head}): upgrade learnsync")
    return store, state


def _prefect_setting(name: str) -> str | None:
    """A Prefect setting from the environment or the active profile, without importing Prefect
    (seconds of start-up); from Prefect itself when this process already loaded it."""
    if "prefect.settings" in sys.modules:
        settings = sys.modules["prefect.settings"].get_current_settings()
        return {"PREFECT_UI_URL": settings.ui_url if settings.api.url else None, "PREFECT_API_URL": settings.api.url}.get(name)
    if os.environ.get(name):
        return os.environ[name]
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    value = (profiles.get("profiles") or {}).get(active, {}).get(name)
    return str(value) if value else None


def prefect_ui_base() -> str | None:
    """The Prefect UI flow run links point at (PREFECT_UI_URL, else the API URL without /api)."""
    ui = _prefect_setting("PREFECT_UI_URL")
    if ui:
        return ui.rstrip("/")
    api = _prefect_setting("PREFECT_API_URL")
    if api:
        return api.rstrip("/").removesuffix("/api")
    return None


def _iso(value: Any) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if isinstance(value, datetime) else None


def _run_row(run: dict[str, Any], ui: str | None, now: datetime) -> dict[str, Any]:
    started, ended = run.get("started_at"), run.get("ended_at")
    seconds = ((ended or now) - started).total_seconds() if isinstance(started, datetime) else None
    flow_run = run.get("flow_run_id")
    return {
        "id": run["id"],
        "provider": run["provider"],
        "platform": run["platform"],
        "kind": run["kind"],
        "dry_run": bool(run.get("dry_run")),
        "status": run["status"],
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "seconds": round(seconds, 1) if seconds is not None else None,
        "counts": {k: v for k, v in (run.get("counts") or {}).items() if v},
        "error": run.get("error") or None,
        "params": run.get("params") or {},
        "flow_run_id": flow_run,
        "flow_run_url": f"{ui}/runs/flow-run/{flow_run}" if ui and flow_run else None,
    }


def _is_lifecycle(run: dict[str, Any]) -> bool:
    # Lifecycle actions are recorded with their own run kinds; a filter change once used the
    # content kind with its filters as parameters.
    return run["kind"] not in SYNC_KINDS or "filters" in (run.get("params") or {})


def _quarantine_rows(store: Any, integration: dict[str, Any], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    frame = store.open_quarantine(integration["id"])
    rows = []
    for q in frame.to_dict("records"):
        kinds = QUARANTINE_RUN_KINDS.get(q["kind"], ())
        first, last = q["first_seen_at"].to_pydatetime(), q["last_seen_at"].to_pydatetime()
        seen_in = [
            r for r in runs
            if r["kind"] in kinds and not r.get("dry_run") and r["started_at"] <= last and (r.get("ended_at") or last) >= first
        ]
        rows.append({
            "provider": integration["provider"], "platform": integration["platform"], "kind": q["kind"],
            "external_id": q["external_id"], "field": q["field"], "reason": q["reason"],
            "since": _iso(first), "last_seen": _iso(last), "runs": max(1, len(seen_in)),
        })
    return rows


def collect_status(store: Any, *, provider: str | None = None, platform: str | None = None, limit: int = 5) -> dict[str, Any]:
    """Everything `status` shows, as plain data."""
    ui = prefect_ui_base()
    now = datetime.now(UTC)
    pairs: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    lifecycle: list[dict[str, Any]] = []
    integrations = {(i["provider"], i["platform"]): i for i in store.list_integrations()}
    run_pairs = {(r["provider"], r["platform"]) for r in store.list_runs(limit=10_000)}
    for key in sorted(set(integrations) | run_pairs):
        prov, plat = key
        if (provider and prov != provider) or (platform and plat != platform):
            continue
        integ = integrations.get(key)
        runs = store.list_runs(limit=500, provider=prov, platform=plat)
        syncs = [r for r in runs if not _is_lifecycle(r)]
        pairs.append({
            "provider": prov,
            "platform": plat,
            "integration_id": integ.get("integration_id") if integ else None,
            "active": integ.get("active") if integ else None,
            "options": integ.get("options") if integ else {},
            "filters": integ.get("filters") if integ else {},
            "runs": [_run_row(r, ui, now) for r in syncs[:limit]],
        })
        lifecycle.extend(_run_row(r, ui, now) for r in runs if _is_lifecycle(r))
        if integ:
            quarantine.extend(_quarantine_rows(store, integ, runs))
    lifecycle.sort(key=lambda r: r["started_at"] or "", reverse=True)
    return {
        "state_db": redact_url(store.url),
        "prefect_ui": ui,
        "integrations": pairs,
        "quarantine": quarantine,
        "lifecycle": lifecycle[: max(limit, 10)],
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds / 3600:.0f}h{seconds % 3600 / 60:02.0f}m"


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


def _run_link(run: dict[str, Any]) -> str:
    return (run["flow_run_id"] or "-")[:8]  # the full id and UI link: below the table, and in JSON


# The runs table's columns and their options (Table.add_column's keywords).
_RUN_COLUMNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("run", {"justify": "right"}), ("kind", {}), ("state", {}), ("started (UTC)", {}), ("took", {"justify": "right"}),
    ("counts", {"overflow": "fold"}), ("error", {"overflow": "fold"}), ("Prefect flow run", {"overflow": "fold"}),
)


def render_status(data: dict[str, Any], console: Console) -> None:
    if not data["integrations"]:
        console.print("no integration and no run in this state DB yet: run `learnsync sync content --provider P`")
    for pair in data["integrations"]:
        active = {True: "active", False: "deactivated", None: "not configured"}[pair["active"]]
        head = f"{pair['provider']} on {pair['platform']}: {active}"
        if pair["integration_id"]:
            head += f", 360Learning integration {pair['integration_id']}"
        extras = [f"options {_params(pair['options'])}" if pair["options"] else "", f"filters {_params(pair['filters'])}" if pair["filters"] else ""]
        head += "".join(f"; {e}" for e in extras if e)
        table = Table(title=escape(head), title_justify="left", expand=False)
        for col, kw in _RUN_COLUMNS:
            table.add_column(col, **kw)
        for run in pair["runs"]:
            state = run["status"] + (" (dry run)" if run["dry_run"] else "")
            style = {"failed": "red", "completed_with_errors": "yellow", "running": "cyan"}.get(run["status"], "")
            table.add_row(
                str(run["id"]), run["kind"], f"[{style}]{state}[/]" if style else state, _when(run["started_at"]),
                _duration(run["seconds"]), _counts(run["counts"]), escape(run["error"] or ""), _run_link(run),
            )
        if not pair["runs"]:
            table.add_row("-", "", "no sync run yet", "", "", "", "", "")
        console.print(table)
        latest = next((r for r in pair["runs"] if r["flow_run_id"]), None)
        if latest:
            console.print(f"  latest flow run: {latest['flow_run_url'] or latest['flow_run_id']}", soft_wrap=True)
    if data["quarantine"]:
        table = Table(title=f"open quarantine ({len(data['quarantine'])} item(s))", title_justify="left")
        for col in ("provider", "platform", "kind", "key", "field", "reason", "since (UTC)", "runs"):
            table.add_column(col, overflow="fold", justify="right" if col == "runs" else "left")
        for q in data["quarantine"][:50]:
            table.add_row(q["provider"], q["platform"], q["kind"], escape(str(q["external_id"])), q["field"] or "-",
                          escape(str(q["reason"] or "")), _when(q["since"]), str(q["runs"]))
        console.print(table)
        if len(data["quarantine"]) > 50:
            console.print(f"… {len(data['quarantine']) - 50} more (`--output json` lists them all)")
    else:
        console.print("open quarantine: none")
    if data["lifecycle"]:
        table = Table(title="lifecycle actions (latest first)", title_justify="left")
        for col in ("when (UTC)", "provider", "platform", "action", "what", "state", "counts"):
            table.add_column(col, overflow="fold")
        for run in data["lifecycle"]:
            action = "filters" if run["kind"] == "content" and "filters" in run["params"] else run["kind"]
            table.add_row(_when(run["started_at"]), run["provider"], run["platform"], action, escape(_params(run["params"])),
                          run["status"] + (f": {escape(run['error'])}" if run["error"] else ""), _counts(run["counts"]))
        console.print(table)
