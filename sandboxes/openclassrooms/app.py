"""FastAPI sandbox of the (ASSUMED) OpenClassrooms B2B API (providers.md 4.2, samples 6.15-6.16).

- `POST /oauth2/token`: client_credentials with HTTP Basic client auth (form or JSON body);
  wrong credentials -> 401 `{"error": "invalid_client", "error_description": ...}` (RFC 6749).
- `GET /partners/{partnerId}/courses` and `GET /partners/{partnerId}/learners/progress?from=&to=`
  (inclusive YYYY-MM-DD on the row's last activity day): Bearer token; `Range: items=a-b` ->
  206 + `Content-Range: items a-b/total`; no Range -> 200 with everything; a range past the end or
  a malformed one -> 416 `Content-Range: items */total`. Errors are `{"error", "error_description"}`.
- Rate limit: token bucket of `requests_per_second` -> 429 (Retry-After only if configured: the
  provider does not document one). `latency_seconds` delays every API request.
- Debug: `repeat_page=True` serves the first range whatever is asked (a paging loop).
- `GET /_sandbox/state`: summary of the store, tokens issued and requests served.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from providers.openclassrooms import settings as oc
from providers.openclassrooms.models import content_range, parse_range
from sandboxes.faults import with_faults
from sandboxes.openclassrooms.data import OpenClassroomsStore, generate


@dataclass
class OpenClassroomsSandboxConfig:
    seed: int = 42
    n_courses: int = 250
    n_learners: int = 50
    n_activities: int = 500
    ghost_ratio: float = 0.03
    bad_ratio: float = 0.0
    client_id: str = "learnsync-client"
    client_secret: str = field(default="sandbox-secret", repr=False)
    partner_id: str = "org-4242"
    token_ttl_seconds: int = oc.ACCESS_TOKEN_DEFAULT_TTL
    max_range_items: int = oc.MAX_PAGE_SIZE
    requests_per_second: float = 100.0
    retry_after_on_429: float | None = None  # seconds to announce; None = no header (undocumented)
    latency_seconds: float = 0.0
    repeat_page: bool = False


def _error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status, headers=headers)


class _Bucket:
    """Server-side token bucket (the app serves from one event loop, no lock needed)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _parse_day(value: str | None) -> date | None:
    return None if value in (None, "") else date.fromisoformat(value)


def create_app(config: OpenClassroomsSandboxConfig | None = None) -> Any:
    """The sandbox app, wrapped with fault injection; live data in `app.state.store`."""
    config = config or OpenClassroomsSandboxConfig()
    store = OpenClassroomsStore.from_data(
        generate(config.seed, config.n_courses, config.n_learners, config.n_activities,
                 ghost_ratio=config.ghost_ratio, bad_ratio=config.bad_ratio)  # fmt: skip
    )
    app = FastAPI(title="OpenClassrooms sandbox", docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.store = store
    app.state.tokens = {}  # access token -> monotonic expiry
    app.state.requests = {"token": 0, "courses": 0, "progress": 0, "throttled": 0}
    bucket = _Bucket(config.requests_per_second)

    @app.middleware("http")
    async def throttle(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/_sandbox"):
            return await call_next(request)
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)
        if not bucket.take():
            app.state.requests["throttled"] += 1
            headers = {} if config.retry_after_on_429 is None else {"Retry-After": str(config.retry_after_on_429)}
            return _error(429, "rate_limit_exceeded", "Too many requests", headers)
        return await call_next(request)

    def _authorize(request: Request, partner_id: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        expiry = app.state.tokens.get(token) if token else None
        if expiry is None or expiry <= time.monotonic():
            return _error(401, "invalid_token", "The access token is missing, invalid or expired",
                          {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
        if partner_id != config.partner_id:
            return _error(403, "access_denied", "This client may not read this partner's data")
        return None

    def _ranged(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
        total = len(items)
        header = request.headers.get("range")
        if header is None:
            return JSONResponse(items, status_code=200)
        wanted = parse_range(header)
        if total == 0 and wanted is not None:
            return JSONResponse([], status_code=200, headers={"Content-Range": content_range(0, -1, 0)})
        if wanted is None or wanted[0] >= total:
            return _error(416, "range_not_satisfiable", "Invalid or out of bounds Range",
                          {"Content-Range": content_range(0, -1, total)})  # fmt: skip
        start, stop = (0, wanted[1] - wanted[0]) if config.repeat_page else wanted
        stop = min(stop, start + config.max_range_items - 1, total - 1)
        return JSONResponse(items[start : stop + 1], status_code=206,
                            headers={"Content-Range": content_range(start, stop, total)})  # fmt: skip

    @app.post(oc.TOKEN_PATH)
    async def token(request: Request) -> JSONResponse:
        app.state.requests["token"] += 1
        body: dict[str, Any] = {}
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                parsed = await request.json()
                body = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                body = {}
        else:  # form-encoded, parsed by hand (python-multipart is not a dependency)
            body = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        creds = _basic_credentials(request.headers.get("authorization"))
        if creds is None and body.get("client_id"):
            creds = (str(body.get("client_id")), str(body.get("client_secret", "")))
        if creds is None or not (
            secrets.compare_digest(creds[0], config.client_id) and secrets.compare_digest(creds[1], config.client_secret)
        ):
            return _error(401, "invalid_client", "Client authentication failed", {"WWW-Authenticate": "Basic"})
        if body.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "Only client_credentials is supported")
        access = secrets.token_urlsafe(24)
        app.state.tokens[access] = time.monotonic() + config.token_ttl_seconds
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": config.token_ttl_seconds})

    @app.get(oc.CATALOG_PATH)
    async def courses(partner_id: str, request: Request) -> JSONResponse:
        app.state.requests["courses"] += 1
        return _authorize(request, partner_id) or _ranged(request, store.course_list())

    @app.get(oc.PROGRESS_PATH)
    async def progress(partner_id: str, request: Request) -> JSONResponse:
        app.state.requests["progress"] += 1
        denied = _authorize(request, partner_id)
        if denied:
            return denied
        try:
            since = _parse_day(request.query_params.get("from"))
            until = _parse_day(request.query_params.get("to"))
        except ValueError:
            return _error(400, "invalid_request", "from/to must be dates (YYYY-MM-DD)")
        return _ranged(request, store.activity_list(since, until))

    @app.get("/_sandbox/state")
    async def state() -> dict[str, Any]:
        return {
            "partner_id": config.partner_id,
            **store.summary(),
            "tokens_issued": len(app.state.tokens),
            "requests": dict(app.state.requests),
        }

    return with_faults(app)
