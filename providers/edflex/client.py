"""Edflex Connect API client: client-credentials token, JSON:API page-number paging.

Page tokens are page numbers as strings ("2"), read from `links.next` when it names one, else
worked out from the request (then the page is not a function of its body: no `raw`, no digest).
Paths are settings: the statistics endpoint has no public source (docs/providers/edflex.md).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from learnsync.core.http import ApiError, error_code_and_message
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow
from learnsync.providers.edflex import settings as edx
from learnsync.providers.edflex.models import ListEnvelope, resource_record, statistic_record
from learnsync.providers.kit.auth import ClientCredentialsGrant, Grant
from learnsync.providers.kit.client import Endpoint, Envelope, PageContext, ProviderClient
from learnsync.providers.kit.paging import PageNumbers, query_value

PAGING = PageNumbers("page[number]", "page[size]")
STATS_PAGING = PageNumbers("page[number]", "page[size]", announce=False)
JSON_API = {"Accept": "application/vnd.api+json"}


def resources(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Flat resource records (`resource_record` reads each tolerantly: no record is refused here)."""
    return [resource_record(item) for item in items], 0


def statistics(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    return [statistic_record(item) for item in items], 0


def _list_envelope(body: Any, ctx: PageContext) -> ListEnvelope:
    # Edflex may answer 200 with a JSON:API `errors` array and no data (docs/providers/edflex.md: Errors).
    if isinstance(body, dict) and body.get("errors") and "data" not in body:
        code, message = error_code_and_message(ctx.response) if ctx.response is not None else ("errors", "")
        raise ApiError(ctx.status, code, message, "GET", ctx.url)
    try:
        return ListEnvelope.model_validate(body)
    except ValidationError:
        raise ApiError(ctx.status, "invalidPage", "answer is not a JSON:API list", "GET", ctx.url) from None


def _next_in_body(envelope: ListEnvelope) -> tuple[bool, str | None]:
    """(True, next page number) when links.next names it or there is no next link; else (False, None)."""
    if envelope.links is None:
        return False, None
    if not envelope.links.next:
        return True, None
    number = query_value(envelope.links.next, "page[number]")
    return (True, number) if number is not None else (False, None)


def parse_page(body: Any, ctx: PageContext) -> Envelope:
    """Next page number from links.next; else meta totals; else a full page means more."""
    envelope = _list_envelope(body, ctx)
    page_info = envelope.meta.page if envelope.meta else None
    total = page_info.total if page_info is not None else None
    in_body, next_token = _next_in_body(envelope)
    if not in_body:
        number, count = PAGING.number(ctx.token), len(envelope.data)
        if envelope.links is not None:  # a next link without a page number
            next_token = str(number + 1)
        elif page_info is not None and page_info.total is not None:
            size = page_info.size or ctx.page_size
            next_token = str(number + 1) if number * size < page_info.total else None
        else:
            next_token = str(number + 1) if count >= ctx.page_size and count > 0 else None
    return Envelope(envelope.data, next_token, total, from_body=in_body)


def parse_stats_page(body: Any, ctx: PageContext) -> Envelope:
    """As `parse_page`, without a total: the statistics endpoint's is not relied upon."""
    envelope = parse_page(body, ctx)
    return Envelope(envelope.items, envelope.next_token, None, from_body=envelope.from_body)


class EdflexClient(ProviderClient):
    """`providers.base.ProviderClient` for Edflex. Secrets never leave this object's private fields."""

    key = edx.KEY
    settings_model = edx.EdflexSettings
    token_margin_seconds = edx.TOKEN_REFRESH_MARGIN_SECONDS
    token_default_ttl = edx.DEFAULT_TOKEN_TTL_SECONDS
    settings: edx.EdflexSettings

    def __init__(self, settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings, transport=transport)
        self.paths = {"token": self.settings.token_path, "resources": self.settings.resources_path,
                      "statistics": self.settings.statistics_path}  # fmt: skip
        self._resources = Endpoint(self.paths["resources"], PAGING, parse_page, resources, headers=JSON_API)

    def __repr__(self) -> str:
        return f"EdflexClient(base_url={self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    def token_grant(self) -> tuple[str, Grant]:
        return self.settings.token_path, ClientCredentialsGrant(self.settings.client_id, self.settings.client_secret, style="form")

    def catalog_endpoint(self, stream: str) -> Endpoint:
        if stream != edx.CATALOG_STREAM:
            raise ValueError(f"unknown Edflex catalog stream {stream!r}")
        return self._resources

    def stats_endpoint(self, window: DateWindow) -> Endpoint:
        return Endpoint(self.paths["statistics"], STATS_PAGING, parse_stats_page, statistics, params=_window_params(window),
                        headers=JSON_API)  # fmt: skip


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
