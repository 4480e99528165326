"""HTTP client for the Edflex Connect API: client-credentials token, JSON:API page-number paging.

Page tokens are page numbers as strings ("2"). Every request goes through `learnsync.core.http.send`
(retries, Retry-After, rate limit); a 401 on a data call renews the token once (the shared
`providers.kit.auth` cache). Paths are settings: the statistics endpoint has no public source
(docs/providers/edflex.md).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from collections.abc import Sequence
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import ValidationError

from learnsync.core.http import ApiError, PageTokenGuard, RateLimiter, error_code_and_message, decode_json, json_body, send, set_request_deadline, tls_context
from learnsync.core.redaction import register_settings
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page, page_digest
from learnsync.providers.kit.paging import page_numbers_after
from learnsync.providers.edflex import settings as edx
from learnsync.providers.edflex.models import ListEnvelope, resource_record, statistic_record
from learnsync.providers.kit.auth import ClientCredentialsGrant, TokenCache


class EdflexClient:
    """`providers.base.ProviderClient` for Edflex. Secrets never leave this object's private fields."""

    def __init__(self, settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        register_settings(settings)  # its secret is masked in whatever this process logs or stores
        self._settings = settings
        self._base = settings.base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=settings.timeout_seconds, transport=transport, verify=tls_context())
        set_request_deadline(self._http, settings.request_deadline_seconds)
        self._limiter = RateLimiter(settings.requests_per_second)
        self.paths = {
            "token": str(getattr(settings, "token_path", edx.TOKEN_PATH)),
            "resources": str(getattr(settings, "resources_path", edx.RESOURCES_PATH)),
            "statistics": str(getattr(settings, "statistics_path", edx.STATISTICS_PATH)),
        }
        self._tokens = TokenCache(
            self._http, f"{self._base}{self.paths['token']}",
            ClientCredentialsGrant(settings.client_id, settings.client_secret, style="form"),
            policy=settings.retry, limiter=self._limiter,
            margin=edx.TOKEN_REFRESH_MARGIN_SECONDS, default_ttl=edx.DEFAULT_TOKEN_TTL_SECONDS,
        )
        self._guards: dict[str, PageTokenGuard] = {}
        # {body digest: next page token} of catalog pages the engine already mapped (it fills it)
        self.known_pages: dict[str, str | None] = {}
        # Whether this walk's page 1 named its next page in its body: only then may a known
        # body come back unparsed (see fetch_catalog_page)
        self._paged_in_body = False

    def __repr__(self) -> str:
        return f"EdflexClient(base_url={self._base!r}, client_id={self._settings.client_id!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, params: dict[str, Any]) -> ListEnvelope:
        return _envelope(await self._send_get(path, params), f"{self._base}{path}")

    async def _send_get(
        self, path: str, params: dict[str, Any], expect_json: bool | Callable[[httpx.Response], bool] = True
    ) -> httpx.Response:
        url = f"{self._base}{path}"
        used = await self._tokens.token()
        headers = {"Authorization": f"Bearer {used}", "Accept": "application/vnd.api+json"}

        async def renew() -> dict[str, Any]:
            fresh = await self._tokens.renew(stale=used)
            return {"headers": {**headers, "Authorization": f"Bearer {fresh}"}}

        return await send(
            self._http,
            "GET",
            url,
            policy=self._settings.retry,
            limiter=self._limiter,
            on_unauthorized=renew,
            params=params,
            headers=headers,
            expect_json=expect_json,
        )

    # -- paging -------------------------------------------------------------------------

    def _guard(self, key: str, token: str | None) -> PageTokenGuard:
        # A traversal starts with token None: forget the tokens of the previous one.
        if token is None or key not in self._guards:
            self._guards[key] = PageTokenGuard(key)
        return self._guards[key]

    def _page_params(self, token: str | None) -> tuple[int, dict[str, Any]]:
        number = int(token) if token else 1
        return number, {"page[number]": number, "page[size]": self._settings.page_size}

    def _next_token(self, envelope: ListEnvelope, number: int, count: int) -> str | None:
        """Next page number from links.next; else meta totals; else a full page means more."""
        in_body, next_token = _next_in_body(envelope)
        if in_body:
            return next_token
        if envelope.links is not None:  # a next link without a page number
            return str(number + 1)
        page = envelope.meta.page if envelope.meta else None
        if page is not None and page.total is not None:
            size = page.size or self._settings.page_size
            return str(number + 1) if number * size < page.total else None
        return str(number + 1) if count >= self._settings.page_size and count > 0 else None

    async def fetch_catalog_page(self, stream: str, token: str | None) -> Page:
        """One page of resources; `token` is the page number (None = first).

        A page whose next page number is in its body (links.next) is a function of the body:
        it gets `raw` and `digest`, and a body in `known_pages` may come back unparsed. A page
        whose next number is worked out from the request (the fallbacks of `_next_token`) gets
        neither, so the engine never takes it for another page with the same body.
        """
        if stream != edx.CATALOG_STREAM:
            raise ValueError(f"unknown Edflex catalog stream {stream!r}")
        guard = self._guard(stream, token)
        number, params = self._page_params(token)
        # Page 1 is always parsed (it carries the total). Later pages are left unparsed only
        # in a walk paged by the body: in a walk paged by the request no page keeps its body,
        # and a chunk with a bodiless page parses its unparsed ones at once (tasks/extract).
        known = self.known_pages if token is not None and self._paged_in_body else {}
        digest: str | None = None

        def unknown_body(response: httpx.Response) -> bool:
            nonlocal digest
            digest = page_digest(response.content)
            return digest not in known

        response = await self._send_get(self.paths["resources"], params, unknown_body)
        if digest in known:
            page = Page(records=None, next_token=known[digest], raw=response.content, digest=digest)
        else:
            envelope = _envelope(response, f"{self._base}{self.paths['resources']}")
            in_body = _next_in_body(envelope)[0]
            if token is None:
                self._paged_in_body = in_body
            page = _resources_page(envelope, self._next_token(envelope, number, len(envelope.data)))
            if in_body:  # lets a cached chunk keep the body, not the parsed records
                page.raw, page.digest = response.content, digest
        guard.check(page.next_token)
        return page

    def parse_catalog_page(self, stream: str, body: bytes) -> Page:
        """A catalog page again from its response body (only pages fetched with `raw` set)."""
        envelope = ListEnvelope.model_validate(decode_json(body))
        in_body, next_token = _next_in_body(envelope)
        if not in_body:
            raise ValueError("this Edflex page's next page number is not in its body")
        return _resources_page(envelope, next_token)

    def catalog_page_tokens(self, stream: str, first_page: Page) -> Sequence[str] | None:
        """Page-token hint for the engine: page numbers 2..n from page 1's size and `meta.page.total`."""
        return page_numbers_after(first_page)

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page:
        guard = self._guard(f"{edx.STATS_STREAM}:{window.since}:{window.until}", token)
        number, params = self._page_params(token)
        params.update(_window_params(window))
        envelope = await self._get(self.paths["statistics"], params)
        next_token = self._next_token(envelope, number, len(envelope.data))
        guard.check(next_token)
        return Page([statistic_record(item) for item in envelope.data], next_token)


