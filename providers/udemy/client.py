"""HTTP client for the Udemy Business REST API: Basic auth, DRF page-number paging.

The page token handed to the engine is the page number (as a string) read from the body's
absolute `next` URL. Requests are always rebuilt against our own base URL, so credentials are
never sent to whatever host a `next` URL might name.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError

from learnsync.core.http import ApiError, PageTokenGuard, RateLimiter, RetryStats, decode_json, json_body, send, set_request_deadline, tls_context
from learnsync.core.redaction import register_settings
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page, page_digest
from learnsync.providers.kit.paging import page_numbers_after
from learnsync.providers.udemy import settings as K
from learnsync.providers.udemy.models import RECORD_SCHEMAS, UdemyPage

log = logging.getLogger(__name__)


class UdemyClient:
    """`providers.base.ProviderClient` for Udemy Business (one organization)."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        stats: RetryStats | None = None,
    ) -> None:
        if not settings.org_id:
            raise ValueError("Udemy needs settings.org_id (the numeric organization id)")
        register_settings(settings)  # its secret is masked in whatever this process logs or stores
        self._policy = settings.retry
        self._limiter = RateLimiter(settings.requests_per_second)
        self._page_size = max(1, min(settings.page_size, K.MAX_PAGE_SIZE))
        self._root = settings.base_url.rstrip("/") + K.API_ROOT.format(org_id=settings.org_id)
        self._org_id = settings.org_id
        self._guards: dict[str, PageTokenGuard] = {}
        # {body digest: next page token} of catalog pages the engine already mapped (it fills it)
        self.known_pages: dict[str, str | None] = {}
        self.stats = stats if stats is not None else RetryStats()
        # httpx keeps the Basic credentials inside the auth object; they never reach our repr/logs.
        self._http = httpx.AsyncClient(
            auth=httpx.BasicAuth(settings.client_id, settings.client_secret.get_secret_value()),
            timeout=settings.timeout_seconds,
            headers={"Accept": "application/json"},
            transport=transport,
            verify=tls_context(),
        )
        set_request_deadline(self._http, settings.request_deadline_seconds)

    def __repr__(self) -> str:
        return f"UdemyClient(root={self._root!r})"

    async def fetch_catalog_page(self, stream: str, token: str | None) -> Page:
        """One page of `courses` or `learning_paths`; `token` is the page number (None = first)."""
        if stream not in K.CATALOG_PATHS:
            raise ValueError(f"unknown Udemy catalog stream {stream!r}")
        params = dict(K.CATALOG_FIELDS[stream])
        # page 1 is always read: its `count` sizes the walk
        known = self.known_pages if token is not None else {}
        page, count = await self._page(stream, stream, K.CATALOG_PATHS[stream], params, token, known)
        page.total = count  # DRF `count`: records in the whole (filtered) list
        return page

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page:
        """One page of user-course activity whose activity date is inside the half-open window."""
        params = dict(K.ACTIVITY_FIELDS)
        if window.since is not None:
            params["from_date"] = window.since.isoformat()
        if window.until is not None:
            # Udemy's to_date is inclusive; the engine's window is [since, until).
            last_day = window.until - timedelta(days=1)
            if window.since is not None and last_day < window.since:
                return Page(records=[], next_token=None)
            params["to_date"] = last_day.isoformat()
        guard_key = f"activity:{window.since}:{window.until}"
        page, count = await self._page(guard_key, "activity", K.ACTIVITY_PATH, params, token)
        page.total = count
        return page

    def catalog_page_tokens(self, stream: str, first_page: Page) -> Sequence[str] | None:
        """Page-token hint for the engine: pages 2..n once page 1 (with DRF's `count`) is read."""
        return page_numbers_after(first_page)

    def stats_page_tokens(self, window: DateWindow, first_page: Page) -> Sequence[str] | None:
        return page_numbers_after(first_page)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "UdemyClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _page(
        self, guard_key: str, record_kind: str, path: str, params: dict[str, Any], token: str | None,
        known: dict[str, str | None] | None = None,
    ) -> tuple[Page, int | None]:
        """One page and the `count` the envelope announces; a body in `known` comes back unparsed."""
        page_number = _parse_token(token)
        if token is None:  # a new traversal of this stream starts
            self._guards[guard_key] = PageTokenGuard(guard_key)
            self._guards[guard_key].check("1")
        guard = self._guards.setdefault(guard_key, PageTokenGuard(guard_key))
        url = self._root + path
        params = {**params, "page": page_number, "page_size": self._page_size}
        digest: str | None = None

        def unknown_body(response: httpx.Response) -> bool:
            nonlocal digest
            digest = page_digest(response.content) if known else None
            return digest not in (known or {})

        response = await send(
            self._http, "GET", url, policy=self._policy, limiter=self._limiter, stats=self.stats, params=params,
            expect_json=unknown_body,
        )
        if known and digest in known:
            page, count = Page(records=None, next_token=known[digest]), None
        else:
            try:
                body = json_body(response)
            except ValueError:
                body = None
            page, count = _parse_page(record_kind, body, url, response.status_code)
        guard.check(page.next_token)
        page.raw = response.content  # lets a cached chunk keep the body, not the parsed records
        if known is not None:  # a catalog page (the mapping of an unchanged one is reused)
            page.digest = digest or page_digest(response.content)
        return page, count

    def parse_catalog_page(self, stream: str, body: bytes) -> Page:
        """A catalog page again from its response body (a chunk taken back from the retry cache)."""
        url = self._root + K.CATALOG_PATHS[stream]
        page, count = _parse_page(stream, decode_json(body), url, 200)
        page.total = count
        return page


