"""`learnsync demo`: every sandbox on loopback, SQLite state, Prefect; sync all; show what changed.

Rerunnable: the sandboxes start empty each time, so the demo starts from an empty state DB of
its own (`.learnsync/demo.db`, replaced on each run). It never touches the real state DB; an
explicit `--database-url` must hold no integration yet.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from learnsync.errors import ConfigProblem, redact_url
from learnsync.providers.registry import available_providers, provider_keys
from learnsync.providers.settings import env_prefix
from learnsync.sandboxes.fleet import sandbox_config_class, start_fleet
from learnsync.tasks.report import OUTCOMES

if TYPE_CHECKING:
    from prefect import Flow

DEMO_DB = Path(".learnsync") / "demo.db"
# Settings the demo sets itself: the user's (real hosts, real credentials) must not leak in.
_SERVICE_SETTINGS = ("LEARNSYNC_LMS360__", "LEARNSYNC_PLATFORMS", "LEARNSYNC_DATABASE_URL")


def _catalog_config(provider: str, courses: int) -> dict[str, Any]:
    cls = sandbox_config_class(provider)
    fields = getattr(cls, "model_fields", None) or getattr(cls, "__dataclass_fields__", {})
    return {"n_courses": courses} if "n_courses" in fields else {}


def demo_database(database_url: str | None) -> tuple[str, str]:
    """(the demo's state DB URL, the `--db` value that reaches it from this folder).

    The default file is replaced: its state describes sandboxes that are gone."""
    if database_url:
        from learnsync.statestore.store import StateStore

        if StateStore(database_url).list_integrations():
            raise ConfigProblem(
                f"the demo needs an empty state DB, and {redact_url(database_url)} already holds integrations "
                "(the demo's sandboxes start empty): drop --database-url to use .learnsync/demo.db"
            )
        return database_url, database_url
    DEMO_DB.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{DEMO_DB.resolve()}", str(DEMO_DB)


def run_demo(providers: list[str] | None, *, courses: int, database_url: str | None, console: Console) -> list[dict[str, Any]]:
    from learnsync import output
    from learnsync.flows.content_sync import content_sync
    from learnsync.flows.stats_sync import stats_sync

    providers = providers or available_providers()
    service_settings = (*_SERVICE_SETTINGS, *(env_prefix(p) for p in provider_keys()))
    for key in [k for k in os.environ if k.startswith(service_settings)]:
        del os.environ[key]
    db_url, db_arg = demo_database(database_url)
    os.environ["LEARNSYNC_DATABASE_URL"] = db_url
    output.set_db_url(db_url)
    fleet = start_fleet(providers, {p: _catalog_config(p, courses) for p in providers})
    fleet.apply_env()
    output.note("sandboxes: " + ", ".join(f"{n} {s.url}" for n, s in fleet.servers.items()))
    output.context_line(db_url, prefect=True)
    reports: list[dict[str, Any]] = []
    flows: tuple[tuple[str, Flow[..., Any]], ...] = (("content", content_sync), ("stats", stats_sync))
    try:
        for provider in providers:
            for name, flow_fn in flows:
                output.note(f"{provider}: {name} sync…")
                report, _run_id = output.run_flow(functools.partial(flow_fn, provider=provider, return_state=True), lms_url=fleet.url("lms360"))
                reports.append(report)
        lms = fleet.app("lms360").state.store
        table = Table(title="what was synced into the 360Learning sandbox")
        table.add_column("provider", no_wrap=True)
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
            f"State DB: {redact_url(db_url)} (course_states, stat_attempts, sync_runs, item_outcomes, quarantine_items); "
            "the demo starts it afresh each time.", soft_wrap=True,
        )
        console.print(f"Try: learnsync status --db {db_arg}", soft_wrap=True)
        console.print(
            "Then sync against sandboxes of your own: `learnsync sandbox all` in another terminal, "
            "then `learnsync sync content --provider udemy` (the default settings point at them).", soft_wrap=True,
        )
    finally:
        fleet.close()
    return reports
