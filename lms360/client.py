"""Typed async client for the 360Learning REST API v2 (contract: docs/lms360.md).

One `httpx.AsyncClient` per tenant; every request goes through `learnsync.core.http.send` (retries,
Retry-After) behind two client-side rate limiters (reads, writes). Bulk operations share one
semaphore of `max_concurrent_bulk` slots, held from submit until the operation has ended, because
360Learning runs at most 3 bulk operations per company at a time.

Whole-batch failures are turned into per-item error results instead of exceptions, so one bad
batch never stops the others: an operation that ends in `error`, and a submit refused with a 400
(e.g. `invalidInput`). Auth/scope/not-found errors (401/403/404) and exhausted retries raise
`ApiError`: they are systemic and every batch would fail the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import Any, Literal
from urllib.parse import quote, urljoin

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from learnsync.core.http import (
    ApiError,
    PageTokenGuard,
    RateLimiter,
    RetryStats,
    ServerBusy,
    followable_link,
    json_body,
    send,
    set_request_deadline,
    tls_context,
)
from learnsync.core.redaction import register_settings
from learnsync.core.settings import Lms360Settings

from .auth import TOKEN_PATH, TokenManager
from .limits import platform_limiters
from .models import (
    BULK_ITEM_RESULT,
    BULK_ITEM_RESULTS,
    ArchiveItem,
    BulkItemError,
    BulkItemSuccess,
    BulkStatus,
    Course,
    CourseSkill,
    CourseSkillsReplace,
    CourseTag,
    CourseTagsReplace,
    ExternalCourse,
    ExternalCourseOut,
    Integration,
    IntegrationCreate,
    IntegrationFields,
    IntegrationUpdate,
    ShareItem,
    Skill,
    SkillDelete,
    SkillUpsert,
    StatItem,
    Tag,
    TagCreate,
    User,
)

log = logging.getLogger("learnsync.lms360")

API = "/api/v2"
# How long an ended job's results wait for submissions on their way (a busy server may hold one longer).
SUBMISSIONS_FIRST_SECONDS = 10.0
BulkKind = Literal[
    "upsert", "archive", "stats", "share_catalog", "share_library", "unshare_catalog", "unshare_library", "skills",
    "delete_skills",
]
# externalId prefix of skills created by earlier versions; such skills are re-keyed (see ensure_skills).
LEGACY_SKILL_PREFIX = "learnsync:"
_OBJECT_ID = re.compile(r"^[a-fA-F0-9]{24}$")
BulkResult = BulkItemSuccess | BulkItemError
OnSubmitted = Callable[[str, list[dict[str, Any]]], Awaitable[None]]

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)
_SHARE_TYPES = {"catalog": {"course", "path-session"}, "library": {"course", "path"}}


class BulkWaitTimeout(Exception):
    """A bulk operation did not end within the client's patience; it may still finish server-side."""

    def __init__(self, bulk_operation_id: str, waited: float) -> None:
        self.bulk_operation_id = bulk_operation_id
        super().__init__(f"bulk operation {bulk_operation_id} not ended after {waited:.0f}s")


class Lms360ProtocolError(Exception):
    """The server answered outside the contract (e.g. a 202 without Location)."""


def _bulk_route(kind: BulkKind, integration_id: str | None) -> tuple[str, str]:
    if kind in ("upsert", "archive", "stats") and not integration_id:
        raise ValueError(f"bulk {kind!r} needs an integration_id")
    iid = quote(integration_id or "", safe="")
    return {
        "upsert": ("PUT", f"{API}/bulk/integrations/{iid}/courses"),
        "archive": ("DELETE", f"{API}/bulk/integrations/{iid}/courses"),
        "stats": ("POST", f"{API}/bulk/integrations/{iid}/stats"),
        "share_catalog": ("POST", f"{API}/bulk/groups/catalog"),
        "share_library": ("POST", f"{API}/bulk/groups/library"),
        "unshare_catalog": ("DELETE", f"{API}/bulk/groups/catalog"),
        "unshare_library": ("DELETE", f"{API}/bulk/groups/library"),
        "skills": ("PUT", f"{API}/bulk/skills"),
        "delete_skills": ("DELETE", f"{API}/bulk/skills"),
    }[kind]


# Correlation keys: results echo their input, which is how we match them back (not by index).
def _course_key(item: dict[str, Any]) -> Hashable:
    return item.get("externalId")


def _stat_key(item: dict[str, Any]) -> Hashable:
    course = item.get("courseIdentifier") or {}
    user = item.get("userIdentifier") or {}
    return (course.get("value"), user.get("value"))


def _share_key(item: dict[str, Any]) -> Hashable:
    return (item.get("groupId"), item.get("contentType"), item.get("contentId"))


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")  # pandas missing markers, without pandas


