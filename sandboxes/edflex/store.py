"""The Edflex sandbox's live data: tests mutate it between runs through these methods.

Thread-safe (the server runs in another thread). Filtered id lists are cached per data
version so paging through 50,000 resources does not rescan them on every page.
"""

from __future__ import annotations

import copy
import threading
from datetime import date, datetime
from typing import Any

from learnsync.sandboxes.edflex.data import EdflexDataset


def _as_resource(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept a JSON:API object or a flat {"id", **attributes} dict."""
    if "attributes" in raw:
        item = copy.deepcopy(raw)
    else:
        item = {"id": raw["id"], "attributes": {k: copy.deepcopy(v) for k, v in raw.items() if k != "id"}}
    item.setdefault("type", "resources")
    return item


def _activity_day(attrs: dict[str, Any]) -> date | None:
    """The date the statistics filter compares with: last activity, else completion, else first."""
    for key in ("lastActivityAt", "completedAt", "firstActivityAt"):
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
            except ValueError:
                continue
    return None


class EdflexStore:
    def __init__(self, dataset: EdflexDataset) -> None:
        self._lock = threading.RLock()
        self._version = 0
        self._cache: dict[tuple[Any, ...], list[str]] = {}
        self.resources: dict[str, dict[str, Any]] = {r["id"]: r for r in dataset.resources}
        self.statistics: dict[str, dict[str, Any]] = {s["id"]: s for s in dataset.statistics}
        self._days: dict[str, date | None] = {k: _activity_day(s["attributes"]) for k, s in self.statistics.items()}
        self.catalogs = dataset.catalogs
        self.categories = dataset.categories

    def _touch(self) -> None:
        self._version += 1
        self._cache.clear()

    # -- mutations used by tests ------------------------------------------------------------

    def remove_course(self, resource_id: str) -> None:
        with self._lock:
            self.resources.pop(resource_id, None)
            self._touch()

    def set_course(self, resource_id: str, **attributes: Any) -> None:
        """Change attributes of a resource; a value of None removes the attribute."""
        with self._lock:
            attrs = self.resources[resource_id]["attributes"]
            for key, value in attributes.items():
                if value is None:
                    attrs.pop(key, None)
                else:
                    attrs[key] = value
            self._touch()

    def upsert_course(self, raw: dict[str, Any]) -> str:
        with self._lock:
            item = _as_resource(raw)
            self.resources[str(item["id"])] = item
            self._touch()
            return str(item["id"])

    def add_activity(self, raw: dict[str, Any]) -> str:
        """Add (or replace) a statistic: a JSON:API object or flat attributes with an optional id."""
        with self._lock:
            if "attributes" in raw:
                item = copy.deepcopy(raw)
            else:
                item = {"attributes": {k: v for k, v in raw.items() if k != "id"}}
                if "id" in raw:
                    item["id"] = raw["id"]
            item.setdefault("id", f"st-x{len(self.statistics) + 1:07d}")
            item.setdefault("type", "statistics")
            self.statistics[item["id"]] = item
            self._days[item["id"]] = _activity_day(item["attributes"])
            self._touch()
            return str(item["id"])

    def remove_activity(self, stat_id: str) -> None:
        with self._lock:
            self.statistics.pop(stat_id, None)
            self._days.pop(stat_id, None)
            self._touch()

    # -- queries used by routes -------------------------------------------------------------

    def resource_ids(self, *, language: str | None = None, kind: str | None = None, category: str | None = None,
                     ids: list[str] | None = None) -> list[str]:  # fmt: skip
        with self._lock:
            key = ("resources", language, kind, category, tuple(ids) if ids is not None else None)
            if key not in self._cache:
                wanted = set(ids) if ids is not None else None
                self._cache[key] = [
                    rid
                    for rid, r in self.resources.items()
                    if (wanted is None or rid in wanted)
                    and (language is None or r["attributes"].get("language") == language)
                    and (kind is None or r["attributes"].get("type") == kind)
                    and (category is None or any(
                        isinstance(c, dict) and c.get("id") == category for c in r["attributes"].get("categories") or []
                    ))
                ]  # fmt: skip
            return self._cache[key]

    def statistic_ids(self, since: date | None, until: date | None) -> list[str]:
        """Statistics whose activity day is within [since, until] (both inclusive, ASSUMED)."""
        with self._lock:
            key = ("statistics", since, until)
            if key not in self._cache:
                self._cache[key] = [
                    sid
                    for sid, day in self._days.items()
                    if (since is None or (day is not None and day >= since))
                    and (until is None or (day is not None and day <= until))
                ]
            return self._cache[key]

    def get_resources(self, ids: list[str]) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(self.resources[i]) for i in ids if i in self.resources]

    def get_statistics(self, ids: list[str]) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(self.statistics[i]) for i in ids if i in self.statistics]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            types: dict[str, int] = {}
            for r in self.resources.values():
                t = str(r["attributes"].get("type"))
                types[t] = types.get(t, 0) + 1
            return {
                "version": self._version,
                "resources": len(self.resources),
                "resources_by_type": types,
                "statistics": len(self.statistics),
                "catalogs": len(self.catalogs),
                "categories": len(self.categories),
            }
