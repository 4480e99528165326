"""Edflex Connect API sandbox (providers.md §3, samples 6.10-6.14), wrapped with fault injection.

Routes: POST /connect/v1/auth/token (form, client credentials), GET /connect/v1/resources
(page[number]/page[size], filter[language|type|categoryId|contentIds]), GET /connect/v1/catalogs,
GET /connect/v1/catalogs/{id}/categories, GET /connect/v1/statistics (ASSUMED: filter[from]/
filter[to] inclusive days on the activity date), GET /_sandbox/state. Errors use the JSON:API
`errors` array (6.13); too many requests → 429 with Retry-After (ASSUMED).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sandboxes.edflex.data import DEFAULT_NOW, generate
from sandboxes.edflex.store import EdflexStore
from sandboxes.faults import with_faults


@dataclass
class EdflexSandboxConfig:
    seed: int = 7
    n_courses: int = 300
    n_learners: int = 50
    n_activities: int = 1000
    org: str = "acme"
    now: datetime = DEFAULT_NOW
    bad_record_ratio: float = 0.01
    client_id: str = "learnsync-client"
    client_secret: str = field(default="sandbox-secret", repr=False)
    token_ttl_seconds: int = 3600
    requests_per_second: float = 100.0
    latency_seconds: float = 0.0
    default_page_size: int = 50
    max_page_size: int = 500
    loop_next_link: bool = False  # debug: links.next points back at the current page (paging loop)


def _error(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"code": str(status), "title": title, "detail": detail}]}, status_code=status, headers=headers
    )


class _Bucket:
    """Server-side token bucket; answers how long to wait when empty."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class _Tokens:
    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self._expiry[token] = time.monotonic() + self.ttl
        self.issued += 1
        return token

    def valid(self, token: str) -> bool:
        return self._expiry.get(token, 0.0) > time.monotonic()

    def expire_all(self) -> None:
        """Tests: make every issued token expired (next call answers 401)."""
        self._expiry = {t: 0.0 for t in self._expiry}


def _int_param(request: Request, name: str, default: int) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 1 else None


def _day_param(request: Request, name: str) -> date | None | str:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return "invalid"


def create_app(config: EdflexSandboxConfig | None = None) -> Any:
    """Build the sandbox app; `app.state.store`, `.tokens`, `.config` are the test handles."""
    cfg = config or EdflexSandboxConfig()
    dataset = generate(
        cfg.seed, cfg.n_courses, cfg.n_learners, cfg.n_activities,
        org=cfg.org, now=cfg.now, bad_record_ratio=cfg.bad_record_ratio,
    )  # fmt: skip
    app = FastAPI(title="Edflex Connect API sandbox")
    app.state.config = cfg
    app.state.store = EdflexStore(dataset)
    app.state.tokens = _Tokens(cfg.token_ttl_seconds)
    app.state.counters = {"requests": 0, "throttled": 0, "unauthorized": 0}
    bucket = _Bucket(cfg.requests_per_second)

    @app.middleware("http")
    async def throttle(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/connect/"):
            return await call_next(request)
        app.state.counters["requests"] += 1
        if cfg.latency_seconds:
            await asyncio.sleep(cfg.latency_seconds)
        wait = bucket.take()
        if wait > 0:
            app.state.counters["throttled"] += 1
            return _error(429, "Too Many Requests", "Rate limit exceeded", {"Retry-After": str(math.ceil(wait))})
        return await call_next(request)

    def unauthorized(request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and app.state.tokens.valid(token.strip()):
            return None
        app.state.counters["unauthorized"] += 1
        return _error(401, "Unauthorized", "Invalid or expired access token")

    def page_of(request: Request, ids: list[str]) -> tuple[int, int, list[str], dict[str, Any]] | JSONResponse:
        number = _int_param(request, "page[number]", 1)
        size = _int_param(request, "page[size]", cfg.default_page_size)
        if number is None or size is None:
            return _error(400, "Bad Request", "page[number] and page[size] must be positive integers")
        size = min(size, cfg.max_page_size)
        chunk = ids[(number - 1) * size : number * size]
        links: dict[str, Any] = {"self": str(request.url)}
        next_number = number if cfg.loop_next_link else (number + 1 if number * size < len(ids) else None)
        if next_number is not None:
            params = {k: v for k, v in request.query_params.items()} | {"page[number]": next_number, "page[size]": size}
            links["next"] = f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(params)}"
        meta = {"page": {"number": number, "size": size, "total": len(ids)}}
        return number, size, chunk, {"meta": meta, "links": links}

    @app.post("/connect/v1/auth/token")
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _error(400, "Bad Request", "grant_type must be client_credentials")
        if form.get("client_id") != cfg.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), cfg.client_secret
        ):
            return _error(401, "Unauthorized", "Invalid client credentials")
        return JSONResponse(
            {"access_token": app.state.tokens.issue(), "token_type": "Bearer", "expires_in": cfg.token_ttl_seconds}
        )

    @app.get("/connect/v1/resources")
    async def resources(request: Request) -> JSONResponse:
        if (denied := unauthorized(request)) is not None:
            return denied
        q = request.query_params
        content_ids = [i for i in q["filter[contentIds]"].split(",") if i] if "filter[contentIds]" in q else None
        if content_ids is not None and len(content_ids) > 50:
            return _error(400, "Bad Request", "filter[contentIds] accepts at most 50 ids")
        ids = app.state.store.resource_ids(
            language=q.get("filter[language]"), kind=q.get("filter[type]"),
            category=q.get("filter[categoryId]"), ids=content_ids,
        )  # fmt: skip
        page = page_of(request, ids)
        if isinstance(page, JSONResponse):
            return page
        _, _, chunk, envelope = page
        return JSONResponse({"data": app.state.store.get_resources(chunk), **envelope})

    @app.get("/connect/v1/catalogs")
    async def catalogs(request: Request) -> JSONResponse:
        if (denied := unauthorized(request)) is not None:
            return denied
        return JSONResponse({"data": app.state.store.catalogs})

    @app.get("/connect/v1/catalogs/{catalog_id}/categories")
    async def categories(catalog_id: str, request: Request) -> JSONResponse:
        if (denied := unauthorized(request)) is not None:
            return denied
        if catalog_id not in {c["id"] for c in app.state.store.catalogs}:
            return _error(404, "Not Found", "Unknown catalog")
        by_id = {c["id"]: c for c in app.state.store.categories}
        page = page_of(request, list(by_id))
        if isinstance(page, JSONResponse):
            return page
        _, _, chunk, envelope = page
        return JSONResponse({"data": [by_id[i] for i in chunk], **envelope})

    @app.get("/connect/v1/statistics")
    async def statistics(request: Request) -> JSONResponse:
        if (denied := unauthorized(request)) is not None:
            return denied
        since, until = _day_param(request, "filter[from]"), _day_param(request, "filter[to]")
        if since == "invalid" or until == "invalid":
            return _error(400, "Bad Request", "filter[from] and filter[to] must be YYYY-MM-DD dates")
        ids = app.state.store.statistic_ids(since, until)  # type: ignore[arg-type]
        page = page_of(request, ids)
        if isinstance(page, JSONResponse):
            return page
        _, _, chunk, envelope = page
        return JSONResponse({"data": app.state.store.get_statistics(chunk), **envelope})

    @app.get("/_sandbox/state")
    async def state() -> dict[str, Any]:
        return {
            **app.state.store.summary(),
            "tokens_issued": app.state.tokens.issued,
            "counters": dict(app.state.counters),
        }

    return with_faults(app)
