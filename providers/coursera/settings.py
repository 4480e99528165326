"""Coursera constants: endpoints, paging, schedules, and the value tables the mapping uses.

Sources: /work/shared/api/providers.md section 2 and samples 6.5-6.9; rule book
/work/shared/spec/sources/coursera.txt; decisions.md #3 #5 #6 #7 #8.
"""

from __future__ import annotations

KEY = "coursera"
DISPLAY_NAME = "Coursera"

# --- endpoints (relative to ProviderSettings.base_url) -----------------------------------
# Current generation: client_credentials with HTTP Basic key:secret (providers.md 2.2).
CLIENT_CREDENTIALS_TOKEN_PATH = "/oauth2/client_credentials/token"
# Legacy generation: refresh_token grant (form body with client_id/client_secret). In
# production it lives on accounts.coursera.org; the sandbox serves both on one host.
REFRESH_TOKEN_PATH = "/oauth2/v1/token"
API_PREFIX = "/ent/api/businesses.v1/{org_id}"
PROGRAMS_PATH = API_PREFIX + "/programs"
CONTENTS_PATH = API_PREFIX + "/contents"
ENROLLMENT_REPORTS_PATH = API_PREFIX + "/enrollmentReports"

# --- paging ------------------------------------------------------------------------------
CATALOG_STREAM = "contents"
STATS_STREAM = "enrollmentReports"
DEFAULT_PAGE_SIZE = 100
MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 1000  # one public client clamps to 1..1000 (providers.md 2.3)

# --- tokens ------------------------------------------------------------------------------
ACCESS_TOKEN_DEFAULT_TTL = 1799  # seconds (sample 6.5)
TOKEN_RENEW_MARGIN_SECONDS = 60  # clients renew about a minute before expiry (providers.md 2.2)

# --- schedules (rule book: 8:45 and 9:00 Central European Time) --------------------------
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
# in 360Learning (decisions #6), so they only travel in `_extra`.
ARCHIVE_FLAG_FIELDS = ("isArchived", "archived", "isRetired", "retired", "status", "deletedAt")

DEFAULT_SOURCE = {"name": "Coursera"}  # when a content has no partner (decisions #7)
