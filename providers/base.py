"""What a provider is, as the sync engine sees it.

A provider package (`providers/<key>/`) holds: `client.py` (its endpoints, paging choice and
envelope parser on the base client, providers/kit/client.py), `models.py` (pydantic raw models),
`mapping.py` (pure pandas rules: DataFrame in, DataFrame out), `settings.py` (its settings
section and constants) and `__init__.py` exposing `PROVIDER: ProviderSpec`; its sandbox lives in
`sandboxes/<key>/`. Register it with one line in `providers/registry.py`. The engine (tasks/,
flows/) is generic: diffing, archiving, tags, stats attempts and reporting never live in a
provider package.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

from learnsync.core.settings import ProviderSettings

# Columns a catalog mapping returns. v2 ExternalCourseDTO fields are sent as they are;
# columns starting with "_" are engine metadata and never sent.
COURSE_FIELDS = (
    "externalId",
    "name",
    "launchUrl",
    "defaultLang",
    "subjects",
    "sources",
    "description",
    "imageUrl",
    "duration",
    "contentType",
    "difficultyLevel",
    "mobileLaunchUrl",
)
COURSE_META = (
    "_status",  # "keep" (sync it) or "archive" (provider says it is gone/closed)
    "_tags",  # list[str]: tags to merge onto the course (manual tags always survive); [] = none
    "_skills",  # list[str] | None: skills to set (replaced each sync); None = leave skills alone
    "_extra",  # dict: values with no v2 field (authors, videoUrl, modifiedAt...), kept in state
    "_filter_lang",  # str | None: value the language filter compares with
    "_filter_type",  # str | None: value the content-type filter compares with
)
QUARANTINE_COLUMNS = ("external_id", "field", "reason")
IGNORED_COLUMNS = ("external_id", "reason")

# Columns a stats mapping returns (one row per learner x course attempt seen at the provider).
STAT_COLUMNS = (
    "course_external_id",  # the course's externalId in the integration
    "user_email",  # lower-cased learner e-mail
    "progress",  # int 0..100 (clamped by the mapping, docs: D-12)
    "time_spent_ms",  # int >= 0 or <NA>; engine applies "first attempt only" and the >= 1 minimum
    "first_activity_at",  # tz-aware UTC Timestamp or NaT (engine falls back to last activity)
    "last_activity_at",  # tz-aware UTC Timestamp or NaT
    "completed_at",  # tz-aware UTC Timestamp or NaT; set => completed (progress becomes 100)
)


@dataclass(frozen=True)
class MappingContext:
    """Everything a mapping may depend on besides the raw rows (so mappings stay pure)."""

    owner_lang: str = "en"
    # Controlled clock (tz-aware UTC); None = engine fills it. Stats mappings only: a catalog
    # mapping is reused while its pages come back unchanged (tasks/mapped_chunks.py), so it
    # must depend on the pages, owner_lang and options alone.
    now: datetime | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CatalogResult:
    courses: pd.DataFrame  # COURSE_FIELDS (optional ones may be missing/NA) + COURSE_META
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS
    ignored: pd.DataFrame  # IGNORED_COLUMNS (e.g. unsupported type, closed and never synced handled by engine)


@dataclass
class StatsResult:
    stats: pd.DataFrame  # STAT_COLUMNS
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS (external_id = "<course>|<row id>", never the e-mail alone)
    skipped: dict[str, int]  # e.g. {"anonymized_user": 3}


@dataclass
class Page:
    # None: the body is one the engine already mapped (`digest` in the client's `known_pages`),
    # left unparsed; `raw` then holds it, and `parse_catalog_page` reads it when needed.
    records: list[dict[str, Any]] | None
    next_token: str | None  # None: last page
    # Records the provider says the whole stream has, when its API tells (Udemy `count`, Coursera
    # `paging.total`, Edflex `meta.page.total`, OpenClassrooms Content-Range total); None = unknown.
    # A traversal that reads a different number of records than announced skipped or repeated data.
    total: int | None = None
    # The response body the page was parsed from, when the client can parse it again
    # (`parse_catalog_page`): the retry cache keeps bodies, much cheaper than parsed records.
    raw: bytes | None = field(default=None, repr=False, compare=False)
    # `page_digest` of what the records are read from (the body, plus any header the client
    # reads records or the next token from): equal digests, equal page. None = not recognisable.
    digest: str | None = field(default=None, compare=False)

    def parsed_records(self) -> list[dict[str, Any]]:
        """The records of a page known to be parsed: every stats page, every page
        `parse_catalog_page` returns, every catalog page of a client with no `known_pages`."""
        if self.records is None:
            raise ValueError("the page was left unparsed (its digest is known): read it with parse_catalog_page")
        return self.records


def page_digest(body: bytes) -> str:
    """The digest a client gives a page it reads from `body` alone."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class DateWindow:
    """Half-open [since, until) window of activity dates; None = unbounded."""

    since: date | None = None
    until: date | None = None


