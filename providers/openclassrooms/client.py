"""(ASSUMED) OpenClassrooms B2B API client: token, catalog and learner progress.

Auth: client_credentials token (HTTP Basic client auth), renewed a minute before it expires or on
a 401. The partner API is not public: its paths are settings (docs/providers/openclassrooms.md).
Paging: `Range: items=a-b` -> 206 + `Content-Range: items a-b/total` (providers/kit/paging.py
`Ranges`); the page token is the next start offset as a string.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow
from learnsync.providers.kit.auth import ClientCredentialsGrant, Grant
from learnsync.providers.kit.client import Endpoint, Envelope, PageContext, ProviderClient
from learnsync.providers.kit.paging import Ranges
from learnsync.providers.openclassrooms import settings as oc
from learnsync.providers.openclassrooms.models import RawCourse, RawProgress, to_record

PAGING = Ranges("items")


def parse_page(body: Any, ctx: PageContext) -> Envelope:
    """A bare JSON list; next token and total come from the status and Content-Range."""
    return Envelope(body if isinstance(body, list) else [], None, None, from_body=False)


def courses(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Records under Python names (`to_record` never refuses one: bad values travel on for quarantine)."""
    return [to_record(RawCourse, item) for item in items], 0


def progress(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    return [to_record(RawProgress, item) for item in items], 0


class OpenClassroomsClient(ProviderClient):
    """`providers.base.ProviderClient` for OpenClassrooms. Secrets never leave the auth header."""

    key = oc.KEY
    settings_model = oc.OpenClassroomsSettings
    max_page_size = oc.MAX_PAGE_SIZE
    token_margin_seconds = oc.TOKEN_RENEW_MARGIN_SECONDS
    token_default_ttl = oc.ACCESS_TOKEN_DEFAULT_TTL
    settings: oc.OpenClassroomsSettings

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        if not settings.org_id:
            raise ValueError("OpenClassrooms needs an organization id (ProviderSettings.org_id)")
        super().__init__(settings, http=http)
        partner = {"partner_id": self.settings.org_id}
        self.paths = {"token": self.settings.token_path, "catalog": self.settings.catalog_path.format(**partner),
                      "progress": self.settings.progress_path.format(**partner)}  # fmt: skip
        self._catalog = Endpoint(self.paths["catalog"], PAGING, parse_page, courses)

    def __repr__(self) -> str:
        return f"OpenClassroomsClient(base_url={self.settings.base_url!r}, org_id={self.settings.org_id!r})"

    def token_grant(self) -> tuple[str, Grant]:
        return self.settings.token_path, ClientCredentialsGrant(self.settings.client_id, self.settings.client_secret, style="basic")

    def catalog_endpoint(self, stream: str) -> Endpoint:
        if stream != oc.CATALOG_STREAM:
            raise ValueError(f"unknown OpenClassrooms catalog stream {stream!r}")
        return self._catalog

    def stats_endpoint(self, window: DateWindow) -> Endpoint | None:
        """Progress rows active in the half-open window; the API's `to` is an inclusive date."""
        if window.since and window.until and window.until <= window.since:
            return None
        params: dict[str, str] = {}
        if window.since:
            params["from"] = window.since.isoformat()
        if window.until:
            params["to"] = (window.until - timedelta(days=1)).isoformat()
        return Endpoint(self.paths["progress"], PAGING, parse_page, progress, params=params)


def make_client(settings: ProviderSettings) -> OpenClassroomsClient:
    return OpenClassroomsClient(settings)
