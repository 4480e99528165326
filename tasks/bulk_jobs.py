"""Bulk job bookkeeping: reading per-item results, and resuming jobs a killed run left unconfirmed.

Every bulk job is recorded in the state store when 360Learning accepts it (with the keys of its
items); a run that dies before applying the job's results leaves it "submitted", and the next
run applies them here before planning anything.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import pandas as pd

from tasks.report import RunReport


def _now() -> datetime:
    return datetime.now(timezone.utc)


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
        resource = getattr(result, "course_id", None) or getattr(result, "resource_id", None)
        return bool(result.ok), resource, getattr(result, "error_message", None), result.input or {}
    data = result.model_dump(by_alias=True) if hasattr(result, "model_dump") else dict(result)
    ok = data.get("status") == "success"
    resource = data.get("resourceId") or data.get("resource_id")
    message = data.get("errorMessage") or data.get("error_message")
    return ok, resource, message, data.get("input") or {}


async def resolve_pending_jobs(lms: Any, store: Any, integration: dict, report: RunReport) -> int:
    """A previous run died between a bulk job's acceptance and its confirmation: apply its results now."""
    pending = store.pending_bulk_jobs(integration["id"])
    now = _now()
    for job in pending:
        status = await lms.wait_bulk(job["bulk_operation_id"])
        done = getattr(status, "status", None) or status.get("status")
        if done != "completed":
            store.confirm_bulk_job(job["bulk_operation_id"], "failed")
            continue
        results = await lms.bulk_results(job["bulk_operation_id"])
        if job["operation"] == "upsert" and hasattr(lms, "resolve_course_ids"):
            await lms.resolve_course_ids(integration["integration_id"], results)
        by_key = {item_key(job["operation"], result_fields(r)[3]): result_fields(r) for r in results}
        rows = []
        for item in job["items"] or []:
            ok, resource, _msg, _inp = by_key.get(item.get("key"), (False, None, None, {}))
            if not ok:
                continue
            if job["operation"] == "upsert":
                # A course being restored stays archived until its unarchive call: the next plan redoes it.
                status = "archived" if item.get("outcome") == "restored" else "active"
                rows.append({"external_id": item["key"], "course_id": resource, "status": status, "payload_hash": item.get("payload_hash"), "action": "updated"})
            elif job["operation"] == "archive":
                rows.append({"external_id": item["key"], "status": "archived", "archived_reason": item.get("reason"), "action": "archived"})
        if job["operation"] in ("upsert", "archive") and rows:
            store.apply_course_results(integration["id"], rows, now)
        if job["operation"] == "stats":
            stat_rows = [
                stat_state_row(item)
                for item in job["items"] or []
                if by_key.get(item.get("key"), (False,))[0]
            ]
            if stat_rows:
                store.apply_stat_results(integration["id"], stat_rows, now)
        store.confirm_bulk_job(job["bulk_operation_id"], "confirmed")
        report.notes.append(f"resumed bulk job {job['bulk_operation_id']} ({job['operation']}): applied the results it had left unconfirmed")
    return len(pending)


def stat_state_row(item: dict[str, Any]) -> dict[str, Any]:
    """A confirmed stat as the state store keeps it (the job record holds JSON, the store datetimes)."""
    row = {k: item[k] for k in ("course_external_id", "user_email", "attempt_no", "completed", "payload_hash")}
    row["first_activity_at"] = pd.Timestamp(item["first_activity_at"]).to_pydatetime()
    return row


def item_key(operation: str, item_input: dict[str, Any]) -> str:
    if operation == "stats":
        return f"{item_input.get('courseIdentifier', {}).get('value')}|{item_input.get('userIdentifier', {}).get('value')}"
    return str(item_input.get("externalId"))
