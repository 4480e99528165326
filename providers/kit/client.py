"""The base provider client: everything the engine calls (`providers.base.ProviderClient`), once.

A provider's client subclasses `ProviderClient` and supplies:

- `settings_model` (its `ProviderSettings` subclass; plain settings are read into it) and, in
  `__init__`, its own checks of them;
- its credentials: `http_auth()` (e.g. HTTP Basic) or `token_grant()` (a token endpoint and a
  grant, cached by providers/kit/auth.py `TokenCache`: reused until shortly before it expires,
  renewed once on a 401);
- `catalog_endpoint(stream)` and `stats_endpoint(window)`: an `Endpoint` each, with the path,
  the paging strategy (providers/kit/paging.py), the envelope parser (records, next token and
  total from a response) and the record reader (providers/kit/records.py).

The base sends every request through `learnsync.core.http.send` with the provider's retry policy,
rate limiter and request deadline, registers the settings' secrets for masking, guards every walk
against a token handed back twice, keeps the body of each catalog page that is a function of its
body (`Page.raw`, which `parse_catalog_page` reads back: the retry cache keeps bodies), and leaves
unparsed a later catalog page whose digest the engine lists in `known_pages` (page 1 is always
parsed: it carries the total).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from learnsync.core.http import (
    RateLimiter,
    RetryStats,
    decode_json,
    followable_link,
    json_body,
    send,
    set_request_deadline,
    tls_context,
)
from learnsync.core.redaction import register_settings
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page
from learnsync.providers.kit.auth import Grant, TokenCache
from learnsync.providers.kit.paging import LoopGuards, Paging
from learnsync.providers.kit.records import RecordReader

_NOTHING_KNOWN: Mapping[str, str | None] = {}


@dataclass(frozen=True)
class Envelope:
    """What a provider's envelope parser reads from one response body."""

    items: list[Any]  # the records as the provider sent them (the endpoint's reader validates them)
    next_token: str | None  # None: the last page
    total: int | None = None  # records the provider says the whole stream has; None: not told
    # Whether the next token (and the total) came from the body alone: only such a page is
    # recognised by its body's digest and parsed again from it.
    from_body: bool = True


@dataclass(frozen=True)
class PageContext:
    """What a parser may read besides the body: the request's token and size, and the response
    (None when a stored body is parsed again)."""

    url: str
    token: str | None
    page_size: int
    response: httpx.Response | None = None

    @property
    def status(self) -> int:
        return self.response.status_code if self.response is not None else 200


Parser = Callable[[Any, PageContext], Envelope]


