"""Udemy Business REST sandbox (providers.md section 1): Basic auth, DRF paging, 429 + Retry-After.

Error bodies use Django REST Framework's `{"detail": ...}` shape, as the real API does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import math
import re
import threading
import time
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, SecretStr

from sandboxes.faults import with_faults
from sandboxes.udemy.data import UdemyStore, generate

ROOT = "/api-2.0/organizations/{org_id}"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class UdemySandboxConfig(BaseModel):
    """Data volume, credentials and behaviour; mutable at runtime via `app.state.config`."""

    model_config = ConfigDict(validate_assignment=True)

    seed: int = 42
    n_courses: int = 250
    n_learners: int = 50
    n_activities: int = 600
    n_learning_paths: int = 6
    bad_records: int = 0
    anchor: date | None = None  # activity dates end here (default: today, UTC)
    activity_days: int = 30
    org_id: str = "100028"
    client_id: str = "learnsync-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    requests_per_second: float = 100.0
    burst: int | None = None
    latency_seconds: float = 0.0
    default_page_size: int = 20
    max_page_size: int = 1000
    loop_on_page: int | None = None  # debug: from this page on, `next` points back to the same page


class _Throttle:
    """Server-side token bucket; tells how long until the next request would pass."""

    def __init__(self, rate: float, burst: int | None) -> None:
        self.rate = rate
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> float:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class _Refusal(Exception):
    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers or {}


def create_app(config: UdemySandboxConfig | None = None) -> Any:
    """FastAPI app wrapped with fault injection; `app.state.store` holds the live data."""
    config = config or UdemySandboxConfig()
    data = generate(
        config.seed, config.n_courses, config.n_learners, config.n_activities,
        n_learning_paths=config.n_learning_paths, anchor=config.anchor,
        activity_days=config.activity_days, bad_records=config.bad_records,
    )
    app = FastAPI(title="Udemy Business sandbox")
    app.state.config = config
    app.state.store = UdemyStore(data)
    app.state.counters = {"requests": 0, "throttled": 0, "unauthorized": 0}
    throttle = _Throttle(config.requests_per_second, config.burst)

    @app.exception_handler(_Refusal)
    async def _refused(_: Request, exc: _Refusal) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    async def guard(request: Request, org_id: str) -> None:
        """Latency, Basic auth (401), organization (403), rate limit (429 + Retry-After)."""
        app.state.counters["requests"] += 1
        if config.latency_seconds > 0:
            await asyncio.sleep(config.latency_seconds)
        _authenticate(request, config, app.state.counters)
        if org_id != config.org_id:
            raise _Refusal(403, "You do not have permission to perform this action.")
        wait = throttle.wait()
        if wait > 0:
            app.state.counters["throttled"] += 1
            seconds = max(1, math.ceil(wait))
            raise _Refusal(
                429, f"Request was throttled. Expected available in {seconds} seconds.", {"Retry-After": str(seconds)}
            )

    @app.get(ROOT + "/courses/list/")
    async def courses(request: Request, org_id: str) -> JSONResponse:
        await guard(request, org_id)
        return _paged(request, app.state.store.courses(), config)

    @app.get(ROOT + "/learning-paths/list/")
    async def learning_paths(request: Request, org_id: str) -> JSONResponse:
        await guard(request, org_id)
        return _paged(request, app.state.store.learning_paths(), config)

    @app.get(ROOT + "/analytics/user-course-activity/")
    async def user_course_activity(request: Request, org_id: str) -> JSONResponse:
        await guard(request, org_id)
        q = request.query_params
        rows = app.state.store.activities(
            _date_param(q, "from_date"), _date_param(q, "to_date"), q.get("user_email"), q.get("course_id")
        )
        return _paged(request, rows, config)

    @app.get("/_sandbox/state")
    async def state() -> dict[str, Any]:
        return {
            **app.state.store.summary(),
            **app.state.counters,
            "org_id": config.org_id,
            "requests_per_second": config.requests_per_second,
            "latency_seconds": config.latency_seconds,
            "loop_on_page": config.loop_on_page,
        }

    return with_faults(app)


def _authenticate(request: Request, config: UdemySandboxConfig, counters: dict[str, int]) -> None:
    header = request.headers.get("authorization", "")
    challenge = {"WWW-Authenticate": 'Basic realm="api"'}
    if not header.lower().startswith("basic "):
        counters["unauthorized"] += 1
        raise _Refusal(401, "Authentication credentials were not provided.", challenge)
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, password = "", ""
    ok = hmac.compare_digest(user.encode(), config.client_id.encode()) & hmac.compare_digest(
        password.encode(), config.client_secret.get_secret_value().encode()
    )
    if not ok:
        counters["unauthorized"] += 1
        raise _Refusal(401, "Invalid username/password.", challenge)


def _date_param(query: Any, name: str) -> date | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _Refusal(400, {name: ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}) from None


def _int_param(query: Any, name: str) -> int | None:
    value = query.get(name)
    return int(value) if value is not None and value.isdigit() else None


def _paged(request: Request, rows: list[dict[str, Any]], config: UdemySandboxConfig) -> JSONResponse:
    """DRF PageNumberPagination: count/next/previous/results; a page past the end is 404."""
    size = _int_param(request.query_params, "page_size") or config.default_page_size
    size = max(1, min(size, config.max_page_size))
    raw_page = request.query_params.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() else 0
    pages = max(1, math.ceil(len(rows) / size))
    if page < 1 or page > pages:
        raise _Refusal(404, "Invalid page.")
    has_next = page < pages
    next_page = page if (config.loop_on_page is not None and page >= config.loop_on_page) else page + 1
    body = {
        "count": len(rows),
        "next": str(request.url.include_query_params(page=next_page)) if has_next else None,
        "previous": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
        "results": rows[(page - 1) * size : page * size],
    }
    return JSONResponse(body)
