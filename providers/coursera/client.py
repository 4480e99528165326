"""Coursera for Business HTTP client: OAuth token, offset paging over contents and reports.

One page per call; the engine loops on `next_token`. Tokens are opaque strings:
- catalog: the next offset (`paging.next`, a decimal string);
- stats: `"<programId>|<offset>"` — reports are read per program (`q=byProgramId`), program
  after program, so the token says which program and where in it.
Auth (docs/providers/coursera.md): by default the current client_credentials grant (HTTP
Basic key:secret, form body) at `token_url`; the legacy refresh_token grant (which also extends
the refresh token's two-week life) at `refresh_token_url` only when a non-empty refresh token
is configured. The token cache (`providers.kit.auth`) renews a minute before expiry, or at once
on a 401. The API prefix (`/ent/api`, `/api` for legacy tenants) is a setting.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from collections.abc import Sequence
from typing import Any, Callable

import httpx

from learnsync.core.http import PageTokenGuard, RateLimiter, RetryStats, decode_json, json_body, send, set_request_deadline, tls_context
from learnsync.core.redaction import register_settings
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page, page_digest
from learnsync.providers.kit.paging import offsets_after
from learnsync.providers.coursera import settings as cs
from learnsync.providers.coursera.models import Envelope, RawContent, RawEnrollment, RawProgram, epoch_ms, validate_records
from learnsync.providers.kit.auth import ClientCredentialsGrant, Grant, RefreshTokenGrant, TokenCache


def _utc_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


class CourseraClient:
    """`providers.base.ProviderClient` for Coursera (see module docstring)."""

    def __init__(self, settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not settings.org_id:
            raise ValueError("Coursera needs org_id")
        register_settings(settings)  # its secrets are masked in whatever this process logs or stores
        self._settings = settings
        self._org_path = {"org_id": settings.org_id}
        self._page_size = max(cs.MIN_PAGE_SIZE, min(cs.MAX_PAGE_SIZE, settings.page_size))
        self._http = httpx.AsyncClient(base_url=settings.base_url.rstrip("/"), timeout=settings.timeout_seconds, transport=transport, verify=tls_context())
        set_request_deadline(self._http, settings.request_deadline_seconds)
        self._limiter = RateLimiter(settings.requests_per_second)
        self.retry_stats = RetryStats()
        self._tokens = token_cache(settings, self._http, self._limiter, self.retry_stats)
        prefix = "/" + str(getattr(settings, "api_prefix", cs.DEFAULT_API_PREFIX)).strip("/")
        self._paths = {name: prefix + path for name, path in cs.BUSINESS_PATHS.items()}
        self._guards: dict[str, PageTokenGuard] = {}
        self._program_ids: list[str] | None = None
        # {body digest: next page token} of catalog pages the engine already mapped (it fills it)
        self.known_pages: dict[str, str | None] = {}
        self.invalid_records = 0  # records kept raw because the tolerant model refused them

    def __repr__(self) -> str:  # never the secret, the refresh token or the access token
        return f"CourseraClient(base_url={self._settings.base_url!r}, org_id={self._settings.org_id!r}, client_id={self._settings.client_id!r})"

    __str__ = __repr__

    @property
    def token_url(self) -> str:
        return self._tokens.url

    def path(self, name: str) -> str:
        """The API path of `programs`, `contents` or `enrollmentReports` (prefix applied, {org_id} filled)."""
        return self._paths[name].format(**self._org_path)

    async def _get(self, path: str, params: dict[str, Any]) -> Envelope:
        return Envelope.model_validate(json_body(await self._send_get(path, params)))

    async def _send_get(
        self, path: str, params: dict[str, Any], expect_json: bool | Callable[[httpx.Response], bool] = True
    ) -> httpx.Response:
        used = await self._tokens.token()

        async def renew_on_401() -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {await self._tokens.renew(stale=used)}"}}

        return await send(self._http, "GET", path.format(**self._org_path), policy=self._settings.retry,
                          limiter=self._limiter, stats=self.retry_stats, on_unauthorized=renew_on_401,
                          params=params, headers={"Authorization": f"Bearer {used}"}, expect_json=expect_json)

    # --- paging --------------------------------------------------------------------------
    def _guard(self, stream: str, token: str | None) -> PageTokenGuard:
        if token is None or stream not in self._guards:  # a new walk starts with no token
            self._guards[stream] = PageTokenGuard(stream)
        return self._guards[stream]

    @staticmethod
    def _offset(token: str | None) -> int:
        if token is None:
            return 0
        if not token.isdigit():
            raise ValueError(f"not a Coursera page token: {token!r}")
        return int(token)

    async def fetch_catalog_page(self, stream: str, token: str | None) -> Page:
        """One page of contents; `token` is the offset (None = first). Records, next offset and
        total all come from the body, so a body in `known_pages` comes back unparsed."""
        if stream != cs.CATALOG_STREAM:
            raise ValueError(f"unknown Coursera stream {stream!r}")
        guard = self._guard(stream, token)
        known = self.known_pages if token is not None else {}  # page 1 is always read: it has the total
        digest: str | None = None

        def unknown_body(response: httpx.Response) -> bool:
            nonlocal digest
            digest = page_digest(response.content)
            return digest not in known

        response = await self._send_get(self._paths["contents"], {"start": self._offset(token), "limit": self._page_size}, unknown_body)
        if digest in known:
            page = Page(records=None, next_token=known[digest])
        else:
            page, invalid = _catalog_page(json_body(response))
            self.invalid_records += invalid
        guard.check(page.next_token)
        page.raw = response.content  # lets a cached chunk keep the body, not the parsed records
        page.digest = digest
        return page

    def parse_catalog_page(self, stream: str, body: bytes) -> Page:
        """A catalog page again from its response body (a chunk taken back from the retry cache).
        Its invalid records were counted when it was fetched."""
        return _catalog_page(decode_json(body))[0]

    def catalog_page_tokens(self, stream: str, first_page: Page) -> Sequence[str] | None:
        """Page-token hint for the engine: every later offset, from page 1's step and `paging.total`."""
        return offsets_after(first_page)

    async def _programs(self) -> list[str]:
        if self._program_ids is None:
            ids: list[str] = []
            guard = PageTokenGuard("programs")
            token: str | None = None
            while True:
                envelope = await self._get(self._paths["programs"], {"excludeContent": "true", "start": self._offset(token), "limit": self._page_size})
                programs, _ = validate_records(RawProgram, envelope.elements)
                ids.extend(p["id"] for p in programs if isinstance(p.get("id"), str))
                token = envelope.paging.next if envelope.elements else None
                guard.check(token)
                if token is None:
                    break
            self._program_ids = list(dict.fromkeys(ids))
        return self._program_ids

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page:
        guard = self._guard(cs.STATS_STREAM, token)
        if token is None:
            self._program_ids = None  # re-read programs at the start of each walk
        programs = await self._programs()
        if not programs:
            return Page(records=[], next_token=None)
        program_id, offset = programs[0], 0
        if token is not None:
            program_id, _, raw_offset = token.rpartition("|")
            offset = self._offset(raw_offset)
            if program_id not in programs:
                raise ValueError("stats page token names a program this organisation does not have")
        params: dict[str, Any] = {"q": "byProgramId", "programId": program_id, "start": offset, "limit": self._page_size}
        if window.since is not None:
            # The filter is "strictly after"; minus 1 ms keeps activity at 00:00:00.000 of `since`.
            params["lastActivityAfter"] = _utc_ms(window.since) - 1
        envelope = await self._get(self._paths["enrollmentReports"], params)
        records, invalid = validate_records(RawEnrollment, envelope.elements)
        self.invalid_records += invalid
        if window.until is not None:
            # No lastActivityBefore exists (docs: COURSERA-27): drop later rows here. Rows with an
            # unreadable date stay; the mapping decides about them.
            until = _utc_ms(window.until)
            records = [r for r in records if (ms := epoch_ms(r.get("lastActivityAt"))) is None or ms < until]
        if envelope.elements and envelope.paging.next is not None:
            next_token: str | None = f"{program_id}|{envelope.paging.next}"
        else:
            index = programs.index(program_id)
            next_token = f"{programs[index + 1]}|0" if index + 1 < len(programs) else None
        guard.check(next_token)
        return Page(records=records, next_token=next_token)

    async def aclose(self) -> None:
        await self._http.aclose()


