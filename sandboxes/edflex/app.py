"""Edflex Connect API sandbox (docs/providers/edflex.md), wrapped with fault injection.

Routes: POST /connect/v1/auth/token (form, client credentials), GET /connect/v1/resources
(page[number]/page[size], filter[language|type|categoryId|contentIds]), GET /connect/v1/catalogs,
GET /connect/v1/catalogs/{id}/categories, GET /connect/v1/statistics (ASSUMED: filter[from]/
filter[to] inclusive days on the activity date), GET /_sandbox/state. Errors use the JSON:API
`errors` array; too many requests → 429 with Retry-After (ASSUMED).
Data faults (`sandboxes/data_faults.py`): `config.data_faults`, `app.state.data_faults`,
`/_sandbox/data-faults`; streams "resources" (catalog) and "statistics" (stats), fields in
`DATA_FAULT_STREAMS`. `bad_record_ratio` (generation time) and `loop_next_link` (a permanent
paging loop) are the older knobs, kept for existing tests.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from learnsync.sandboxes import data_faults as df
from learnsync.sandboxes.auth_headers import bearer_token
from learnsync.sandboxes.edflex.data import DEFAULT_NOW, generate
from learnsync.sandboxes.edflex.store import EdflexStore
from learnsync.sandboxes.faults import with_faults
from learnsync.sandboxes.forms import read_form
from learnsync.sandboxes.ratelimit import TokenBucket, install_throttle, retry_after_seconds
from learnsync.sandboxes.tokens import AccessTokens


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
    data_faults: dict[str, Any] = field(default_factory=dict)  # kind -> count | rate | {...} (data_faults.py)


_SYNCED_TYPES = {"article", "mooc", "podcast", "video"}  # what the connector syncs (docs: EDFLEX-02)
_OPEN_STATUSES = {"coming soon", "open all year", "opened"}  # other statuses archive: fields unchecked


def _synced(resource: dict[str, Any]) -> bool:
    attrs = resource.get("attributes") or {}
    status = attrs.get("status")
    open_ = status is None or (isinstance(status, str) and re.sub(r"[\s_\-]+", " ", status.strip().lower()) in _OPEN_STATUSES)
    return attrs.get("type") in _SYNCED_TYPES and open_


DATA_FAULT_STREAMS = (
    df.StreamSpec(
        "resources", "catalog", key=("id",),
        mutations={
            "missing_required": df.drop("attributes.title", "attributes.url", "attributes.type"),
            "wrong_type": df.retype(("attributes.title", 42), ("attributes.url", {"href": "https://acme.edflex.com/x"})),
            "negative_duration": df.negative("attributes.duration"),
            "duplicate_id_in_page": df.duplicate_id("id"),
            "unknown_language": df.unknown_language("attributes.language"),
        },
        eligible=_synced,
        notes={
            "negative_duration": "duration '-PT..' / < 0: the mapping leaves duration unset",
            "unknown_language": "the mapping falls back to the owner's language (no language filter value)",
            "duplicate_id_in_page": "the mapping does not check ids: both copies are mapped (the engine's diff keeps the last)",
            "future_date": "not applicable: resources carry no date",
        },
    ),
    df.StreamSpec(
        "statistics", "stats", key=("id",),
        mutations={
            "missing_required": df.drop("attributes.userEmail", "attributes.resourceId"),
            "wrong_type": df.retype(("attributes.resourceId", {"id": "r-1"}), ("attributes.userEmail", 42)),
            "bad_email": df.bad_email("attributes.userEmail"),
            # progress comes from the status: the nearest equivalent is a status outside the vocabulary
            "progress_out_of_range": df.set_value("attributes.status", ("110%", "-10%", "done+")),
            "negative_duration": df.negative("attributes.timeSpent"),
            "future_date": df.future("attributes.lastActivityAt", "iso"),
            "duplicate_id_in_page": df.duplicate_id("id", "attributes.userEmail", "attributes.resourceId"),
        },
        notes={
            "progress_out_of_range": "status outside completed/in progress: the mapping reads progress 0, unreported",
            "negative_duration": "timeSpent < 0: time spent left unset",
            "future_date": "lastActivityAt in the future: passed on as is",
            "duplicate_id_in_page": "the previous row's id, learner and resource are copied",
            "unknown_language": "not applicable: statistics carry no language",
        },
    ),
)


def _error(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"code": str(status), "title": title, "detail": detail}]}, status_code=status, headers=headers
    )


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
    app.state.tokens = AccessTokens(cfg.token_ttl_seconds)
    app.state.counters = {"requests": 0, "throttled": 0, "unauthorized": 0}
    faults = df.install(app, DATA_FAULT_STREAMS, seed=cfg.seed, faults=cfg.data_faults)
    install_throttle(
        app, TokenBucket(cfg.requests_per_second),
        applies_to=lambda path: path.startswith("/connect/"),
        latency_seconds=lambda: cfg.latency_seconds,
        too_many=lambda wait: _error(
            429, "Too Many Requests", "Rate limit exceeded", {"Retry-After": str(retry_after_seconds(wait))}
        ),
        counters=app.state.counters, throttled_key="throttled", requests_key="requests",
    )  # fmt: skip

    def unauthorized(request: Request) -> JSONResponse | None:
        if app.state.tokens.valid(bearer_token(request.headers.get("authorization"))):
            return None
        app.state.counters["unauthorized"] += 1
        return _error(401, "Unauthorized", "Invalid or expired access token")

    def page_of(
        request: Request, ids: list[str], stream: str | None = None
    ) -> tuple[int, int, list[str], dict[str, Any]] | JSONResponse:
        number = _int_param(request, "page[number]", 1)
        size = _int_param(request, "page[size]", cfg.default_page_size)
        if number is None or size is None:
            return _error(400, "Bad Request", "page[number] and page[size] must be positive integers")
        size = min(size, cfg.max_page_size)
        if stream is not None:  # paging data faults: another page is served, links and meta included
            number = faults.page_to_serve(stream, number, max(1, math.ceil(len(ids) / size)))
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
        form = await read_form(request, first_wins=True)
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
        page = page_of(request, ids, "resources")
        if isinstance(page, JSONResponse):
            return page
        _, _, chunk, envelope = page
        return JSONResponse({"data": faults.apply("resources", app.state.store.get_resources(chunk)), **envelope})

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
        if isinstance(since, str) or isinstance(until, str):  # "invalid"
            return _error(400, "Bad Request", "filter[from] and filter[to] must be YYYY-MM-DD dates")
        ids = app.state.store.statistic_ids(since, until)
        page = page_of(request, ids, "statistics")
        if isinstance(page, JSONResponse):
            return page
        _, _, chunk, envelope = page
        return JSONResponse({"data": faults.apply("statistics", app.state.store.get_statistics(chunk)), **envelope})

    @app.get("/_sandbox/state")
    async def state() -> dict[str, Any]:
        return {
            **app.state.store.summary(),
            "tokens_issued": app.state.tokens.issued,
            "counters": dict(app.state.counters),
        }

    return with_faults(app)
