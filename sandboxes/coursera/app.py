"""Coursera for Business sandbox: the HTTP contract of providers.md section 2 + samples 6.5-6.9.

Auth, both generations (providers.md 2.2):
- `POST /oauth2/client_credentials/token`, Basic key:secret, `grant_type=client_credentials`.
- `POST /oauth2/v1/token` (legacy accounts host), form `grant_type=refresh_token` + client_id,
  client_secret, refresh_token. The refresh token lives `refresh_token_ttl_seconds` (2 weeks)
  and each successful refresh pushes its expiry back by the same TTL; once expired it answers
  400 `invalid_grant` until a human redoes the browser step (`auth.reissue_refresh_token()`).
- Access tokens live `access_token_ttl_seconds` (1800 s); an expired/unknown one -> 401.
Data: `GET /ent/api/businesses.v1/{orgId}/programs|contents|enrollmentReports`, `start`/`limit`
paging with `paging.next` = next offset as a string. Errors: `{"errorCode", "details"}` (6.9).
"""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandboxes.coursera.data import CourseraStore, generate
from sandboxes.faults import with_faults


@dataclass
class CourseraSandboxConfig:
    seed: int = 7
    n_courses: int = 250
    n_learners: int = 50
    n_activities: int = 500
    n_programs: int = 3
    org_id: str = "Xy12AbOrg"
    client_id: str = "learnsync-client"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "sandbox-refresh-token"
    access_token_ttl_seconds: float = 1800.0
    refresh_token_ttl_seconds: float = 14 * 86_400.0
    requests_per_second: float = 100.0
    latency_seconds: float = 0.0
    max_limit: int = 1000
    repeat_page_token: bool = False  # debug: paging.next sticks at the first offset (a paging loop)
    clock: Callable[[], float] = field(default=time.time, repr=False)


