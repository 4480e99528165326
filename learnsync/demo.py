"""`learnsync demo`: every sandbox on loopback, SQLite state, local Prefect; sync all; show what changed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from learnsync.sandboxes_runtime import start_fleet
from providers.registry import available_providers
from tasks.report import OUTCOMES


def _catalog_config(provider: str, courses: int) -> dict[str, Any]:
    from learnsync.sandboxes_runtime import PROVIDER_SANDBOXES
    import importlib

    cls = getattr(importlib.import_module(f"sandboxes.{provider}"), PROVIDER_SANDBOXES[provider])
    fields = getattr(cls, "model_fields", None) or getattr(cls, "__dataclass_fields__", {})
    return {"n_courses": courses} if "n_courses" in fields else {}


def run_demo(providers: list[str] | None, *, courses: int, database_url: str | None, console: Console) -> list[dict[str, Any]]:
    from flows.content_sync import content_sync
    from flows.stats_sync import stats_sync

    providers = providers or available_providers()
    db_url = database_url or os.environ.get("LEARNSYNC_DATABASE_URL") or f"sqlite:///{Path('.learnsync').resolve() / 'demo.db'}"
    Path(".learnsync").mkdir(exist_ok=True)
    os.environ["LEARNSYNC_DATABASE_URL"] = db_url
    fleet = start_fleet(providers, {p: _catalog_config(p, courses) for p in providers})
    fleet.apply_env()
    console.print("sandboxes: " + ", ".join(f"{n} {s.url}" for n, s in fleet.servers.items()))
    console.print("Prefect: " + (os.environ.get("PREFECT_API_URL") or "local ephemeral server (starts on first flow run)"))
    reports: list[dict[str, Any]] = []
    try:
        for provider in providers:
            for name, flow_fn in (("content", content_sync), ("stats", stats_sync)):
                with console.status(f"{provider}: {name} sync…"):
                    state = asyncio.run(flow_fn(provider=provider))
                report = state.result() if hasattr(state, "result") else state
                reports.append(report)
        lms = fleet.app("lms360").state.store
        table = Table(title="what was synced into the 360Learning sandbox")
        table.add_column("provider")
        table.add_column("flow")
        table.add_column("status")
        for outcome in OUTCOMES:
            table.add_column(outcome, justify="right")
        for rep in reports:
            table.add_row(rep["provider"], rep["kind"], rep["status"], *[str(rep["counts"].get(o, 0)) for o in OUTCOMES])
        console.print(table)
        console.print(f"360Learning sandbox now holds {len(lms.courses())} courses and {len(lms.attempts())} learner attempts.")
        for rep in reports:
            for err in rep.get("errors", [])[:3]:
                console.print(f"  {rep['provider']} {rep['kind']}: {err['outcome']} {err['external_id']} {err['field']}: {err['reason']}")
        console.print(
            f"State DB: {db_url} — tables course_states (one row per synced course), stat_attempts, sync_runs, "
            "item_outcomes, quarantine_items. Try: learnsync status"
        )
    finally:
        fleet.close()
    return reports
