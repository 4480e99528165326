"""Udemy Business REST API client: HTTP Basic auth, DRF page-number paging (`count`, `next`).

The page token handed to the engine is the page number read from the body's absolute `next`
URL. Requests are always built against our own base URL, so credentials are never sent to
whatever host a `next` URL might name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from learnsync.core.http import ApiError
from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow
from learnsync.providers.kit.client import Endpoint, Envelope, PageContext, ProviderClient
from learnsync.providers.kit.paging import PageNumbers, query_value
from learnsync.providers.kit.records import TolerantRecords
from learnsync.providers.udemy import settings as K
from learnsync.providers.udemy.models import UdemyCourse, UdemyCourseActivity, UdemyLearningPath, UdemyPage

PAGING = PageNumbers("page", "page_size")
RECORDS = {
    "courses": TolerantRecords(UdemyCourse, "udemy courses"),
    "learning_paths": TolerantRecords(UdemyLearningPath, "udemy learning_paths"),
    "activity": TolerantRecords(UdemyCourseActivity, "udemy activity"),
}


def parse_page(body: Any, ctx: PageContext) -> Envelope:
    """DRF's envelope: `results`, `count` (the whole filtered list) and the absolute `next` URL."""
    try:
        envelope = UdemyPage.model_validate(body)
    except (ValidationError, ValueError):
        raise ApiError(ctx.status, "invalidEnvelope", "page body has no results list", "GET", ctx.url) from None
    next_token = None
    if envelope.next:
        next_token = query_value(envelope.next, "page")
        if next_token is None or not next_token.isdigit():
            raise ApiError(ctx.status, "invalidNextUrl", "next URL carries no page number", "GET", ctx.url)
    return Envelope(envelope.results, next_token, envelope.count)


class UdemyClient(ProviderClient):
    """`providers.base.ProviderClient` for Udemy Business (one organization)."""

    key = K.KEY
    settings_model = K.UdemySettings
    max_page_size = K.MAX_PAGE_SIZE

    def __init__(self, settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not settings.org_id:
            raise ValueError("Udemy needs settings.org_id (the numeric organization id)")
        super().__init__(settings, transport=transport)
        root = K.API_ROOT.format(org_id=self.settings.org_id)
        self._catalog = {
            stream: Endpoint(root + path, PAGING, parse_page, RECORDS[stream], params=dict(K.CATALOG_FIELDS[stream]))
            for stream, path in K.CATALOG_PATHS.items()
        }
        self._activity = root + K.ACTIVITY_PATH

    def http_auth(self) -> httpx.Auth:
        return httpx.BasicAuth(self.settings.client_id, self.settings.client_secret.get_secret_value())

    def catalog_endpoint(self, stream: str) -> Endpoint:
        """`courses` or `learning_paths`."""
        if stream not in self._catalog:
            raise ValueError(f"unknown Udemy catalog stream {stream!r}")
        return self._catalog[stream]

    def stats_endpoint(self, window: DateWindow) -> Endpoint | None:
        """User-course activity whose activity date is inside the half-open window."""
        params = dict(K.ACTIVITY_FIELDS)
        if window.since is not None:
            params["from_date"] = window.since.isoformat()
        if window.until is not None:
            # Udemy's to_date is inclusive; the engine's window is [since, until).
            last_day = window.until - timedelta(days=1)
            if window.since is not None and last_day < window.since:
                return None
            params["to_date"] = last_day.isoformat()
        return Endpoint(self._activity, PAGING, parse_page, RECORDS["activity"], params=params)


def make_client(settings: ProviderSettings) -> UdemyClient:
    return UdemyClient(settings)
