"""Coursera for Business client: OAuth token, offset paging over contents and reports.

Tokens are opaque strings:
- catalog: the next offset (`paging.next`, a decimal string);
- stats: `"<programId>|<offset>"`: reports are read per program (`q=byProgramId`), program
  after program, so the token says which program and where in it.
Auth (docs/providers/coursera.md): by default the current client_credentials grant (HTTP
Basic key:secret, form body) at `token_url`; the legacy refresh_token grant (which also extends
the refresh token's two-week life) at `refresh_token_url` only when a non-empty refresh token
is configured. The API prefix (`/ent/api`, `/api` for legacy tenants) is a setting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx

from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import DateWindow, Page
from learnsync.providers.coursera import settings as cs
from learnsync.providers.coursera.models import Envelope as Body
from learnsync.providers.coursera.models import RawContent, RawEnrollment, RawProgram, epoch_ms
from learnsync.providers.kit.auth import ClientCredentialsGrant, Grant, RefreshTokenGrant
from learnsync.providers.kit.client import Endpoint, Envelope, PageContext, ProviderClient
from learnsync.providers.kit.paging import Offsets
from learnsync.providers.kit.records import TolerantRecords

PAGING = Offsets("start", "limit")
CONTENTS = TolerantRecords(RawContent, "coursera contents", non_records="drop")
ENROLLMENTS = TolerantRecords(RawEnrollment, "coursera enrollmentReports", non_records="drop")
PROGRAMS = TolerantRecords(RawProgram, "coursera programs", non_records="drop")


def parse_page(body: Any, ctx: PageContext) -> Envelope:
    """`{"elements": [...], "paging": {"next", "total"}}`; an empty page ends the walk."""
    envelope = Body.model_validate(body)
    return Envelope(envelope.elements, envelope.paging.next if envelope.elements else None, envelope.paging.total)


def _utc_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


class CourseraClient(ProviderClient):
    """`providers.base.ProviderClient` for Coursera (see module docstring)."""

    key = cs.KEY
    settings_model = cs.CourseraSettings
    min_page_size = cs.MIN_PAGE_SIZE
    max_page_size = cs.MAX_PAGE_SIZE
    token_margin_seconds = cs.TOKEN_RENEW_MARGIN_SECONDS
    token_default_ttl = cs.ACCESS_TOKEN_DEFAULT_TTL
    settings: cs.CourseraSettings

    def __init__(self, settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not settings.org_id:
            raise ValueError("Coursera needs org_id")
        super().__init__(settings, transport=transport)
        prefix = "/" + self.settings.api_prefix.strip("/")
        self._paths = {name: prefix + path.format(org_id=self.settings.org_id) for name, path in cs.BUSINESS_PATHS.items()}
        self._contents = Endpoint(self._paths["contents"], PAGING, parse_page, CONTENTS)
        self._programs_endpoint = Endpoint(self._paths["programs"], PAGING, parse_page, PROGRAMS, params={"excludeContent": "true"})
        self._program_ids: list[str] | None = None

    def __repr__(self) -> str:  # never the secret, the refresh token or the access token
        s = self.settings
        return f"CourseraClient(base_url={s.base_url!r}, org_id={s.org_id!r}, client_id={s.client_id!r})"

    __str__ = __repr__

    def token_grant(self) -> tuple[str, Grant]:
        """Client credentials by default; the legacy refresh-token grant only with a non-empty refresh token."""
        return token_grant(self.settings)

    @property
    def token_url(self) -> str:
        assert self.tokens is not None
        return self.tokens.url

    def path(self, name: str) -> str:
        """The API path of `programs`, `contents` or `enrollmentReports` (prefix applied, {org_id} filled)."""
        return self._paths[name]

    def catalog_endpoint(self, stream: str) -> Endpoint:
        if stream != cs.CATALOG_STREAM:
            raise ValueError(f"unknown Coursera stream {stream!r}")
        return self._contents

    def stats_endpoint(self, window: DateWindow) -> Endpoint:
        """Reports of one program (its id goes in the params, see `fetch_stats_page`)."""
        params: dict[str, Any] = {"q": "byProgramId"}
        if window.since is not None:
            # The filter is "strictly after"; minus 1 ms keeps activity at 00:00:00.000 of `since`.
            params["lastActivityAfter"] = _utc_ms(window.since) - 1
        return Endpoint(self._paths["enrollmentReports"], PAGING, parse_page, ENROLLMENTS, params=params)

    def stats_page_tokens(self, window: DateWindow, first_page: Page) -> None:
        return None  # reports are walked program after program

    async def _programs(self) -> list[str]:
        if self._program_ids is None:
            ids: list[str] = []
            async for page in self.walk_pages(f"{self.key}/programs", self._programs_endpoint):
                ids.extend(p["id"] for p in page.records or [] if isinstance(p.get("id"), str))
            self._program_ids = list(dict.fromkeys(ids))
        return self._program_ids

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page:
        if token is None:
            self._program_ids = None  # re-read programs at the start of each walk
        programs = await self._programs()
        if not programs:
            return Page(records=[], next_token=None)
        program_id, offset = programs[0], None
        if token is not None:
            program_id, _, raw_offset = token.rpartition("|")
            offset = None if raw_offset == "0" else raw_offset  # offset 0: a program's walk starts
            if program_id not in programs:
                raise ValueError("stats page token names a program this organisation does not have")
        endpoint = self.stats_endpoint(window)
        endpoint = replace(endpoint, params={**endpoint.params, "programId": program_id})
        page = await self.fetch_page(f"{self.stats_walk(window)} program {program_id}", endpoint, offset)
        records = page.records or []
        if window.until is not None:
            # No lastActivityBefore exists (docs: COURSERA-27): drop later rows here. Rows with an
            # unreadable date stay; the mapping decides about them.
            until = _utc_ms(window.until)
            records = [r for r in records if (ms := epoch_ms(r.get("lastActivityAt"))) is None or ms < until]
        if page.next_token is not None:
            next_token: str | None = f"{program_id}|{page.next_token}"
        else:
            index = programs.index(program_id)
            next_token = f"{programs[index + 1]}|0" if index + 1 < len(programs) else None
        return Page(records=records, next_token=next_token)


def token_grant(settings: cs.CourseraSettings) -> tuple[str, Grant]:
    """(token URL, grant): the legacy refresh-token grant only with a non-empty refresh token."""
    refresh = settings.refresh_token
    if refresh is not None and refresh.get_secret_value().strip():
        return settings.refresh_token_url, RefreshTokenGrant(settings.client_id, settings.client_secret, refresh)
    return settings.token_url, ClientCredentialsGrant(settings.client_id, settings.client_secret, style="basic")


def make_client(settings: ProviderSettings) -> CourseraClient:
    return CourseraClient(settings)
