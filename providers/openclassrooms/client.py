"""HTTP client for the (ASSUMED) OpenClassrooms B2B API: token, catalog and learner progress.

Auth: client_credentials token (HTTP Basic client auth) through the shared `providers.kit.auth`
cache, renewed a minute before it expires or on a 401. The partner API is not public: its paths
are settings (docs/providers/openclassrooms.md). Paging: `Range: items=a-b` -> 206 + `Content-Range: items a-b/total`; the
page token is the next start offset as a string. All requests go through `learnsync.core.http.send`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import BaseModel

from learnsync.core.http import PageTokenGuard, RateLimiter, json_body, send, set_request_deadline, tls_context
from learnsync.core.redaction import register_settings
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page, page_digest
from learnsync.providers.kit.paging import offsets_after
from learnsync.providers.kit.auth import ClientCredentialsGrant, TokenCache
from learnsync.providers.openclassrooms import settings as oc
from learnsync.providers.openclassrooms.models import RawCourse, RawProgress, parse_content_range, range_header, to_record


class OpenClassroomsClient:
    """`providers.base.ProviderClient` for OpenClassrooms. Secrets never leave the auth header."""

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        if not settings.org_id:
            raise ValueError("OpenClassrooms needs an organization id (ProviderSettings.org_id)")
        register_settings(settings)  # its secret is masked in whatever this process logs or stores
        self._settings = settings
        self._page_size = max(1, min(settings.page_size, oc.MAX_PAGE_SIZE))
        self._http = http or httpx.AsyncClient(base_url=settings.base_url, timeout=settings.timeout_seconds, verify=tls_context())
        set_request_deadline(self._http, settings.request_deadline_seconds)
        self._owns_http = http is None
        self._limiter = RateLimiter(settings.requests_per_second)
        self.paths = {
            "token": str(getattr(settings, "token_path", oc.TOKEN_PATH)),
            "catalog": str(getattr(settings, "catalog_path", oc.CATALOG_PATH)),
            "progress": str(getattr(settings, "progress_path", oc.PROGRESS_PATH)),
        }
        self._tokens = TokenCache(
            self._http, self.paths["token"],
            ClientCredentialsGrant(settings.client_id, settings.client_secret, style="basic"),
            policy=settings.retry, limiter=self._limiter,
            margin=oc.TOKEN_RENEW_MARGIN_SECONDS, default_ttl=oc.ACCESS_TOKEN_DEFAULT_TTL,
        )
        self._guards: dict[str, PageTokenGuard] = {}

    def __repr__(self) -> str:
        return f"OpenClassroomsClient(base_url={self._settings.base_url!r}, org_id={self._settings.org_id!r})"

    async def _get_range(self, path: str, start: int, params: dict[str, str] | None = None) -> httpx.Response:
        used = await self._tokens.token()

        async def renew() -> dict[str, Any]:
            token = await self._tokens.renew(stale=used)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            return {"headers": {**headers, **range_header(start, self._page_size)}}

        return await send(
            self._http,
            "GET",
            path,
            policy=self._settings.retry,
            limiter=self._limiter,
            on_unauthorized=renew,
            headers={"Authorization": f"Bearer {used}", "Accept": "application/json", **range_header(start, self._page_size)},
            params=params or None,
        )

    # --- paging -------------------------------------------------------------------------------
    async def _page(
        self, guard_key: str, path: str, token: str | None, model: type[BaseModel], params: dict[str, str] | None = None,
        *, catalog: bool = False,
    ) -> Page:
        if token is None:  # a new walk of this stream: forget the tokens of the previous one
            self._guards[guard_key] = PageTokenGuard(guard_key)
        guard = self._guards.setdefault(guard_key, PageTokenGuard(guard_key))
        start = int(token) if token else 0
        response = await self._get_range(path, start, params)
        body = json_body(response)
        items = body if isinstance(body, list) else []
        records = [to_record(model, item) for item in items]
        next_token = self._next_token(response, start, len(items))
        guard.check(next_token)
        page = Page(records=records, next_token=next_token, total=self._total(response, len(items)))
        if catalog:  # a re-sync reuses the mapping of an unchanged page (tasks/mapped_chunks.py)
            page.digest = self._digest(response, start)
        return page

    def _digest(self, response: httpx.Response, start: int) -> str:
        """`page_digest` of all a page is read from: the next token and total come from the status
        and Content-Range (with the requested start and size when it lacks them), not the body.
        No `raw`/`parse_catalog_page`: the body alone cannot give the page back."""
        # JSON escapes NUL, so the first NUL ends the header part: no two inputs digest alike.
        head = json.dumps([response.status_code, response.headers.get("Content-Range"), start, self._page_size])
        return page_digest(head.encode() + b"\0" + response.content)

    @staticmethod
    def _total(response: httpx.Response, count: int) -> int | None:
        """Content-Range's total; a 200 without one is the whole collection at once."""
        total = parse_content_range(response.headers.get("Content-Range"))[2]
        if total is None and response.status_code == 200 and "Content-Range" not in response.headers:
            return count
        return total

    def _next_token(self, response: httpx.Response, start: int, count: int) -> str | None:
        if response.status_code != 206 or count == 0:  # 200 = the whole collection at once
            return None
        first, stop, total = parse_content_range(response.headers.get("Content-Range"))
        if stop is None:
            stop = start + count - 1
        if total is None:  # unknown size: a short range is the last one
            return str(stop + 1) if count >= self._page_size else None
        return str(stop + 1) if stop + 1 < total else None

    async def fetch_catalog_page(self, stream: str, token: str | None) -> Page:
        if stream != oc.CATALOG_STREAM:
            raise ValueError(f"unknown OpenClassrooms catalog stream {stream!r}")
        path = self.paths["catalog"].format(partner_id=self._settings.org_id)
        return await self._page(f"catalog:{stream}", path, token, RawCourse, catalog=True)

    def catalog_page_tokens(self, stream: str, first_page: Page) -> Sequence[str] | None:
        """Page-token hint for the engine: every later range start, from page 1's size and the total."""
        return offsets_after(first_page)

    def stats_page_tokens(self, window: DateWindow, first_page: Page) -> Sequence[str] | None:
        return offsets_after(first_page)

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page:
        """Progress rows active in the half-open window; the API's `to` is an inclusive date."""
        if window.since and window.until and window.until <= window.since:
            return Page(records=[], next_token=None)
        params: dict[str, str] = {}
        if window.since:
            params["from"] = window.since.isoformat()
        if window.until:
            params["to"] = (window.until - timedelta(days=1)).isoformat()
        path = self.paths["progress"].format(partner_id=self._settings.org_id)
        return await self._page(f"stats:{window.since}:{window.until}", path, token, RawProgress, params)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def make_client(settings: ProviderSettings) -> OpenClassroomsClient:
    return OpenClassroomsClient(settings)