def _envelope(response: httpx.Response, url: str) -> ListEnvelope:
    body = json_body(response)
    # Edflex may answer 200 with a JSON:API `errors` array and no data (docs/providers/edflex.md: Errors).
    if isinstance(body, dict) and body.get("errors") and "data" not in body:
        code, message = error_code_and_message(response)
        raise ApiError(response.status_code, code, message, "GET", url)
    try:
        return ListEnvelope.model_validate(body)
    except ValidationError:
        raise ApiError(response.status_code, "invalidPage", "answer is not a JSON:API list", "GET", url) from None


def _next_in_body(envelope: ListEnvelope) -> tuple[bool, str | None]:
    """(True, next page number) when links.next names it or there is no next link; else (False, None)."""
    if envelope.links is None:
        return False, None
    if not envelope.links.next:
        return True, None
    values = parse_qs(urlsplit(envelope.links.next).query).get("page[number]")
    return (True, values[0]) if values else (False, None)


def _resources_page(envelope: ListEnvelope, next_token: str | None) -> Page:
    page_info = envelope.meta.page if envelope.meta else None
    total = page_info.total if page_info is not None else None
    return Page([resource_record(item) for item in envelope.data], next_token, total)


def _window_params(window: DateWindow) -> dict[str, str]:
    """Half-open [since, until) → Edflex's inclusive filter[from]/filter[to] (ASSUMED, docs/providers/edflex.md: Statistics)."""
    params: dict[str, str] = {}
    if window.since is not None:
        params["filter[from]"] = _day(window.since).isoformat()
    if window.until is not None:
        params["filter[to]"] = (_day(window.until) - timedelta(days=1)).isoformat()
    return params


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def make_client(settings: ProviderSettings) -> EdflexClient:
    return EdflexClient(settings)