@dataclass(frozen=True)
class Endpoint:
    """One stream of a provider API: where it is, how it pages, how its pages are read."""

    path: str  # relative to the settings' base_url (or a full URL)
    paging: Paging
    parse: Parser
    records: RecordReader
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class ProviderClient:
    """Base of every provider client; see the module docstring."""

    key: ClassVar[str] = "provider"  # names its walks in loop errors ("udemy/courses")
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings
    min_page_size: ClassVar[int] = 1
    max_page_size: ClassVar[int | None] = None
    accept: ClassVar[str] = "application/json"
    token_margin_seconds: ClassVar[float] = 60.0  # a cached token is renewed this long before it expires
    token_default_ttl: ClassVar[float] = 3600.0  # when the token answer carries no expires_in

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = self._own_settings(settings)
        register_settings(self.settings)  # its secrets are masked in whatever this process logs or stores
        size = max(self.min_page_size, self.settings.page_size)
        self.page_size = min(size, self.max_page_size) if self.max_page_size else size
        self.limiter = RateLimiter(self.settings.requests_per_second)
        self.retry_stats = RetryStats()
        self._owns_http = http is None
        # httpx keeps Basic credentials inside its auth object: they never reach our repr or logs.
        self.http = http or httpx.AsyncClient(
            base_url=self.settings.base_url.rstrip("/"), timeout=self.settings.timeout_seconds, transport=transport,
            auth=self.http_auth(), headers={"Accept": self.accept}, verify=tls_context(),
        )
        set_request_deadline(self.http, self.settings.request_deadline_seconds)
        grant = self.token_grant()
        self.tokens: TokenCache | None = None
        if grant is not None:
            self.tokens = TokenCache(
                self.http, grant[0], grant[1], policy=self.settings.retry, limiter=self.limiter, stats=self.retry_stats,
                margin=self.token_margin_seconds, default_ttl=self.token_default_ttl,
            )
        # {body digest: next page token} of catalog pages the engine already mapped (it fills it)
        self.known_pages: dict[str, str | None] = {}
        self.invalid_records = 0  # records passed on raw because their model refused them
        self._guards = LoopGuards()
        self._body_walks: dict[str, bool] = {}  # walk -> whether its page 1 was read from its body

    @classmethod
    def _own_settings(cls, settings: ProviderSettings) -> ProviderSettings:
        """`settings` as this provider's model: a plain `ProviderSettings` gets the provider's defaults."""
        if isinstance(settings, cls.settings_model):
            return settings
        return cls.settings_model.model_validate(settings.model_dump(exclude_unset=True))

    # --- what a provider supplies ------------------------------------------------------------

    def http_auth(self) -> httpx.Auth | None:
        """Credentials sent with every request (e.g. `httpx.BasicAuth`); None: bearer tokens or none."""
        return None

    def token_grant(self) -> tuple[str, Grant] | None:
        """(token URL, grant) when the API hands out bearer tokens; None otherwise."""
        return None

    def catalog_endpoint(self, stream: str) -> Endpoint:
        raise NotImplementedError

    def stats_endpoint(self, window: DateWindow) -> Endpoint | None:
        """The statistics endpoint for a window; None when the window is empty (nothing is asked)."""
        raise NotImplementedError

    # --- what the engine calls ----------------------------------------------------------------

    async def fetch_catalog_page(self, stream: str, token: str | None) -> Page:
        """One catalog page of `stream` from `token` (None: page 1, a new walk)."""
        endpoint = self.catalog_endpoint(stream)
        walk = f"{self.key}/{stream}"
        known = self.known_pages if token is not None and self._body_walks.get(walk) else _NOTHING_KNOWN
        return await self.fetch_page(walk, endpoint, token, known=known, catalog=True)

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page:
        """One page of learner activity in the half-open window, from `token` (None: page 1)."""
        endpoint = self.stats_endpoint(window)
        if endpoint is None:
            return Page(records=[], next_token=None)
        return await self.fetch_page(self.stats_walk(window), endpoint, token)

    def parse_catalog_page(self, stream: str, body: bytes) -> Page:
        """A catalog page again from its body (`Page.raw`); ValueError for a page not read from its body.
        Its invalid records were counted when it was fetched."""
        endpoint = self.catalog_endpoint(stream)
        envelope = endpoint.parse(decode_json(body), PageContext(endpoint.path, None, self.page_size))
        if not (envelope.from_body and endpoint.paging.body_pages):
            raise ValueError(f"{self.key} {stream}: this page's next token is not in its body")
        return Page(records=endpoint.records(envelope.items)[0], next_token=envelope.next_token, total=envelope.total)

    def catalog_page_tokens(self, stream: str, first_page: Page) -> Sequence[str] | None:
        """The tokens of pages 2..n page 1 announces (None: unknown; the engine walks page by page)."""
        return self.catalog_endpoint(stream).paging.announced(first_page)

    def stats_page_tokens(self, window: DateWindow, first_page: Page) -> Sequence[str] | None:
        endpoint = self.stats_endpoint(window)
        return endpoint.paging.announced(first_page) if endpoint is not None else None

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:  # never a secret, a refresh token or an access token
        return f"{type(self).__name__}(base_url={self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    __str__ = __repr__

    # --- building blocks ----------------------------------------------------------------------

    def stats_walk(self, window: DateWindow) -> str:
        return f"{self.key}/stats {window.since or 'start'}..{window.until or 'now'}"

    async def get(
        self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        expect_json: bool | Callable[[httpx.Response], bool] = True,
    ) -> httpx.Response:
        """One GET through the shared retry layer; a bearer token is sent and renewed once on a 401."""
        sent = dict(headers or {})
        on_unauthorized: Callable[[], Awaitable[dict[str, Any]]] | None = None
        if self.tokens is not None:
            used = await self.tokens.token()
            sent["Authorization"] = f"Bearer {used}"
            on_unauthorized = functools.partial(self._renewed, self.tokens, sent, used)
        return await send(
            self.http, "GET", url, policy=self.settings.retry, limiter=self.limiter, stats=self.retry_stats,
            on_unauthorized=on_unauthorized, params=dict(params or {}) or None, headers=sent, expect_json=expect_json,
        )

    @staticmethod
    async def _renewed(tokens: TokenCache, headers: dict[str, str], stale: str) -> dict[str, Any]:
        """The request's headers with a new token, after `stale` was refused (a 401)."""
        return {"headers": {**headers, "Authorization": f"Bearer {await tokens.renew(stale=stale)}"}}

    async def fetch_page(
        self, walk: str, endpoint: Endpoint, token: str | None, *, known: Mapping[str, str | None] = _NOTHING_KNOWN,
        catalog: bool = False,
    ) -> Page:
        """One page of `endpoint` in `walk` (its loop guard); a catalog page gets its digest, and its
        body when it is a function of it; a body in `known` comes back unparsed."""
        paging = endpoint.paging
        guard = self._guards.walk(walk, token, paging.first_token)
        request = paging.request(token, self.page_size)
        url = endpoint.path
        if request.url is not None:
            link = str(self.http.base_url.join(request.url))
            url = followable_link(link, str(self.http.base_url), request_url=endpoint.path, what="next page link")
        digest: str | None = None

        def unknown_body(response: httpx.Response) -> bool:
            nonlocal digest
            digest = paging.digest(response, token, self.page_size)
            return digest not in known

        response = await self.get(
            url, params={**endpoint.params, **request.params}, headers={**endpoint.headers, **request.headers},
            expect_json=unknown_body if catalog else True,
        )
        if digest is not None and digest in known:
            page = Page(records=None, next_token=known[digest], raw=response.content, digest=digest)
        else:
            page, from_body = self._read(endpoint, response, token)
            if token is None:
                self._body_walks[walk] = from_body and paging.body_pages
            if catalog and (from_body or not paging.body_pages):
                page.digest = digest  # what the page is read from: equal digests, equal page
                if from_body and paging.body_pages:
                    page.raw = response.content  # a cached chunk keeps the body, not the parsed records
        guard.check(page.next_token)
        return page

    def _read(self, endpoint: Endpoint, response: httpx.Response, token: str | None) -> tuple[Page, bool]:
        try:
            body = json_body(response)
        except ValueError:
            body = None
        context = PageContext(str(response.request.url), token, self.page_size, response)
        envelope = endpoint.parse(body, context)
        head = endpoint.paging.head(response, token, self.page_size, len(envelope.items))
        records, invalid = endpoint.records(envelope.items)
        self.invalid_records += invalid
        next_token, total = (head.next_token, head.total) if head is not None else (envelope.next_token, envelope.total)
        return Page(records=records, next_token=next_token, total=total), envelope.from_body and head is None

    async def walk_pages(self, walk: str, endpoint: Endpoint) -> AsyncIterator[Page]:
        """Every page of `endpoint`, one after the other (a listing the client reads for itself)."""
        token: str | None = None
        while True:
            page = await self.fetch_page(walk, endpoint, token)
            yield page
            token = page.next_token
            if token is None or not page.records:
                return
