"""Helpers for end-to-end tests: run flows for real and read what reached the sandboxes."""

from __future__ import annotations

import asyncio
from typing import Any

from learnsync.flows.runtime import state_store


def run(flow_call: Any) -> dict[str, Any]:
    """Run a flow coroutine to completion; return its report dict."""
    result = asyncio.run(flow_call)
    return result.result() if hasattr(result, "result") else result


def lms(fleet: Any) -> Any:
    return fleet.app("lms360").state.store


def provider_store(fleet: Any, name: str) -> Any:
    return fleet.app(name).state.store


def synced_courses(fleet: Any) -> dict[str, dict[str, Any]]:
    """360Learning sandbox courses by externalId."""
    return {c["externalId"]: c for c in lms(fleet).courses()}


def writes(fleet: Any) -> int:
    """Write requests that reached the 360Learning sandbox (course/stat/archive/tag/skill changes)."""
    return sum(n for route, n in lms(fleet).request_counts().items() if not route.startswith(("GET", "POST /api/v2/oauth2")))


def store() -> Any:
    import os

    return state_store(os.environ["LEARNSYNC_DATABASE_URL"])
