"""FastAPI sandbox of the (ASSUMED) OpenClassrooms B2B API (docs/providers/openclassrooms.md).

- `POST /oauth2/token`: client_credentials with HTTP Basic client auth (form or JSON body);
  wrong credentials -> 401 `{"error": "invalid_client", "error_description": ...}` (RFC 6749).
- `GET /partners/{partnerId}/courses` and `GET /partners/{partnerId}/learners/progress?from=&to=`
  (inclusive YYYY-MM-DD on the row's last activity day): Bearer token; `Range: items=a-b` ->
  206 + `Content-Range: items a-b/total`; no Range -> 200 with everything; a range past the end or
  a malformed one -> 416 `Content-Range: items */total`. Errors are `{"error", "error_description"}`.
- Rate limit: token bucket of `requests_per_second` -> 429 (Retry-After only if configured: the
  provider does not document one). `latency_seconds` delays every API request.
- Debug: `repeat_page=True` serves the first range whatever is asked (a permanent paging loop;
  older knob, like `bad_ratio`, kept for existing tests).
- Data faults (`sandboxes/data_faults.py`): `config.data_faults`, `app.state.data_faults`,
  `/_sandbox/data-faults`; streams "courses" (catalog) and "progress" (stats), fields in
  `DATA_FAULT_STREAMS`. Paging faults only touch ranged requests (no Range = everything at once).
- `GET /_sandbox/state`: summary of the store, tokens issued and requests served.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from learnsync.providers.kit.paging import content_range, parse_range
from learnsync.providers.openclassrooms import settings as oc
from learnsync.sandboxes import data_faults as df
from learnsync.sandboxes.auth_headers import basic_credentials, bearer_token
from learnsync.sandboxes.faults import with_faults
from learnsync.sandboxes.forms import read_form
from learnsync.sandboxes.http_errors import oauth_error
from learnsync.sandboxes.openclassrooms.data import OpenClassroomsStore, generate
from learnsync.sandboxes.ratelimit import TokenBucket, install_throttle
from learnsync.sandboxes.tokens import AccessTokens


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
    data_faults: dict[str, Any] = field(default_factory=dict)  # kind -> count | rate | {...} (data_faults.py)


DATA_FAULT_STREAMS = (
    df.StreamSpec(
        "courses", "catalog", key=("id",),
        mutations={
            "missing_required": df.drop("title", "url"),
            "wrong_type": df.retype(("title", 12345), ("url", ["https://openclassrooms.com/fr/courses/1"])),
            "negative_duration": df.negative("duration"),
            "duplicate_id_in_page": df.duplicate_id("id"),
            "unknown_language": df.unknown_language("language"),
        },
        notes={
            "negative_duration": "duration (hours) < 0: the mapping leaves duration unset",
            "unknown_language": "the mapping falls back to the owner's language (no language filter value)",
            "duplicate_id_in_page": "the mapping keeps the last copy and quarantines the others",
            "future_date": "not applicable: catalog items carry no date",
        },
    ),
    df.StreamSpec(
        "progress", "stats", key=("courseId", "userEmail"),
        mutations={
            "missing_required": df.drop("userEmail", "courseId"),
            "wrong_type": df.retype(("courseId", {"id": 1}), ("userEmail", 12345)),
            "bad_email": df.bad_email("userEmail"),
            "progress_out_of_range": df.out_of_range("progress"),
            "negative_duration": df.negative("timeSpent"),
            "future_date": df.future("lastActivityAt", "iso"),
            "duplicate_id_in_page": df.duplicate_id("courseId", "userEmail"),
        },
        notes={
            "progress_out_of_range": "progress clamped to 0..100 and counted (skipped.progress_clamped)",
            "negative_duration": "timeSpent < 0: time spent left unset, counted (skipped.time_spent_invalid)",
            "future_date": "lastActivityAt in the future: passed on as is",
            "duplicate_id_in_page": "no row id: the (courseId, userEmail) pair of the previous row is copied",
            "unknown_language": "not applicable: progress rows carry no language",
        },
    ),
)


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
    app.state.tokens = AccessTokens(config.token_ttl_seconds)
    app.state.requests = {"token": 0, "courses": 0, "progress": 0, "throttled": 0}
    faults = df.install(app, DATA_FAULT_STREAMS, seed=config.seed, faults=config.data_faults)
    install_throttle(
        app, TokenBucket(config.requests_per_second),
        applies_to=lambda path: not path.startswith("/_sandbox"),
        latency_seconds=lambda: config.latency_seconds,
        too_many=lambda _wait: oauth_error(
            429, "rate_limit_exceeded", "Too many requests",
            {} if config.retry_after_on_429 is None else {"Retry-After": str(config.retry_after_on_429)},
        ),
        counters=app.state.requests, throttled_key="throttled",
    )  # fmt: skip

    def _authorize(request: Request, partner_id: str) -> JSONResponse | None:
        if not app.state.tokens.valid(bearer_token(request.headers.get("authorization"))):
            return oauth_error(401, "invalid_token", "The access token is missing, invalid or expired",
                          {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
        if partner_id != config.partner_id:
            return oauth_error(403, "access_denied", "This client may not read this partner's data")
        return None

    def _ranged(request: Request, items: list[dict[str, Any]], stream: str) -> JSONResponse:
        total = len(items)
        header = request.headers.get("range")
        if header is None:
            return JSONResponse(faults.apply(stream, items), status_code=200)
        wanted = parse_range(header)
        if total == 0 and wanted is not None:
            return JSONResponse([], status_code=200, headers={"Content-Range": content_range(0, -1, 0)})
        if wanted is None or wanted[0] >= total:
            return oauth_error(416, "range_not_satisfiable", "Invalid or out of bounds Range",
                          {"Content-Range": content_range(0, -1, total)})  # fmt: skip
        start, stop = (0, wanted[1] - wanted[0]) if config.repeat_page else wanted
        size = min(stop - start + 1, config.max_range_items)
        start = faults.offset_to_serve(stream, start, size, total)  # paging data faults move the range
        stop = min(start + size - 1, total - 1)
        return JSONResponse(faults.apply(stream, items[start : stop + 1]), status_code=206,
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
            body = await read_form(request)
        creds = basic_credentials(request.headers.get("authorization"))
        if creds is None and body.get("client_id"):
            creds = (str(body.get("client_id")), str(body.get("client_secret", "")))
        if creds is None or not (
            secrets.compare_digest(creds[0], config.client_id) and secrets.compare_digest(creds[1], config.client_secret)
        ):
            return oauth_error(401, "invalid_client", "Client authentication failed", {"WWW-Authenticate": "Basic"})
        if body.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
        access = app.state.tokens.issue(config.token_ttl_seconds)
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": config.token_ttl_seconds})

    @app.get(oc.CATALOG_PATH)
    async def courses(partner_id: str, request: Request) -> JSONResponse:
        app.state.requests["courses"] += 1
        return _authorize(request, partner_id) or _ranged(request, store.course_list(), "courses")

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
            return oauth_error(400, "invalid_request", "from/to must be dates (YYYY-MM-DD)")
        return _ranged(request, store.activity_list(since, until), "progress")

    @app.get("/_sandbox/state")
    async def state() -> dict[str, Any]:
        return {
            "partner_id": config.partner_id,
            **store.summary(),
            "tokens_issued": len(app.state.tokens),
            "requests": dict(app.state.requests),
        }

    return with_faults(app)
