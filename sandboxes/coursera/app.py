"""Coursera for Business sandbox: the HTTP contract of docs/providers/coursera.md.

Auth, both generations (docs/providers/coursera.md):
- `POST /oauth2/client_credentials/token`, Basic key:secret, `grant_type=client_credentials`.
- `POST /oauth2/v1/token` (legacy accounts host), form `grant_type=refresh_token` + client_id,
  client_secret, refresh_token. The refresh token lives `refresh_token_ttl_seconds` (2 weeks)
  and each successful refresh pushes its expiry back by the same TTL; once expired it answers
  400 `invalid_grant` until a human redoes the browser step (`auth.reissue_refresh_token()`).
- Access tokens live `access_token_ttl_seconds` (1800 s); an expired/unknown one -> 401.
Data: `GET /ent/api/businesses.v1/{orgId}/programs|contents|enrollmentReports`, `start`/`limit`
paging with `paging.next` = next offset as a string. Errors: `{"errorCode", "details"}`.
Data faults (`sandboxes/data_faults.py`): `config.data_faults`, `app.state.data_faults`,
`/_sandbox/data-faults`; streams "contents" (catalog) and "enrollmentReports" (stats), fields in
`DATA_FAULT_STREAMS`. `repeat_page_token` is the older permanent paging loop, kept for tests.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from learnsync.sandboxes import data_faults as df
from learnsync.sandboxes.auth_headers import basic_credentials, bearer_token
from learnsync.sandboxes.coursera.data import CourseraStore, generate
from learnsync.sandboxes.faults import with_faults
from learnsync.sandboxes.forms import read_form
from learnsync.sandboxes.http_errors import oauth_error
from learnsync.sandboxes.ratelimit import TokenBucket, install_throttle, retry_after_seconds
from learnsync.sandboxes.tokens import AccessTokens


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
    api_prefix: str = "/ent/api"  # "/api" plays a legacy tenant (api.coursera.org)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    data_faults: dict[str, Any] = field(default_factory=dict)  # kind -> count | rate | {...} (data_faults.py)


DATA_FAULT_STREAMS = (
    df.StreamSpec(
        "contents", "catalog", key=("id",),
        mutations={
            "missing_required": df.drop("name", "programs", "languageCode"),
            "wrong_type": df.retype(("name", 42), ("languageCode", 33), ("programs", "not-a-list")),
            "negative_duration": df.negative("extraMetadata.definition.estimatedLearningTime"),
            "future_date": df.future("lastUpdatedAt", "epoch_s"),
            "duplicate_id_in_page": df.duplicate_id("id"),
            "unknown_language": df.unknown_language("languageCode"),
        },
        notes={
            "negative_duration": "estimatedLearningTime < 0: the mapping leaves duration unset",
            "future_date": "lastUpdatedAt (epoch s) in the future: only kept in _extra",
            "duplicate_id_in_page": "the mapping quarantines the second copy of an id",
        },
    ),
    df.StreamSpec(
        "enrollmentReports", "stats", key=("id",),
        mutations={
            "missing_required": df.drop("contentId", ("externalId", "email")),
            "wrong_type": df.retype(("contentId", 12345), ("contentType", ["Course"])),
            "bad_email": df.bad_email("externalId", "email"),
            # a completed row is 100 whatever overallProgress says: only open rows show the fault
            "progress_out_of_range": df.out_of_range("overallProgress", when=lambda r, _: r.get("isCompleted") is not True),
            "negative_duration": df.negative("approxTotalCourseHrs"),
            "future_date": df.future("lastActivityAt", "epoch_ms"),
            "duplicate_id_in_page": df.duplicate_id("id", "externalId", "email", "programId", "contentId", "contentType"),
        },
        notes={
            "progress_out_of_range": "overallProgress clamped to 0..100 and counted (skipped.progress_clamped)",
            "negative_duration": "approxTotalCourseHrs < 0: time spent left unset",
            "future_date": "lastActivityAt in the future: kept unless the window has an end (the client drops rows >= until)",
            "duplicate_id_in_page": "the previous row's id and learner x content identity are copied",
            "unknown_language": "not applicable: enrollment rows carry no language",
        },
    ),
)


def _error(status: int, code: str, details: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorCode": code, "details": details}, status_code=status, headers=headers)


class SandboxAuth:
    """Issued access tokens and the single refresh token, on the config's clock."""

    def __init__(self, config: CourseraSandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.access = AccessTokens(config.access_token_ttl_seconds, clock=lambda: config.clock(), nbytes=18)
        self.refresh_token = config.refresh_token
        self.refresh_expires_at = config.clock() + config.refresh_token_ttl_seconds
        self.refreshed = 0

    @property
    def issued(self) -> int:
        return self.access.issued

    def issue_access_token(self) -> tuple[str, int]:
        ttl = self.config.access_token_ttl_seconds
        return self.access.issue(ttl), max(1, int(ttl) - 1)

    def check(self, token: str | None) -> bool:
        return self.access.valid(token)

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
        self.access.expire_all()

    def expire_refresh_token(self) -> None:
        with self._lock:
            self.refresh_expires_at = 0.0

    def reissue_refresh_token(self, token: str | None = None) -> str:
        """The browser step of the legacy flow: a new refresh token with a fresh lifetime."""
        with self._lock:
            self.refresh_token = token or secrets.token_urlsafe(24)
            self.refresh_expires_at = self.config.clock() + self.config.refresh_token_ttl_seconds
            return self.refresh_token


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
    store: CourseraStore = app.state.store
    auth: SandboxAuth = app.state.auth
    counters: dict[str, int] = app.state.counters
    faults = df.install(app, DATA_FAULT_STREAMS, seed=config.seed, faults=config.data_faults)

    install_throttle(
        app, TokenBucket(config.requests_per_second),
        applies_to=lambda path: not path.startswith("/_sandbox"),
        latency_seconds=lambda: config.latency_seconds,
        too_many=lambda wait: _error(
            429, "TOO_MANY_REQUESTS", "rate limit exceeded", {"Retry-After": str(retry_after_seconds(wait))}
        ),
        counters=counters, throttled_key="rate_limited", requests_key="requests",
    )  # fmt: skip

    @app.post("/oauth2/client_credentials/token")
    async def client_credentials_token(request: Request) -> Any:
        form = await read_form(request, keep_blank_values=True)
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        creds = basic_credentials(request.headers.get("authorization"))
        if creds != (config.client_id, config.client_secret):
            return oauth_error(401, "invalid_client", "client authentication failed")
        token, expires_in = auth.issue_access_token()
        return {"token_type": "Bearer", "access_token": token, "grant_type": "client_credentials",
                "issued_at": int(config.clock()), "expires_in": expires_in}

    @app.post("/oauth2/v1/token")
    async def legacy_token(request: Request) -> Any:
        form = await read_form(request, keep_blank_values=True)
        if (form.get("client_id"), form.get("client_secret")) != (config.client_id, config.client_secret):
            return oauth_error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "only refresh_token is served by the sandbox")
        refused = auth.use_refresh_token(str(form.get("refresh_token") or ""))
        if refused:
            return oauth_error(400, "invalid_grant", refused)
        token, expires_in = auth.issue_access_token()
        return {"token_type": "Bearer", "access_token": token, "expires_in": expires_in}

    def _guard(request: Request, org_id: str) -> JSONResponse | None:
        if not auth.check(bearer_token(request.headers.get("authorization"))):
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

    @app.get(config.api_prefix + "/businesses.v1/{org_id}/programs")
    async def programs(org_id: str, request: Request) -> Any:
        page = _guard(request, org_id) or _paging(request)
        if isinstance(page, JSONResponse):
            return page
        start, limit = page
        exclude = request.query_params.get("excludeContent", "false").lower() == "true"
        items = [{k: v for k, v in p.items() if not (exclude and k == "contentIds")} for p in store.programs]
        return _envelope(items[start : start + limit], start, limit, len(items))

    @app.get(config.api_prefix + "/businesses.v1/{org_id}/contents")
    async def contents(org_id: str, request: Request) -> Any:
        page = _guard(request, org_id) or _paging(request)
        if isinstance(page, JSONResponse):
            return page
        start, limit = page
        start = faults.offset_to_serve("contents", start, limit, store.content_page(0, 0)[1])
        items, total = store.content_page(start, limit)
        return _envelope(faults.apply("contents", items), start, limit, total)

    @app.get(config.api_prefix + "/businesses.v1/{org_id}/enrollmentReports")
    async def enrollment_reports(org_id: str, request: Request) -> Any:
        page = _guard(request, org_id) or _paging(request)
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
        start = faults.offset_to_serve("enrollmentReports", start, limit, len(rows))
        return _envelope(faults.apply("enrollmentReports", rows[start : start + limit]), start, limit, len(rows))

    @app.get("/_sandbox/state")
    async def state() -> Any:
        return {**store.summary(), **counters, "tokens_issued": auth.issued, "refreshes": auth.refreshed,
                "refresh_token_expires_at": auth.refresh_expires_at}

    return with_faults(app)