def _catalog_page(body: Any) -> tuple[Page, int]:
    """A contents page from its JSON body, and how many of its records stayed raw."""
    envelope = Envelope.model_validate(body)
    records, invalid = validate_records(RawContent, envelope.elements)
    next_token = envelope.paging.next if envelope.elements else None  # an empty page ends the walk
    return Page(records=records, next_token=next_token, total=envelope.paging.total), invalid


def token_cache(settings: ProviderSettings, http: httpx.AsyncClient, limiter: RateLimiter, stats: RetryStats) -> TokenCache:
    """Client credentials by default; the legacy refresh-token grant only with a non-empty refresh token."""
    refresh = settings.refresh_token
    grant: Grant
    if refresh is not None and refresh.get_secret_value().strip():
        grant = RefreshTokenGrant(settings.client_id, settings.client_secret, refresh)
        url = str(getattr(settings, "refresh_token_url", cs.LEGACY_TOKEN_URL))
    else:
        grant = ClientCredentialsGrant(settings.client_id, settings.client_secret, style="basic")
        url = str(getattr(settings, "token_url", cs.CLIENT_CREDENTIALS_TOKEN_PATH))
    return TokenCache(
        http, url, grant, policy=settings.retry, limiter=limiter, stats=stats,
        margin=cs.TOKEN_RENEW_MARGIN_SECONDS, default_ttl=cs.ACCESS_TOKEN_DEFAULT_TTL,
    )


def make_client(settings: ProviderSettings) -> CourseraClient:
    return CourseraClient(settings)
