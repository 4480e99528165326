"""Coursera settings and constants: endpoints, paging, schedules, and the value tables the mapping uses.

Sources: docs/providers/coursera.md (the API) and docs/rules/coursera.md (the rules,
read through docs: D-03, D-05, D-06, D-07, D-08).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from learnsync.core.settings import ProviderSettings

KEY = "coursera"
DISPLAY_NAME = "Coursera"
SANDBOX_PORT = 8102  # where `learnsync sandbox coursera` listens, and the default base URL points

# --- endpoints (relative to ProviderSettings.base_url; docs/providers/coursera.md) ----------
# Current generation: client_credentials with HTTP Basic key:secret (docs/providers/coursera.md: Token), on the
# API host itself (https://api.coursera.com). CourseraSettings.token_url overrides it.
CLIENT_CREDENTIALS_TOKEN_PATH = "/oauth2/client_credentials/token"
# Legacy generation: refresh_token grant (form body with client_id/client_secret) on the
# accounts host (CourseraSettings.refresh_token_url); the sandbox serves it on its own host.
LEGACY_TOKEN_URL = "https://accounts.coursera.org/oauth2/v1/token"
REFRESH_TOKEN_PATH = "/oauth2/v1/token"
DEFAULT_API_PREFIX = "/ent/api"  # "/api" on legacy tenants (api.coursera.org): CourseraSettings.api_prefix
BUSINESS_PATHS = {
    "programs": "/businesses.v1/{org_id}/programs",
    "contents": "/businesses.v1/{org_id}/contents",
    "enrollmentReports": "/businesses.v1/{org_id}/enrollmentReports",
}
API_PREFIX = DEFAULT_API_PREFIX + "/businesses.v1/{org_id}"
PROGRAMS_PATH = DEFAULT_API_PREFIX + BUSINESS_PATHS["programs"]
CONTENTS_PATH = DEFAULT_API_PREFIX + BUSINESS_PATHS["contents"]
ENROLLMENT_REPORTS_PATH = DEFAULT_API_PREFIX + BUSINESS_PATHS["enrollmentReports"]

# --- paging ------------------------------------------------------------------------------
CATALOG_STREAM = "contents"
STATS_STREAM = "enrollmentReports"
DEFAULT_PAGE_SIZE = 100
MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 1000  # one public client clamps to 1..1000 (docs/providers/coursera.md: Paging)

# --- tokens ------------------------------------------------------------------------------
ACCESS_TOKEN_DEFAULT_TTL = 1799  # seconds (docs/providers/coursera.md: Token)
TOKEN_RENEW_MARGIN_SECONDS = 60  # clients renew about a minute before expiry (docs/providers/coursera.md: Token)

# --- schedules (docs: COURSERA-01: 8:45 and 9:00 Central European Time) ---------------------
CONTENT_CRON = "45 8 * * *"
STATS_CRON = "0 9 * * *"

# --- value tables --------------------------------------------------------------------------
# Coursera contentType -> v2 contentType. Keys are normalised: lower-case, no "_", "-" or spaces.
# Unknown types are left out (v2 then defaults to "course").
CONTENT_TYPES: dict[str, str] = {
    "course": "course",
    "specialization": "specialization",
    "s12n": "specialization",
    "professionalcertificate": "certificate",
    "certificate": "certificate",
    "mastertrack": "certificate",
    "mastertrackcertificate": "certificate",
    "project": "labs",  # hands-on projects run in Coursera's lab environment
    "guidedproject": "labs",
    "video": "video",
    "clip": "video",
    "lesson": "video",
    "degree": "program",
    "program": "program",
}

# Coursera difficultyLevel -> v2 difficultyLevel; MIXED and anything else is left out.
DIFFICULTY_LEVELS: dict[str, str] = {
    "beginner": "beginner",
    "intermediate": "intermediate",
    "advanced": "advanced",
}

# Fields some payloads use to say a content is archived/retired. Coursera never archives
# in 360Learning (docs: COURSERA-15, D-06), so they only travel in `_extra`.
ARCHIVE_FLAG_FIELDS = ("isArchived", "archived", "isRetired", "retired", "status", "deletedAt")

DEFAULT_SOURCE = {"name": "Coursera"}  # when a content has no partner (docs: COURSERA-12, D-07)


class CourseraSettings(ProviderSettings):
    """LEARNSYNC_COURSERA__*. Current tenants: client credentials (HTTP Basic) at `token_url`, API
    under `/ent/api`. Legacy tenants: set `refresh_token` (the refresh-token grant at
    `refresh_token_url`) and `api_prefix=/api`. An empty LEARNSYNC_COURSERA__REFRESH_TOKEN means
    no refresh token.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret", "refresh_token")

    base_url: str = f"http://127.0.0.1:{SANDBOX_PORT}"
    org_id: str | None = "Xy12AbOrg"
    refresh_token: SecretStr | None = None
    api_prefix: str = DEFAULT_API_PREFIX
    token_url: str = CLIENT_CREDENTIALS_TOKEN_PATH  # relative to base_url (api.coursera.com) or a full URL
    refresh_token_url: str = LEGACY_TOKEN_URL
    integration_name: str = "Coursera (learnsync)"
