"""The item-level diff a dry run shows: each course a real run would create, update, archive or
restore, with the fields that would change (old -> new). Built from the plan, read-only."""

from __future__ import annotations

from typing import Any

import pandas as pd

from learnsync.tasks.diff import FIELD_PREFIX, build_payloads

PLANNED_ACTIONS = ("created", "updated", "archived", "restored")
MAX_PLANNED = 1_000  # items kept on the report; the counts still cover every course


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return [str(x) for x in a] == [str(x) for x in b]
    return a == b


def planned_items(items: pd.DataFrame, stored: dict[str, dict[str, Any] | None], limit: int = MAX_PLANNED) -> tuple[list[dict[str, Any]], int]:
    """(the first `limit` planned items, how many there are) from a plan's items.

    `stored`: the payload last confirmed by 360Learning per external id (for the changed fields).
    """
    rows = items[items["outcome"].isin([*PLANNED_ACTIONS, "retag"])]
    total = len(rows)
    rows = rows.head(limit)
    if not len(rows):
        return [], total
    payloads = build_payloads(rows, prefix=FIELD_PREFIX)
    out: list[dict[str, Any]] = []
    for rec, new in zip(rows.to_dict("records"), payloads):
        ext = str(rec["external_id"])
        old = stored.get(ext) or {}
        action = "updated" if rec["outcome"] == "retag" else str(rec["outcome"])
        item: dict[str, Any] = {"action": action, "external_id": ext, "name": new.get("name") or old.get("name") or "", "reason": str(rec.get("reason") or "")}
        if action == "updated":
            changes = {k: [old.get(k), v] for k, v in new.items() if not _same(old.get(k), v)}
            changes.update({k: [old[k], None] for k in old if k not in new})
            for column, state_column in (("tags", "state_tags"), ("skills", "state_skills")):
                before, after = rec.get(state_column), rec.get(column)
                if isinstance(after, list) and not _same(sorted(map(str, before or [])), sorted(map(str, after))):
                    changes[column] = [before, after]
            item["changes"] = changes
        out.append(item)
    return out, total
