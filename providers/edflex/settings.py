"""Edflex settings and constants: endpoints, paging, rule vocabularies and schedules (docs/providers/edflex.md)."""

from __future__ import annotations

from learnsync.core.settings import ProviderSettings

KEY = "edflex"
SANDBOX_PORT = 8103  # where `learnsync sandbox edflex` listens, and the default base URL points

# Connect API paths, relative to the tenant's `apiurl` (ProviderSettings.base_url).
TOKEN_PATH = "/connect/v1/auth/token"
RESOURCES_PATH = "/connect/v1/resources"
CATALOGS_PATH = "/connect/v1/catalogs"
STATISTICS_PATH = "/connect/v1/statistics"  # ASSUMED endpoint (docs/providers/edflex.md: Statistics)

CATALOG_STREAM = "resources"
STATS_STREAM = "statistics"

DEFAULT_PAGE_SIZE = 50  # Edflex's default page[size]; the client sends ProviderSettings.page_size
TOKEN_REFRESH_MARGIN_SECONDS = 30.0  # Edflex's own plugin drops the token 30 s early
DEFAULT_TOKEN_TTL_SECONDS = 3600.0  # when the token answer carries no expires_in

# Rule vocabularies (docs: EDFLEX-02, EDFLEX-03, EDFLEX-11, EDFLEX-20, D-09).
SUPPORTED_TYPES = {"article": "article", "mooc": "mooc", "podcast": "podcast", "video": "video"}
KEEP_STATUSES = frozenset({"coming soon", "open all year", "opened"})
DIFFICULTY_LEVELS = {
    "1": "beginner",
    "introductive": "beginner",
    "1 introductive": "beginner",
    "beginner": "beginner",
    "2": "intermediate",
    "intermediate": "intermediate",
    "2 intermediate": "intermediate",
    "3": "advanced",
    "advanced": "advanced",
    "advancd": "advanced",  # the help page's own spelling
    "3 advanced": "advanced",
    "3 advancd": "advanced",
}
PROGRESS_BY_STATUS = {"completed": 100, "in progress": 50}  # anything else: 0

# Schedules (docs: EDFLEX-01: content 8:00, statistics 8:20, Central European Time).
CONTENT_CRON = "0 8 * * *"
STATS_CRON = "20 8 * * *"
TIMEZONE = "Europe/Paris"


class EdflexSettings(ProviderSettings):
    """LEARNSYNC_EDFLEX__*: one tenant's Connect API (its `apiurl`) and client credentials."""

    base_url: str = f"http://127.0.0.1:{SANDBOX_PORT}"
    page_size: int = DEFAULT_PAGE_SIZE  # Edflex's documented default page[size]
    token_path: str = TOKEN_PATH
    resources_path: str = RESOURCES_PATH
    statistics_path: str = STATISTICS_PATH  # no public source: docs/providers/edflex.md
    integration_name: str = "Edflex (learnsync)"