def _json_bytes(value: Any) -> bytes:
    """A request body: orjson (a 10,000-course job in ~20 ms, against ~150 ms for json.dumps),
    json.dumps for what orjson refuses (an integer past 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def _drop_missing(item: dict[str, Any]) -> dict[str, Any]:
    """Engine rows come from DataFrames: NaN/NA/None mean "absent", never "send null"."""
    return {k: v for k, v in item.items() if not _is_missing(v)}


def _validation_reason(exc: ValidationError) -> str:
    # loc + msg only: `input_value` could quote an e-mail.
    parts = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    return "invalid item (not sent): " + "; ".join(parts)


def _redact_httpx_logs() -> None:
    """httpx logs full URLs at INFO; ours can carry e-mails in filters. Keep the path only."""

    class _StripQuery(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if isinstance(record.args, tuple):
                record.args = tuple(
                    str(a).split("?", 1)[0] if isinstance(a, httpx.URL) else a for a in record.args
                )
            return True

    logger = logging.getLogger("httpx")
    if not any(type(f).__name__ == "_StripQuery" for f in logger.filters):
        logger.addFilter(_StripQuery())


class Lms360Client:
    """Async 360Learning API v2 client for one tenant. Use as `async with Lms360Client(settings)`."""

    def __init__(
        self,
        settings: Lms360Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_upsert_batch: int = 10_000,
        max_archive_batch: int = 1_000,
        max_stats_batch: int = 10_000,
        max_share_batch: int = 20_000,
        users_per_lookup: int = 50,
        bulk_wait_timeout: float | None = 6 * 3600.0,
        bulk_submit_patience: float = 900.0,
    ) -> None:
        register_settings(settings)  # its secret is masked in whatever this process logs or stores
        self.settings = settings
        self.max_upsert_batch = max_upsert_batch
        self.max_archive_batch = max_archive_batch
        self.max_stats_batch = max_stats_batch
        self.max_share_batch = max_share_batch
        self.users_per_lookup = users_per_lookup
        self.bulk_wait_timeout = bulk_wait_timeout
        self.bulk_submit_patience = bulk_submit_patience
        self._base = settings.base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            headers={"Accept": "application/json"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            verify=tls_context(),
        )
        set_request_deadline(self._http, settings.request_deadline_seconds)
        self._reads = RateLimiter(settings.reads_per_second)
        self._submitting = 0  # bulk submissions on their way (see _submissions_first)
        self._no_submission = asyncio.Event()
        self._no_submission.set()
        # the platform's budgets are shared with every other process (lms360/limits.py)
        self._writes, self._bulk_slots = platform_limiters(
            settings, RateLimiter(settings.writes_per_second), asyncio.Semaphore(max(1, settings.max_concurrent_bulk))
        )
        self.retry_stats = RetryStats()
        self.request_counts: Counter[str] = Counter()  # logical requests per HTTP method
        self.bulk_submissions: Counter[str] = Counter()  # accepted bulk operations per kind
        self._tokens = TokenManager(
            self._http,
            self._base + TOKEN_PATH,
            settings.client_id,
            settings.client_secret,
            policy=settings.retry,
            limiter=self._writes,
            stats=self.retry_stats,
        )
        self._tag_ids: dict[str, str] | None = None  # name -> tagId, loaded once
        self._skill_ids: dict[str, str] | None = None  # name -> skillId, loaded once
        self._legacy_skills: list[Skill] = []  # skills an earlier version keyed "learnsync:..."
        self._tag_lock = asyncio.Lock()
        self._skill_lock = asyncio.Lock()
        # Whether the platform answers a course-skill link endpoint: detected once per client (run).
        self._skill_link: bool | None = None
        # Whether bulk resourceIds of course upserts are the courses' ids: checked once per client.
        self._resource_id_is_course_id: bool | None = None
        self.notes: list[str] = []  # facts a run report should say once (detections, re-keyed skills)
        _redact_httpx_logs()

    # --- lifecycle / reporting ----------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Lms360Client(platform={self.settings.platform!r}, base_url={self._base!r})"

    __str__ = __repr__

    async def __aenter__(self) -> Lms360Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def invalidate_caches(self) -> None:
        """Forget cached tag/skill ids (e.g. after a 404 tagNotFound: an admin deleted one)."""
        self._tag_ids = None
        self._skill_ids = None

    @property
    def token_fetches(self) -> int:
        return self._tokens.fetches

    def counters(self) -> dict[str, Any]:
        """Requests per HTTP method, retries absorbed, tokens fetched, bulk operations accepted."""
        return {
            "requests": dict(self.request_counts),
            "retries": self.retry_stats.retries,
            "retries_by_reason": dict(self.retry_stats.by_reason or {}),
            "token_fetches": self._tokens.fetches,
            "bulk_operations": dict(self.bulk_submissions),
        }

    # --- transport ----------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self._base + path_or_url

    async def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        expect_json: bool = True,
    ) -> httpx.Response:
        """One authenticated call; the token is renewed once on a 401 (send's on_unauthorized)."""
        token = await self._tokens.token()

        def headers(tok: str) -> dict[str, str]:
            out = {"Authorization": f"Bearer {tok}", "360-api-version": "v2.0", "Accept": "application/json"}
            if body is not None:
                out["Content-Type"] = "application/json"
            return out

        async def renew() -> dict[str, Any]:
            return {"headers": headers(await self._tokens.renew(stale=token))}

        kwargs: dict[str, Any] = {"headers": headers(token)}
        if json is not None:
            kwargs["json"] = json
        elif body is not None:  # JSON encoded once by the caller (a bulk job, sent again on a retry)
            kwargs["content"] = body
        self.request_counts[method] += 1
        return await send(
            self._http,
            method,
            self._url(path_or_url),
            policy=self.settings.retry,
            limiter=self._reads if method == "GET" else self._writes,
            stats=self.retry_stats,
            expect_json=expect_json,
            on_unauthorized=renew,
            **kwargs,
        )

    def _next_link(self, response: httpx.Response) -> str | None:
        header = response.headers.get("link")
        if not header:
            return None
        match = _LINK_NEXT.search(header)
        if match is None:
            return None
        target = match.group(1).strip()
        if target.startswith(("http://", "https://")):
            pass
        elif target.startswith("?"):
            target = urljoin(str(response.request.url), target)
        else:
            target = urljoin(self._base + "/", target)  # relative links resolve against the base URL
        # The bearer token goes with every page: only the configured host may have it.
        return followable_link(target, self._base, request_url=str(response.request.url), what="360Learning next-page link")

    async def _pages(self, path: str, stream: str) -> AsyncIterator[list[Any]]:
        """Yield each page (bare JSON array) following `Link: <…>; rel="next"` with loop detection."""
        guard = PageTokenGuard(stream)
        url: str | None = path
        while url is not None:
            response = await self._request("GET", url)
            body = json_body(response)
            if isinstance(body, dict):  # tolerate an envelope, though the spec says bare arrays
                body = next((body[k] for k in ("data", "items", "results") if isinstance(body.get(k), list)), [])
            yield body
            url = self._next_link(response)
            guard.check(url)

    async def _all(self, path: str, stream: str) -> list[Any]:
        return [row async for page in self._pages(path, stream) for row in page]

    @staticmethod
    def _query(filters: Sequence[tuple[str, str]]) -> str:
        # Brackets stay unencoded (`mail[in][0]=…`), values are percent-encoded ("+" in e-mails).
        return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='@')}" for k, v in filters)

    # --- integrations (docs/lms360.md: Integrations) ------------------------------------------

    async def list_integrations(self, external_platform: str | None = None) -> list[Integration]:
        """Every integration (one page holds 100), or those of one externalPlatform name."""
        path = f"{API}/integrations"
        if external_platform is not None:
            path += "?" + self._query([("externalPlatform[eq]", external_platform)])
        rows = await self._all(path, "integrations")
        return [Integration.model_validate(r) for r in rows]

    async def create_integration(self, body: IntegrationCreate) -> Integration:
        response = await self._request("POST", f"{API}/integrations", json=body.wire())
        return Integration.model_validate(json_body(response))

    async def update_integration(self, integration_id: str, **fields: Any) -> Integration:
        """PATCH only the given fields (snake_case or camelCase names)."""
        body = IntegrationUpdate.model_validate(fields)
        path = f"{API}/integrations/{quote(integration_id, safe='')}"
        response = await self._request("PATCH", path, json=body.wire())
        # The answer is the integration's fields without its `_id` (BaseIntegrationDTO).
        answered = IntegrationFields.model_validate(json_body(response))
        return Integration.model_validate({**answered.model_dump(by_alias=True), "_id": integration_id})

    async def delete_integration(self, integration_id: str) -> None:
        """Deleting an integration archives all of its content server-side."""
        await self._request("DELETE", f"{API}/integrations/{quote(integration_id, safe='')}", expect_json=False)

    # --- bulk framework (docs/lms360.md: Bulk operations) -------------------------------------

    async def submit_bulk(
        self, kind: BulkKind, integration_id: str | None, batch: list[dict[str, Any]]
    ) -> str:
        """Submit one batch (already in wire format); return the bulkOperationId from Location.

        A server still busy after send()'s own retries (`ServerBusy`: 429 or 503, e.g. another
        actor holds the 3 bulk slots: `bulkOperationsConcurrencyLimitReached`) is asked again here
        with the poll backoff, up to `bulk_submit_patience` seconds.
        """
        method, path = _bulk_route(kind, integration_id)
        # Patience is wall time: send()'s own retries count too, and a zero poll interval still ends.
        give_up_at = time.monotonic() + self.bulk_submit_patience
        delay = self.settings.poll_interval_seconds
        self._submitting += 1
        self._no_submission.clear()
        try:
            body = _json_bytes({"input": batch})
            while True:
                try:
                    response = await self._request(method, path, body=body, expect_json=False)
                    break
                except ServerBusy:
                    if time.monotonic() >= give_up_at:
                        raise
                    log.info("bulk %s: server busy, resubmitting in %.1fs", kind, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.settings.poll_max_interval_seconds)
        finally:
            self._submitting -= 1
            if not self._submitting:
                self._no_submission.set()
        op_id = self._operation_id(response)
        self.bulk_submissions[kind] += 1
        log.info("bulk %s accepted: operation %s, %d items", kind, op_id, len(batch))
        return op_id

    @staticmethod
    def _operation_id(response: httpx.Response) -> str:
        location = response.headers.get("location")
        if location:
            return location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        try:  # not in the contract, but harmless to accept an id in the body
            body = json_body(response)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for key in ("bulkOperationId", "_id", "id"):
                if isinstance(body.get(key), str):
                    return body[key]
        raise Lms360ProtocolError(f"bulk submit answered {response.status_code} without a Location header")

    async def get_bulk_status(self, bulk_operation_id: str) -> BulkStatus:
        response = await self._request("GET", f"{API}/bulk/operations/{quote(bulk_operation_id, safe='')}")
        return BulkStatus.model_validate(json_body(response))

    async def wait_bulk(self, bulk_operation_id: str, items: int | None = None) -> BulkStatus:
        """Poll until `completed` or `error`, backing off from poll_interval to poll_max_interval.

        With `items` (the job's size), a running job's progress gives its expected end: the
        next poll is timed for it (within the same bounds), so the end of a long job is seen
        about poll_interval late, not poll_max_interval late.
        """
        delay, waited = self.settings.poll_interval_seconds, 0.0
        low, high = self.settings.poll_interval_seconds, self.settings.poll_max_interval_seconds
        while True:
            status = await self.get_bulk_status(bulk_operation_id)
            if status.done:
                return status
            if self.bulk_wait_timeout is not None and waited >= self.bulk_wait_timeout:
                raise BulkWaitTimeout(bulk_operation_id, waited)
            eta = _expected_remaining(status, items)
            pause = delay if eta is None else min(high, max(low, eta))
            await asyncio.sleep(pause)
            waited += pause
            delay = min(delay * 1.5, high)

    async def bulk_results(self, bulk_operation_id: str) -> list[BulkResult]:
        """Per-item results of an ended operation (also used to resume jobs after a crash)."""
        response = await self._request("GET", f"{API}/bulk/operations/{quote(bulk_operation_id, safe='')}/results")
        body = json_body(response)
        rows = body if isinstance(body, list) else []
        try:  # the whole list in one call
            out: list[BulkResult] = list(BULK_ITEM_RESULTS.validate_python(rows))
        except ValidationError:  # an entry it cannot read: entry by entry, as below
            out = []
        else:
            for result in out:
                result.bulk_operation_id = bulk_operation_id
            return out
        for row in rows:
            try:
                result = BULK_ITEM_RESULT.validate_python(row)
            except ValidationError:
                raw_input = row.get("input") if isinstance(row, dict) else None
                result = BulkItemError(
                    input=raw_input if isinstance(raw_input, dict) else {},
                    error_message="unreadable result entry",
                )
            result.bulk_operation_id = bulk_operation_id
            out.append(result)
        return out

    async def _run_batch(
        self,
        kind: BulkKind,
        integration_id: str | None,
        batch: list[dict[str, Any]],
        key: Callable[[dict[str, Any]], Hashable],
        on_submitted: OnSubmitted | None,
    ) -> list[BulkResult]:
        refused: ApiError | None
        async with self._bulk_slots:  # held until the operation ended: it occupies a server slot
            try:
                op_id = await self.submit_bulk(kind, integration_id, batch)
            except ApiError as exc:
                refused = exc
            else:
                refused = None
                if on_submitted is not None:
                    await on_submitted(op_id, batch)
                status = await self.wait_bulk(op_id, len(batch))
                log.info("bulk %s operation %s ended: %s", kind, op_id, status.status)
        if refused is not None:
            if refused.status == 413 and len(batch) > 1:  # body too large: split in half (docs/lms360.md: Working assumptions)
                half = len(batch) // 2
                first = await self._run_batch(kind, integration_id, batch[:half], key, on_submitted)
                return first + await self._run_batch(kind, integration_id, batch[half:], key, on_submitted)
            if refused.status in (400, 413):  # the batch itself was refused: report it per item
                message = f"batch refused: {refused.code}: {refused.message}"
                return [BulkItemError(input=item, error_message=message) for item in batch]
            raise refused
        if status.status == "error":
            message = f"bulk operation failed: {status.error_message or 'no message'}"
            log.warning("bulk %s operation %s ended in error", kind, op_id)
            return [BulkItemError(input=item, error_message=message, bulk_operation_id=op_id) for item in batch]
        await self._submissions_first()
        return self._correlate(batch, await self.bulk_results(op_id), key, op_id)

    async def _submissions_first(self) -> None:
        """Refill a freed bulk slot before reading the ended job's results: the next job starts
        its run at 360Learning now, and the results (off its critical path) are read after. At
        50,000 courses a wave-2 job was otherwise created 2-3 s after the slot freed, its
        submission queued behind two 10,000-item result reads."""
        await asyncio.sleep(0)  # a job waiting for the slot takes it and starts sending
        if not self._no_submission.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_submission.wait(), SUBMISSIONS_FIRST_SECONDS)

    @staticmethod
    def _correlate(
        batch: list[dict[str, Any]],
        results: list[BulkResult],
        key: Callable[[dict[str, Any]], Hashable],
        op_id: str,
    ) -> list[BulkResult]:
        """Match results to inputs by their echoed key; fall back to position if keys are absent."""
        if len(results) == len(batch):  # results in input order, as 360Learning returns them: checked, not searched
            in_order = [r for r, item in zip(results, batch) if key(r.input) == key(item)]
            if len(in_order) == len(batch):
                return in_order
        by_key: dict[Hashable, deque[BulkResult]] = {}
        for result in results:
            by_key.setdefault(key(result.input), deque()).append(result)
        positional = len(results) == len(batch)
        out: list[BulkResult] = []
        for i, item in enumerate(batch):
            queue = by_key.get(key(item))
            if queue:
                out.append(queue.popleft())
            elif positional and not results[i].input:
                out.append(results[i])
            else:
                out.append(BulkItemError(input=item, error_message="no result returned", bulk_operation_id=op_id))
        return out

    async def _run_bulk(
        self,
        kind: BulkKind,
        integration_id: str | None,
        items: list[dict[str, Any] | BulkResult],
        batch_size: int,
        key: Callable[[dict[str, Any]], Hashable],
        on_submitted: OnSubmitted | None,
    ) -> list[BulkResult]:
        """Send the wire items in batches (concurrency bounded by the bulk semaphore).

        `items` may already hold local error results (items refused before sending); results
        come back in input order.
        """
        wire = [(i, it) for i, it in enumerate(items) if isinstance(it, dict)]
        batches = [wire[s : s + batch_size] for s in range(0, len(wire), batch_size)]
        # Let every batch finish before raising a systemic error (401/403/404, retries exhausted):
        # no orphan task keeps polling, and accepted jobs were reported through on_submitted.
        outcomes = await asyncio.gather(
            *(self._run_batch(kind, integration_id, [it for _, it in b], key, on_submitted) for b in batches),
            return_exceptions=True,
        )
        done: list[list[BulkResult]] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            done.append(outcome)
        results: list[Any] = list(items)
        for batch, batch_results in zip(batches, done):
            for (index, _), result in zip(batch, batch_results):
                results[index] = result
        return results

    @staticmethod
    def _validated(items: list[dict[str, Any]], model: type[BaseModel], *, wire_ready: bool = False) -> list[dict[str, Any] | BulkResult]:
        """Wire dicts for valid items; a local error result for each invalid one (never raises).

        `wire_ready`: the items are already in the model's wire form (no missing value, every
        value as its dump would write it): each is validated and sent as it is, without the
        model's dump (a third of a million-row stats run's time on the event loop otherwise)."""
        out: list[dict[str, Any] | BulkResult] = []
        validate = model.__pydantic_validator__.validate_python
        for item in items:
            clean = item if wire_ready else _drop_missing(item)
            try:
                validated = validate(clean)
                out.append(clean if wire_ready else validated.wire())
            except ValidationError as exc:
                out.append(BulkItemError(input=clean, error_message=_validation_reason(exc)))
        return out

    # --- external courses and stats (sections 4, 5) -------------------------------------------

    async def upsert_courses(
        self, integration_id: str, items: list[dict[str, Any]], on_submitted: OnSubmitted | None = None
    ) -> list[BulkResult]:
        """Create/replace external courses; one result per item, in input order."""
        wire = self._validated(items, ExternalCourse)
        results = await self._run_bulk("upsert", integration_id, wire, self.max_upsert_batch, _course_key, on_submitted)
        await self.resolve_course_ids(integration_id, results)
        return results

    async def resolve_course_ids(self, integration_id: str, results: Sequence[BulkResult]) -> None:
        """Set `course_id` on every successful course upsert result.

        What identifies a course is the external-course get's `courseId`; the bulk result's
        `resourceId` is a string the spec gives no meaning. The first ObjectId-shaped
        resourceId is checked against the external-course get once per client: when they
        agree, resourceIds are course ids; otherwise every course id is read from that get.
        """
        ok = [r for r in results if isinstance(r, BulkItemSuccess) and r.course_id is None and r.input.get("externalId")]
        if not ok:
            return
        if self._resource_id_is_course_id is None:
            probe = next((r for r in ok if r.resource_id and _OBJECT_ID.match(r.resource_id)), None)
            if probe is None:
                self._resource_id_is_course_id = False
            else:
                probe.course_id = (await self.get_external_course(integration_id, str(probe.input["externalId"]))).course_id
                self._resource_id_is_course_id = probe.course_id == probe.resource_id
            if not self._resource_id_is_course_id:
                self.notes.append(
                    "bulk upsert results do not carry the course ids: each course id is read from "
                    "GET /integrations/{id}/courses/{externalId}"
                )
        if self._resource_id_is_course_id:
            for r in ok:
                if r.resource_id and _OBJECT_ID.match(r.resource_id):
                    r.course_id = r.resource_id
        unknown = [r for r in ok if r.course_id is None]
        sem = asyncio.Semaphore(8)

        async def read(result: BulkItemSuccess) -> None:
            async with sem:
                try:
                    course = await self.get_external_course(integration_id, str(result.input["externalId"]))
                except (ApiError, ValidationError) as exc:
                    log.warning("course id of %s not read: %s", result.input["externalId"], type(exc).__name__)
                    return
                result.course_id = course.course_id

        await asyncio.gather(*(read(r) for r in unknown))

    async def archive_courses(
        self, integration_id: str, external_ids: list[str], on_submitted: OnSubmitted | None = None
    ) -> list[BulkResult]:
        wire = self._validated([{"externalId": e} for e in external_ids], ArchiveItem)
        return await self._run_bulk("archive", integration_id, wire, self.max_archive_batch, _course_key, on_submitted)

    async def import_stats(
        self, integration_id: str, items: list[dict[str, Any]], on_submitted: OnSubmitted | None = None, *, wire_ready: bool = False,
    ) -> list[BulkResult]:
        """Import learner statistics; correlated by (course value, user value).
        `wire_ready`: the items are in StatItem's wire form already (tasks.stats_rules.stat_payloads)."""
        wire = self._validated(items, StatItem, wire_ready=wire_ready)
        return await self._run_bulk("stats", integration_id, wire, self.max_stats_batch, _stat_key, on_submitted)

    async def get_external_course(self, integration_id: str, external_id: str) -> ExternalCourseOut:
        path = f"{API}/integrations/{quote(integration_id, safe='')}/courses/{quote(external_id, safe='')}"
        return ExternalCourseOut.model_validate(json_body(await self._request("GET", path)))

    async def list_courses(self, *, group_id: str | None = None, course_type: str | None = "external") -> list[Course]:
        """`GET /courses`, filtered by type and group (the documented filters)."""
        filters = [("type[eq]", course_type)] if course_type else []
        if group_id:
            filters.append(("groupId[eq]", group_id))
        path = f"{API}/courses" + ("?" + self._query(filters) if filters else "")
        return [Course.model_validate(r) for r in await self._all(path, "courses")]

    async def get_course(self, course_id: str) -> Course:
        return Course.model_validate(json_body(await self._request("GET", f"{API}/courses/{quote(course_id, safe='')}")))

    async def set_course_archived(self, course_id: str, archived: bool) -> Course:
        path = f"{API}/courses/{quote(course_id, safe='')}/archive"
        return Course.model_validate(json_body(await self._request("PUT", path, json={"archived": archived})))

    # --- tags (docs/lms360.md: Tags and skills) -----------------------------------------------

    async def list_tags(self) -> list[Tag]:
        return [Tag.model_validate(r) for r in await self._all(f"{API}/tags", "tags")]

    async def create_tag(self, name: str, external_id: str | None = None) -> Tag:
        body = TagCreate(name=name, external_id=external_id).wire()
        tag = Tag.model_validate(json_body(await self._request("POST", f"{API}/tags", json=body)))
        if self._tag_ids is not None:
            self._tag_ids[tag.name] = tag.id
        return tag

    async def ensure_tags(self, names: list[str]) -> dict[str, str]:
        """name → tagId for every name, creating the missing tags (the tag list is read once)."""
        async with self._tag_lock:
            if self._tag_ids is None:
                self._tag_ids = {t.name: t.id for t in await self.list_tags()}
            return await self._ensure(names, self._tag_ids, self.create_tag, self.list_tags, "tagNameNotAvailable")

    async def get_course_tags(self, course_id: str) -> list[CourseTag]:
        rows = await self._all(f"{API}/courses/{quote(course_id, safe='')}/tags", "course-tags")
        return [CourseTag.model_validate(r) for r in rows]

    async def replace_course_tags(self, course_id: str, tag_ids: list[str]) -> None:
        """Replaces ALL tags of the course (max 100): the engine merges manual tags first."""
        body = CourseTagsReplace(tag_ids=list(dict.fromkeys(tag_ids))).wire()
        await self._request("PUT", f"{API}/courses/{quote(course_id, safe='')}/tags", json=body, expect_json=False)

    # --- skills (docs/lms360.md: Tags and skills) ---------------------------------------------
    # Skills live in the platform's skills library (`PUT /bulk/skills` keyed by externalId,
    # `GET /skills`). API v2 has no endpoint linking a skill to a course: a link is used only
    # where `course_skills_path` names one and the platform answers it (detected once).

    async def list_skills(self) -> list[Skill]:
        return [Skill.model_validate(r) for r in await self._all(f"{API}/skills", "skills")]

    async def ensure_skills(self, names: list[str], namespace: str) -> dict[str, str]:
        """name -> skillId for every name, upserting the missing ones in one bulk operation.

        A name already in the library (any externalId, compared case-insensitively) is reused
        and never rewritten. A missing one is created with externalId `<namespace>:<name>`.
        Skills an earlier version created under the `learnsync:` prefix are re-keyed into the
        namespace (created anew, then the old key deleted), so none is left in the library.
        A name whose upsert fails is left out of the answer (and counted in a note).
        """
        async with self._skill_lock:
            if self._skill_ids is None:
                self._skill_ids = {}
                self._legacy_skills = []
                for skill in await self.list_skills():
                    if (skill.external_id or "").startswith(LEGACY_SKILL_PREFIX):
                        self._legacy_skills.append(skill)
                    else:
                        self._skill_ids[skill.name] = skill.id
            cache = self._skill_ids
            legacy = {s.name: s for s in self._legacy_skills}
            wanted = list(dict.fromkeys(n for n in names if n))
            folded = {k.casefold(): v for k, v in cache.items()}
            missing = [n for n in wanted if n not in cache and n.casefold() not in folded]
            rekey = [n for n in legacy if n not in cache and n.casefold() not in folded and n not in missing]
            to_create = missing + rekey
            if legacy:  # the old keys go first: a name may be unique in the library
                await self._delete_legacy_skills(list(legacy.values()))
            if to_create:
                items = [SkillUpsert(external_id=f"{namespace}:{n}", name=n).wire() for n in to_create]
                results = await self._run_bulk("skills", None, list(items), self.max_upsert_batch, _course_key, None)
                for name, result in zip(to_create, results):
                    if isinstance(result, BulkItemSuccess) and result.resource_id:
                        cache[name] = result.resource_id
                failed = [n for n, r in zip(to_create, results) if not r.ok]
                if failed:
                    log.warning("skills upsert: %d of %d skills failed", len(failed), len(to_create))
                    self.notes.append(f"skills library: {len(failed)} of {len(to_create)} skills could not be created")
                folded = {k.casefold(): v for k, v in cache.items()}
            self._legacy_skills = []
            return {n: cache.get(n) or folded[n.casefold()] for n in wanted if n in cache or n.casefold() in folded}

    async def _delete_legacy_skills(self, skills: list[Skill]) -> None:
        items = [SkillDelete(external_id=s.external_id or "").wire() for s in skills if s.external_id]
        if not items:
            return
        results = await self._run_bulk("delete_skills", None, list(items), self.max_upsert_batch, _course_key, None)
        done = sum(1 for r in results if r.ok)
        self.notes.append(f"skills library: {done} skills created under the old 'learnsync:' key were re-keyed")

    async def course_skill_link_available(self, probe_course_id: str) -> bool:
        """Whether the platform links skills to courses; asked at most once per client (run).

        Without `course_skills_path` (the published API v2 has no such endpoint) the answer is
        no, without a call. With one, a read of `probe_course_id`'s skills decides: a 404 that
        is not `courseNotFound` means the platform does not have the endpoint.
        """
        if self._skill_link is None:
            if not self.settings.course_skills_path:
                self._skill_link = False
            else:
                try:
                    await self.get_course_skills(probe_course_id)
                    self._skill_link = True
                except ApiError as exc:
                    if exc.status == 404 and exc.code != "courseNotFound":
                        self._skill_link = False
                    else:
                        raise
        return self._skill_link

    def _course_skills_url(self, course_id: str) -> str:
        template = self.settings.course_skills_path or ""
        return template.replace("{courseId}", quote(course_id, safe=""))

    async def get_course_skills(self, course_id: str) -> list[CourseSkill]:
        rows = await self._all(self._course_skills_url(course_id), "course-skills")
        return [CourseSkill.model_validate({"skillId": r} if isinstance(r, str) else r) for r in rows]

    async def replace_course_skills(self, course_id: str, skill_ids: list[str]) -> None:
        """Replaces ALL skills of the course (only where the platform has a link endpoint)."""
        body = CourseSkillsReplace(skill_ids=list(dict.fromkeys(skill_ids))).wire()
        await self._request("PUT", self._course_skills_url(course_id), json=body, expect_json=False)

    @staticmethod
    async def _ensure(
        names: list[str],
        cache: dict[str, str],
        create: Callable[[str], Awaitable[Tag]],
        relist: Callable[[], Awaitable[list[Tag]]],
        taken_code: str,
    ) -> dict[str, str]:
        """Resolve names against the cache (exact, then case-insensitive), creating the missing."""
        folded = {k.casefold(): v for k, v in cache.items()}
        out: dict[str, str] = {}
        for name in dict.fromkeys(n for n in names if n):
            found = cache.get(name) or folded.get(name.casefold())
            if found is None:
                try:
                    found = (await create(name)).id
                except ApiError as exc:
                    # Someone created it meanwhile (or the name differs only by case): re-read.
                    if exc.code != taken_code:
                        raise
                    cache.update({x.name: x.id for x in await relist()})
                    folded = {k.casefold(): v for k, v in cache.items()}
                    found = cache.get(name) or folded.get(name.casefold())
                    if found is None:
                        raise
                cache[name] = found
                folded[name.casefold()] = found
            out[name] = found
        return out

    # --- sharing (docs/lms360.md: Sharing) ----------------------------------------------------

    async def share_courses(
        self,
        items: list[ShareItem],
        target: Literal["catalog", "library"],
        remove: bool = False,
        on_submitted: OnSubmitted | None = None,
    ) -> list[BulkResult]:
        """Add (or remove) contents to other groups' catalogs/libraries, ≤20,000 per operation."""
        allowed = _SHARE_TYPES[target]
        wire: list[dict[str, Any] | BulkResult] = [
            it.wire()
            if it.content_type in allowed
            else BulkItemError(input=it.wire(), error_message=f"contentType {it.content_type!r} not valid for {target}")
            for it in items
        ]
        kind: BulkKind = f"{'unshare' if remove else 'share'}_{target}"  # type: ignore[assignment]
        return await self._run_bulk(kind, None, wire, self.max_share_batch, _share_key, on_submitted)

    async def list_group_content_ids(
        self, group_id: str, target: Literal["catalog", "library"], content_type: str = "course"
    ) -> list[str]:
        path = f"{API}/groups/{quote(group_id, safe='')}/{target}/{quote(content_type, safe='')}-ids"
        rows = await self._all(path, f"{target}-{content_type}-ids")
        return [r if isinstance(r, str) else str(r.get("contentId") or r.get("_id")) for r in rows]

    # --- users (docs/lms360.md: Users) --------------------------------------------------------

    async def find_users_by_mail(self, mails: list[str]) -> dict[str, User]:
        """lower-cased mail → User, for the mails that exist (batched `mail[in][i]=` filters)."""
        wanted = list(dict.fromkeys(m.strip().lower() for m in mails if m and m.strip()))
        chunks = [wanted[s : s + self.users_per_lookup] for s in range(0, len(wanted), self.users_per_lookup)]

        async def lookup(chunk: list[str]) -> list[Any]:
            query = self._query([(f"mail[in][{i}]", m) for i, m in enumerate(chunk)])
            return await self._all(f"{API}/users?{query}", "users")

        found: dict[str, User] = {}
        for rows in await asyncio.gather(*(lookup(c) for c in chunks)):
            for row in rows:
                user = User.model_validate(row)
                if user.mail:
                    found[user.mail.lower()] = user
        return {m: found[m] for m in wanted if m in found}

    async def list_users(self) -> list[User]:
        return [User.model_validate(r) for r in await self._all(f"{API}/users", "users")]


def _expected_remaining(status: BulkStatus, items: int | None) -> float | None:
    """Seconds until a running job of `items` items should end, from its pace so far (server clock)."""
    progress = status.progress
    if not items or status.status != "running" or progress is None or status.started_at is None:
        return None
    done = (progress.index or 0) + 1
    updated = getattr(progress, "updated_at", None)
    if updated is None or done <= 0:
        return None
    spent = (updated - status.started_at).total_seconds()
    if spent <= 0:
        return None
    return max(0.0, (items - done) * spent / done)
