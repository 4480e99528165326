"""Udemy Business REST sandbox (docs/providers/udemy.md): Basic auth, DRF paging, 429 + Retry-After.

Error bodies use Django REST Framework's `{"detail": ...}` shape, as the real API does.
Data faults (`sandboxes/data_faults.py`): `config.data_faults`, `app.state.data_faults`,
`/_sandbox/data-faults`; streams "courses", "learning_paths" (catalog) and "activity" (stats),
fields in `DATA_FAULT_STREAMS`. `bad_records` and `loop_on_page` are the older, generation-time /
permanent knobs, kept for existing tests.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from learnsync.sandboxes import data_faults as df
from learnsync.sandboxes.auth_headers import basic_credentials
from learnsync.sandboxes.faults import with_faults
from learnsync.sandboxes.ratelimit import TokenBucket, retry_after_seconds
from learnsync.sandboxes.udemy.data import ANONYMIZED, UdemyStore, generate

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
    data_faults: dict[str, Any] = Field(default_factory=dict)  # kind -> count | rate | {...} (data_faults.py)


_CATALOG_NOTES = {
    "unknown_language": "locale.locale unknown: the mapping falls back to the owner's language",
    "negative_duration": "estimated_content_length < 0: the mapping leaves duration unset",
    "future_date": "last_update_date / last_modified in the future: only kept in _extra",
    "duplicate_id_in_page": "the mapping keeps the first copy and lists the next as ignored",
}
DATA_FAULT_STREAMS = (
    df.StreamSpec(
        "courses", "catalog", key=("id",),
        mutations={
            "missing_required": df.drop("title", "url"),
            "wrong_type": df.retype(("title", 12345), ("url", ["https://acme.udemy.com/course/x/"])),
            "negative_duration": df.negative("estimated_content_length"),
            "future_date": df.future("last_update_date", "date"),
            "duplicate_id_in_page": df.duplicate_id("id"),
            "unknown_language": df.unknown_language("locale.locale"),
        },
        notes=_CATALOG_NOTES,
    ),
    df.StreamSpec(
        "learning_paths", "catalog", key=("id",),
        mutations={
            "missing_required": df.drop("title", "url"),
            "wrong_type": df.retype(("title", 12345), ("url", {"href": "https://acme.udemy.com/learning-paths/1/"})),
            "negative_duration": df.negative("estimated_content_length"),
            "future_date": df.future("last_modified", "iso"),
            "duplicate_id_in_page": df.duplicate_id("id"),
        },
        notes={**_CATALOG_NOTES, "unknown_language": "not applicable: paths carry no language (always en)"},
    ),
    df.StreamSpec(
        "activity", "stats", key=("course_id", "user_email"),
        mutations={
            "missing_required": df.drop("user_email", "course_id"),
            "wrong_type": df.retype(("course_id", {"id": 1}), ("user_email", 12345)),
            "bad_email": df.bad_email("user_email"),
            "progress_out_of_range": df.out_of_range("completion_ratio"),
            "negative_duration": df.negative("num_video_consumed_minutes"),
            "future_date": df.future("course_last_accessed_date", "iso"),
            "duplicate_id_in_page": df.duplicate_id("course_id", "user_email"),
        },
        # anonymized rows are skipped by the connector before any check: never picked
        eligible=lambda r: r.get("user_email") != ANONYMIZED,
        notes={
            "progress_out_of_range": "completion_ratio clamped to 0..100 and counted (skipped.progress_clamped)",
            "negative_duration": "num_video_consumed_minutes < 0: time spent left unset",
            "future_date": "course_last_accessed_date in the future: passed on as is",
            "duplicate_id_in_page": "no row id: the (course_id, user_email) pair of the previous row is copied",
            "unknown_language": "not applicable: activity rows carry no language",
        },
    ),
)


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
    faults = df.install(app, DATA_FAULT_STREAMS, seed=config.seed, faults=config.data_faults)
    rate = config.requests_per_second
    throttle = TokenBucket(rate, config.burst if config.burst is not None else max(1, int(rate)))

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
            seconds = retry_after_seconds(wait)
            raise _Refusal(
                429, f"Request was throttled. Expected available in {seconds} seconds.", {"Retry-After": str(seconds)}
            )

    @app.get(ROOT + "/courses/list/")
    async def courses(request: Request, org_id: str) -> JSONResponse:
        await guard(request, org_id)
        return _paged(request, app.state.store.courses(), config, faults, "courses")

    @app.get(ROOT + "/learning-paths/list/")
    async def learning_paths(request: Request, org_id: str) -> JSONResponse:
        await guard(request, org_id)
        return _paged(request, app.state.store.learning_paths(), config, faults, "learning_paths")

    @app.get(ROOT + "/analytics/user-course-activity/")
    async def user_course_activity(request: Request, org_id: str) -> JSONResponse:
        await guard(request, org_id)
        q = request.query_params
        rows = app.state.store.activities(
            _date_param(q, "from_date"), _date_param(q, "to_date"), q.get("user_email"), q.get("course_id")
        )
        return _paged(request, rows, config, faults, "activity")

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
    user, password = basic_credentials(header, strict=True) or ("", "")
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


def _paged(
    request: Request, rows: list[dict[str, Any]], config: UdemySandboxConfig, faults: df.DataFaults, stream: str
) -> JSONResponse:
    """DRF PageNumberPagination: count/next/previous/results; a page past the end is 404.

    Paging data faults swap the page served (its results and links); record faults change results."""
    size = _int_param(request.query_params, "page_size") or config.default_page_size
    size = max(1, min(size, config.max_page_size))
    raw_page = request.query_params.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() else 0
    pages = max(1, math.ceil(len(rows) / size))
    if page < 1 or page > pages:
        raise _Refusal(404, "Invalid page.")
    page = faults.page_to_serve(stream, page, pages)
    has_next = page < pages
    next_page = page if (config.loop_on_page is not None and page >= config.loop_on_page) else page + 1
    body = {
        "count": len(rows),
        "next": str(request.url.include_query_params(page=next_page)) if has_next else None,
        "previous": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
        "results": faults.apply(stream, rows[(page - 1) * size : page * size]),
    }
    return JSONResponse(body)
