"""Bulk job bookkeeping: reading per-item results, and resuming jobs a killed run left unconfirmed.

Every bulk job is recorded in the state store when 360Learning accepts it (with the keys of its
items); a run that dies before applying the job's results leaves it "submitted", and the next
run applies them here before planning anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from learnsync.core.http import ApiError
from learnsync.statestore.models import as_utc
from learnsync.tasks.confirmed import course_row, parked_from_journal, stat_row
from learnsync.tasks.item_errors import is_permanent
from learnsync.tasks.report import RunReport

log = logging.getLogger("learnsync.bulk_jobs")


def _now() -> datetime:
    return datetime.now(UTC)


class JobRecorder:
    """`on_submitted` callback: records each accepted job with its item keys, remembers its id."""

    def __init__(self, store: Any, integration_pk: int, run_pk: int | None, operation: str, key_fn: Callable[[dict], dict]) -> None:
        self._store, self._pk, self._run_pk, self._operation, self._key_fn = store, integration_pk, run_pk, operation, key_fn
        self.operations: list[str] = []

    async def __call__(self, bulk_operation_id: str, batch: list[dict]) -> None:
        self.operations.append(bulk_operation_id)
        self._store.record_bulk_job(self._pk, self._run_pk, self._operation, bulk_operation_id, [self._key_fn(item) for item in batch])


async def confirm_jobs(store: Any, lms: Any, operations: list[str]) -> None:
    """Mark confirmed the jobs whose results were just applied (never another call's jobs in flight)."""
    for operation in operations:
        status = await lms.wait_bulk(operation)  # ended already: one status read
        done = getattr(status, "status", None) or status.get("status")
        store.confirm_bulk_job(operation, "confirmed" if done == "completed" else "failed")


def result_fields(result: Any) -> tuple[bool, str | None, str | None, dict[str, Any]]:
    """(ok, resourceId, errorMessage, input) from a bulk item result (pydantic model or dict)."""
    if hasattr(result, "ok") and hasattr(result, "input"):  # lms360 models: no dump per item
        # A course upsert's id is the checked course id (lms360 resolve_course_ids), not resourceId.
        if result.ok:  # a success has no error_message (a missing attribute costs pydantic a lookup of extras)
            return True, getattr(result, "course_id", None) or getattr(result, "resource_id", None), None, result.input or {}
        return False, None, getattr(result, "error_message", None), result.input or {}
    data = result.model_dump(by_alias=True) if hasattr(result, "model_dump") else dict(result)
    ok = data.get("status") == "success"
    resource = data.get("resourceId") or data.get("resource_id")
    message = data.get("errorMessage") or data.get("error_message")
    return ok, resource, message, data.get("input") or {}


async def resolve_pending_jobs(lms: Any, store: Any, integration: dict, report: RunReport) -> int:
    """Bulk jobs a previous run left between acceptance and confirmation: apply what ended.

    Each job's status is read once (never waited for: one stuck job must not stall every later
    run). A job still running is left for a later run until it is older than the client's
    `bulk_job_expiry_seconds`; then it is recorded as expired and its items planned again:
    courses are upserted by externalId (idempotent), and its stats are parked and resent, which
    360Learning's attempt rules make safe (same first activity: the same attempt is updated).
    """
    pending = store.pending_bulk_jobs(integration["id"])
    now = _now()
    expiry = float(getattr(lms.settings, "bulk_job_expiry_seconds", 6 * 3600.0))
    resolved = 0
    for job in pending:
        op_id = job["bulk_operation_id"]
        try:
            status = await lms.get_bulk_status(op_id)
            done = getattr(status, "status", None) or status.get("status")
        except ApiError as exc:
            if exc.status != 404:
                raise
            done = "unknown"  # 360Learning no longer knows the job
        if done in ("completed", "error"):
            resolved += 1
            if done == "error":
                _expire(store, integration, job, report, f"ended in error at 360Learning ({_error_of(status)})", "failed")
                continue
            results = await lms.bulk_results(op_id)
            if job["operation"] == "upsert":
                await lms.resolve_course_ids(integration["integration_id"], results)
            _apply(store, integration, job, results, report, now)
            continue
        age = (now - as_utc(job["submitted_at"])).total_seconds()
        if done != "unknown" and age < expiry:
            report.notes.append(
                f"bulk job {op_id} ({job['operation']}) accepted {age / 60:.0f} min ago is still {done}: left for a later run"
            )
            continue
        resolved += 1
        why = "unknown to 360Learning" if done == "unknown" else f"still {done} {age / 3600:.1f} h after it was accepted"
        _expire(store, integration, job, report, why, "expired")
    return resolved


def _error_of(status: Any) -> str:
    return str(getattr(status, "error_message", None) or (status.get("errorMessage") if isinstance(status, dict) else None) or "no message")


def _apply(store: Any, integration: dict, job: dict[str, Any], results: list[Any], report: RunReport, now: datetime) -> None:
    """Write the state rows of the items a resumed job confirmed; park stats it did not take."""
    op = job["operation"]
    by_key = {item_key(op, result_fields(r)[3]): result_fields(r) for r in results}
    items = job["items"] or []
    confirmed = [(item, by_key[item.get("key")][1]) for item in items if by_key.get(item.get("key"), (False,))[0]]
    if op in ("upsert", "archive") and confirmed:
        store.apply_course_results(integration["id"], [course_row(op, item, resource) for item, resource in confirmed], now)
        for item, _ in confirmed:
            report.resumed[item["key"]] = "archived" if op == "archive" else (item.get("outcome") or "updated")
    if op == "stats":
        if confirmed:
            store.apply_stat_results(integration["id"], [stat_row(item) for item, _ in confirmed], now)
        missing = [
            item for item in items
            if not by_key.get(item.get("key"), (False,))[0] and not is_permanent(by_key.get(item.get("key"), (None, None, None))[2])
        ]
        if missing:
            report.parked += store.park_stats(integration["id"], parked_from_journal(missing), "undelivered", "not confirmed by a resumed bulk job", now)
    store.confirm_bulk_job(job["bulk_operation_id"], "confirmed")
    report.notes.append(
        f"resumed bulk job {job['bulk_operation_id']} ({op}): applied the {len(confirmed)} results it had left unconfirmed"
    )


def _expire(store: Any, integration: dict, job: dict[str, Any], report: RunReport, why: str, status: str) -> None:
    """Give up on a job: its courses are planned again by the next plan, its stats are parked."""
    op_id, op = job["bulk_operation_id"], job["operation"]
    items = job["items"] or []
    if op == "stats" and items:
        report.parked += store.park_stats(integration["id"], parked_from_journal(items), "undelivered", f"bulk job {op_id} {status}", _now())
    store.confirm_bulk_job(op_id, status)
    report.notes.append(f"bulk job {op_id} ({op}, {len(items)} items) {why}: recorded as {status}, its items are sent again")
    log.warning("bulk job %s (%s) %s: recorded as %s", op_id, op, why, status)


def item_key(operation: str, item_input: dict[str, Any]) -> str:
    if operation == "stats":
        return f"{item_input.get('courseIdentifier', {}).get('value')}|{item_input.get('userIdentifier', {}).get('value')}"
    return str(item_input.get("externalId"))
