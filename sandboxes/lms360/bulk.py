"""Asynchronous bulk operations (docs/lms360.md: Bulk operations): pending → queued → running → completed | error.

A submit registers the operation (enforcing the 3-concurrent limit) and starts an asyncio task
on the server's loop. Items are processed one by one; each yields a success/error result that
echoes its input. `bulk_start_delay_seconds` and `bulk_item_delay_seconds` model real timing:
item i is done no earlier than `start + (i + 1) x item delay`, so a job of N items runs for
N x item delay (the sandbox's own per-item work is paid out of that budget, as a real server's
is part of its processing time) unless the sandbox is slower than the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ItemError
from .ids import iso, now
from .schemas import describe
from .store import Lms360Store

ItemHandler = Callable[[Any], str]

_YIELD_EVERY = 200  # let other requests (status polls) in during big synchronous batches
_MIN_SLEEP = 0.002  # coalesce tiny per-item delays into sleeps the loop can honour


def validated(model: type[BaseModel], action: Callable[[Any], str]) -> ItemHandler:
    """Item handler: validate against `model` (errors become ItemError), then apply."""

    def handle(item: Any) -> str:
        try:
            dto = model.model_validate(item)
        except ValidationError as exc:
            raise ItemError(describe(exc)) from None
        return action(dto)

    return handle


def run_item(item: Any, handler: ItemHandler) -> dict[str, Any]:
    """One entry of the results array."""
    try:
        return {"status": "success", "input": item, "resourceId": handler(item)}
    except ItemError as exc:
        return {"status": "error", "input": item, "errorMessage": str(exc)}


class BulkRunner:
    """Owns the background tasks of one sandbox app."""

    def __init__(self, store: Lms360Store) -> None:
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, op_type: str, items: list[Any], handler: ItemHandler) -> str:
        """Register the operation (may raise the 429) and start processing it; returns its id."""
        op_id = self.store.open_bulk_operation(op_type)
        task = asyncio.get_running_loop().create_task(self._run(op_id, items, handler))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return op_id

    async def _run(self, op_id: str, items: list[Any], handler: ItemHandler) -> None:
        config = self.store.config
        half = config.bulk_start_delay_seconds / 2
        await asyncio.sleep(half)
        self.store.bulk_update(op_id, status="queued", queuedAt=iso(now()))
        await asyncio.sleep(half)
        started = iso(now())
        self.store.bulk_update(op_id, status="running", startedAt=started, progress={"index": 0, "updatedAt": started})
        if self.store.take_stall():
            return  # a job that never ends (store.stall_next_bulk)
        forced = self.store.take_forced_bulk_error()
        if forced is not None:
            self.store.bulk_finish(op_id, [], error=forced)
            return
        results: list[dict[str, Any]] = []
        began = time.monotonic()
        try:
            for index, item in enumerate(items):
                rejection = self.store.rejection_for(item)
                if self.store.result_dropped(item):
                    run_item(item, handler)  # applied, but its result entry is lost (store.drop_results)
                elif rejection is not None:
                    results.append({"status": "error", "input": item, "errorMessage": rejection})
                else:
                    results.append(run_item(item, handler))
                self.store.bulk_update(op_id, progress={"index": index, "updatedAt": iso(now())})
                ahead = began + (index + 1) * config.bulk_item_delay_seconds - time.monotonic()
                if ahead >= _MIN_SLEEP:
                    await asyncio.sleep(ahead)
                elif index % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)
            ahead = began + len(items) * config.bulk_item_delay_seconds - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        except Exception as exc:  # a sandbox bug must surface as a failed operation, not hang pollers
            self.store.bulk_finish(op_id, results, error=f"internal sandbox error: {type(exc).__name__}")
            return
        self.store.bulk_finish(op_id, results)