def _parse_page(record_kind: str, body: Any, url: str, status: int) -> tuple[Page, int | None]:
    """A page's records (validated as `_tolerant` does), next token and announced count."""
    try:
        envelope = UdemyPage.model_validate(body)
    except (ValidationError, ValueError):
        raise ApiError(status, "invalidEnvelope", "page body has no results list", "GET", url) from None
    next_token = _next_page(envelope.next, url)
    records = _tolerant(record_kind, envelope.results)
    return Page(records=records, next_token=next_token), envelope.count


def _parse_token(token: str | None) -> int:
    if token is None:
        return 1
    try:
        number = int(token)
    except ValueError:
        raise ValueError(f"Udemy page token must be a page number, got {token!r}") from None
    if number < 1:
        raise ValueError(f"Udemy page token must be >= 1, got {number}")
    return number


def _next_page(next_url: str | None, url: str) -> str | None:
    """The page number of DRF's absolute `next` URL, as the opaque token."""
    if not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("page")
    if not values or not values[0].isdigit():
        raise ApiError(200, "invalidNextUrl", "next URL carries no page number", "GET", url)
    return values[0]


# One validator per page (no model instance per record); records come out as plain dicts.
_PAGE_ADAPTERS: dict[str, TypeAdapter[list[Any]]] = {k: TypeAdapter(list[schema]) for k, schema in RECORD_SCHEMAS.items()}
_RECORD_ADAPTERS: dict[str, TypeAdapter[Any]] = {k: TypeAdapter(schema) for k, schema in RECORD_SCHEMAS.items()}


def _tolerant(kind: str, results: list[Any]) -> list[dict[str, Any]]:
    """Validated records as dicts; invalid ones stay raw so the mapping can quarantine them."""
    try:
        return _PAGE_ADAPTERS[kind].validate_python(results)
    except ValidationError:
        pass  # some record is invalid: sort them out one by one
    adapter = _RECORD_ADAPTERS[kind]
    records: list[dict[str, Any]] = []
    invalid = 0
    for raw in results:
        try:
            records.append(adapter.validate_python(raw))
        except ValidationError:
            invalid += 1
            records.append(raw if isinstance(raw, dict) else {"_raw": raw})
    if invalid:
        log.info("udemy %s: %d of %d records failed validation (left to the mapping)", kind, invalid, len(results))
    return records