def _error(status: int, code: str, details: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorCode": code, "details": details}, status_code=status, headers=headers)


def _oauth_error(status: int, code: str, description: str) -> JSONResponse:
    # Token endpoints answer in OAuth2 style (`invalid_client`, providers.md 2.5).
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


class SandboxAuth:
    """Issued access tokens and the single refresh token, on the config's clock."""

    def __init__(self, config: CourseraSandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (clock seconds)
        self.refresh_token = config.refresh_token
        self.refresh_expires_at = config.clock() + config.refresh_token_ttl_seconds
        self.issued = 0
        self.refreshed = 0

    def issue_access_token(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._tokens[token] = self.config.clock() + self.config.access_token_ttl_seconds
            self.issued += 1
        return token, max(1, int(self.config.access_token_ttl_seconds) - 1)

    def check(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self.config.clock() < expiry

    def use_refresh_token(self, token: str) -> str | None:
        """None if accepted (and its expiry pushed back), else the reason it was refused."""
        with self._lock:
            if not secrets.compare_digest(token, self.refresh_token):
                return "unknown refresh token"
            now = self.config.clock()
            if now >= self.refresh_expires_at:
                return "refresh token expired"
            self.refresh_expires_at = now + self.config.refresh_token_ttl_seconds
            self.refreshed += 1
            return None

    def expire_access_tokens(self) -> None:
        """Test helper: every issued access token is now past its lifetime."""
        with self._lock:
            self._tokens = {t: 0.0 for t in self._tokens}

    def expire_refresh_token(self) -> None:
        with self._lock:
            self.refresh_expires_at = 0.0

    def reissue_refresh_token(self, token: str | None = None) -> str:
        """The browser step of the legacy flow: a new refresh token with a fresh lifetime."""
        with self._lock:
            self.refresh_token = token or secrets.token_urlsafe(24)
            self.refresh_expires_at = self.config.clock() + self.config.refresh_token_ttl_seconds
            return self.refresh_token


class _Bucket:
    """Server-side token bucket: over `rate` requests/s -> 429 with Retry-After."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float | None:
        """None if allowed, else seconds until the next slot."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            return (1 - self.tokens) / self.rate


async def _form(request: Request) -> dict[str, str]:
    """URL-encoded form body (parsed by hand: python-multipart is not a dependency)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        key, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return key, secret


def _after_ms(value: str | None) -> int | None | str:
    """`lastActivityAfter`: epoch ms (documented by the mock) or ISO (another client); 'bad' if neither."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "bad"
    return int(parsed.timestamp() * 1000) if parsed.tzinfo else "bad"


def create_app(config: CourseraSandboxConfig | None = None) -> Any:
    """Build the sandbox; live data in `app.state.store`, tokens in `app.state.auth`."""
    config = config or CourseraSandboxConfig()
    data = generate(config.seed, config.n_courses, config.n_learners, config.n_activities, config.n_programs)
    app = FastAPI(title="Coursera sandbox")
    app.state.config = config
    app.state.store = CourseraStore.from_data(data)
    app.state.auth = SandboxAuth(config)
    app.state.counters = {"requests": 0, "rate_limited": 0, "unauthorized": 0}
    bucket = _Bucket(config.requests_per_second)
    store: CourseraStore = app.state.store
    auth: SandboxAuth = app.state.auth
    counters: dict[str, int] = app.state.counters

    @app.middleware("http")
    async def throttle(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/_sandbox"):
            return await call_next(request)
        counters["requests"] += 1
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)
        wait = bucket.take()
        if wait is not None:
            counters["rate_limited"] += 1
            return _error(429, "TOO_MANY_REQUESTS", "rate limit exceeded", {"Retry-After": str(max(1, math.ceil(wait)))})
        return await call_next(request)

    @app.post("/oauth2/client_credentials/token")
    async def client_credentials_token(request: Request) -> Any:
        form = await _form(request)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        creds = _basic_credentials(request.headers.get("authorization"))
        if creds != (config.client_id, config.client_secret):
            return _oauth_error(401, "invalid_client", "client authentication failed")
        token, expires_in = auth.issue_access_token()
        return {"token_type": "Bearer", "access_token": token, "grant_type": "client_credentials",
                "issued_at": int(config.clock()), "expires_in": expires_in}

    @app.post("/oauth2/v1/token")
    async def legacy_token(request: Request) -> Any:
        form = await _form(request)
        if (form.get("client_id"), form.get("client_secret")) != (config.client_id, config.client_secret):
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "only refresh_token is served by the sandbox")
        refused = auth.use_refresh_token(str(form.get("refresh_token") or ""))
        if refused:
            return _oauth_error(400, "invalid_grant", refused)
        token, expires_in = auth.issue_access_token()
        return {"token_type": "Bearer", "access_token": token, "expires_in": expires_in}

    def _guard(request: Request, org_id: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not auth.check(header[7:].strip()):
            counters["unauthorized"] += 1
            return _error(401, "UNAUTHORIZED", "missing, invalid or expired access token")
        if org_id != config.org_id:
            return _error(403, "FORBIDDEN", f"app not authorized for business {org_id}")
        return None

    def _paging(request: Request) -> tuple[int, int] | JSONResponse:
        try:
            start = int(request.query_params.get("start", "0"))
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            return _error(400, "BAD_REQUEST", "start and limit must be integers")
        if start < 0 or limit < 1:
            return _error(400, "BAD_REQUEST", "start must be >= 0 and limit >= 1")
        return start, min(limit, config.max_limit)

    def _envelope(items: list[dict[str, Any]], start: int, limit: int, total: int) -> dict[str, Any]:
        paging: dict[str, Any] = {"total": total}
        if start + limit < total:
            paging["next"] = str(limit if config.repeat_page_token else start + limit)
        return {"elements": items, "paging": paging, "linked": {}}

    @app.get("/ent/api/businesses.v1/{org_id}/programs")
    async def programs(org_id: str, request: Request) -> Any:
        refused = _guard(request, org_id)
        if refused:
            return refused
        page = _paging(request)
        if isinstance(page, JSONResponse):
            return page
        start, limit = page
        exclude = request.query_params.get("excludeContent", "false").lower() == "true"
        items = [{k: v for k, v in p.items() if not (exclude and k == "contentIds")} for p in store.programs]
        return _envelope(items[start : start + limit], start, limit, len(items))

    @app.get("/ent/api/businesses.v1/{org_id}/contents")
    async def contents(org_id: str, request: Request) -> Any:
        refused = _guard(request, org_id)
        if refused:
            return refused
        page = _paging(request)
        if isinstance(page, JSONResponse):
            return page
        start, limit = page
        items, total = store.content_page(start, limit)
        return _envelope(items, start, limit, total)

    @app.get("/ent/api/businesses.v1/{org_id}/enrollmentReports")
    async def enrollment_reports(org_id: str, request: Request) -> Any:
        refused = _guard(request, org_id)
        if refused:
            return refused
        page = _paging(request)
        if isinstance(page, JSONResponse):
            return page
        start, limit = page
        params = request.query_params
        q, program_id, external_id = params.get("q"), params.get("programId"), params.get("externalId")
        if q not in (None, "byProgramId", "byUserProgramId"):
            return _error(400, "BAD_REQUEST", f"unknown finder q={q}")
        if q and not program_id:
            return _error(400, "BAD_REQUEST", "programId is required")
        if q == "byUserProgramId" and not external_id:
            return _error(400, "BAD_REQUEST", "externalId is required")
        if program_id and program_id not in store.program_ids():
            return _error(404, "NOT_FOUND", "unknown program")
        after = _after_ms(params.get("lastActivityAfter"))
        if after == "bad":
            return _error(400, "BAD_REQUEST", "lastActivityAfter must be epoch milliseconds or ISO 8601")
        rows = store.reports(program_id if q else None, external_id if q == "byUserProgramId" else None, after)  # type: ignore[arg-type]
        return _envelope(rows[start : start + limit], start, limit, len(rows))

    @app.get("/_sandbox/state")
    async def state() -> Any:
        return {**store.summary(), **counters, "tokens_issued": auth.issued, "refreshes": auth.refreshed,
                "refresh_token_expires_at": auth.refresh_expires_at}

    return with_faults(app)