class ProviderClient(Protocol):
    """What the engine calls; providers/kit/client.py implements all of it once.

    `catalog_page_tokens` / `stats_page_tokens` give the tokens of pages 2..n once page 1 is read
    (None: unknown, the walk is sequential; see tasks/extract.py). A catalog page has `digest` set
    when it can be recognised, and `raw` when it can be parsed again from it
    (`parse_catalog_page`: the retry cache keeps bodies). The engine fills `known_pages`
    ({digest: next token} of pages it mapped before, tasks/mapped_chunks.py): a catalog page (not
    the first: it carries the total) whose digest is known may come back unparsed (`records` None).
    """

    known_pages: dict[str, str | None]

    async def fetch_catalog_page(self, stream: str, token: str | None) -> Page: ...

    async def fetch_stats_page(self, window: DateWindow, token: str | None) -> Page: ...

    def parse_catalog_page(self, stream: str, body: bytes) -> Page: ...

    def catalog_page_tokens(self, stream: str, first_page: Page) -> Sequence[str] | None: ...

    def stats_page_tokens(self, window: DateWindow, first_page: Page) -> Sequence[str] | None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class SandboxSpec:
    """A provider's sandbox, named by import path (sandboxes sit above the providers)."""

    app: str  # "learnsync.sandboxes.udemy:create_app": config -> ASGI app
    config: str  # "learnsync.sandboxes.udemy:UdemySandboxConfig": its knobs (n_courses, seed, ...)
    port: int  # where `learnsync sandbox <key>` listens; the settings' default base URL points there


@dataclass(frozen=True)
class BenchFixture:
    """Learner activity for the stats transform benchmark, as the client hands it to the engine."""

    activity: str  # "module:function" of the sandbox: (rows, seed) -> activity items as served
    records: Callable[[list[Any]], tuple[list[dict[str, Any]], int]]  # the client's reader of those items
    email_columns: tuple[str, ...]  # columns holding the learner's e-mail (tagged per copy)


@dataclass(frozen=True)
class ProviderSpec:
    """A provider's declaration: identity, rule switches, schedules, its parts, its settings
    section, sandbox and bench fixture. Everything provider-specific outside its package is
    derived from it (providers/registry.py)."""

    key: str  # "udemy"
    display_name: str  # externalPlatform in 360Learning, e.g. "Udemy"
    catalog_streams: Callable[[dict[str, Any]], tuple[str, ...]]  # options -> streams to read
    make_client: Callable[[Any], ProviderClient]  # provider settings -> client
    map_catalog: Callable[[pd.DataFrame, str, MappingContext], CatalogResult]  # (raw rows, stream, ctx)
    map_stats: Callable[[pd.DataFrame, MappingContext], StatsResult]
    settings_model: type[ProviderSettings] = ProviderSettings  # its LEARNSYNC_<KEY>__* section
    sandbox: SandboxSpec | None = None  # None: no sandbox (the fleet, the CLI and tests cannot start one)
    # Rule switches the generic engine applies:
    archive_missing: bool = True  # archive what left the catalog (Coursera: False)
    archive_on_provider_status: bool = True  # mirror provider-side archiving (Coursera: False)
    restore_on_reappear: bool = True  # unarchive content that is back at the provider
    filter_restores: bool = False  # a filter match unarchives (OpenClassrooms: True, Coursera: False)
    duplicates_keep: str = "first"  # which copy of an id served twice is synced ("first" | "last"), as the mapping does
    supports_filters: tuple[str, ...] = ()  # e.g. ("languages", "content_types")
    # filter -> whether a value is one the provider uses, beyond those the synced courses carry
    # (tasks/filters.py: a value neither accepts is refused before anything is archived)
    filter_vocabulary: dict[str, Callable[[str], bool]] = field(default_factory=dict)
    stats_full_history_first_run: bool = False  # first stats run ignores the watermark (Edflex)
    content_cron: str = "0 7 * * *"
    stats_cron: str = "30 7 * * *"
    reconcile_cron: str | None = None  # weekly drift repair, before any daily sync; None: no deployment
    timezone: str = "Europe/Paris"
    default_options: dict[str, Any] = field(default_factory=dict)
    bench: BenchFixture | None = None  # None: the stats transform benchmark skips it


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
