"""OpenClassrooms settings and constants: endpoints, paging, tokens, schedules and the value tables of the mapping.

Sources: docs/providers/openclassrooms.md (the B2B shape is ASSUMED there) and
docs/rules/openclassrooms.md (the rules, read through docs: D-08, D-10).
The wire shape lives here (paths) and in `models.py` (field names, Range headers) only.
"""

from __future__ import annotations

from learnsync.core.settings import ProviderSettings

KEY = "openclassrooms"
SANDBOX_PORT = 8104  # where `learnsync sandbox openclassrooms` listens, and the default base URL points
DISPLAY_NAME = "OpenClassrooms"
PRODUCTION_BASE_URL = "https://api.openclassrooms.com"

# --- endpoints (relative to ProviderSettings.base_url; {partner_id} = ProviderSettings.org_id) ---
TOKEN_PATH = "/oauth2/token"  # client_credentials + HTTP Basic client auth (docs/providers/openclassrooms.md: Token)
CATALOG_PATH = "/partners/{partner_id}/courses"
PROGRESS_PATH = "/partners/{partner_id}/learners/progress"  # ?from=YYYY-MM-DD&to=YYYY-MM-DD (inclusive)

# --- paging: `Range: items=a-b` -> 206 + `Content-Range` (docs/providers/openclassrooms.md: Paging)
CATALOG_STREAM = "courses"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # the sandbox serves at most this many items per range

# --- tokens ---------------------------------------------------------------------------------
ACCESS_TOKEN_DEFAULT_TTL = 3600  # expires_in of the assumed token answer
TOKEN_RENEW_MARGIN_SECONDS = 60  # renew a minute early so a page never starts with a dying token

# --- schedules (Europe/Paris); they do not overlap Udemy 07:30/07:45, Edflex 08:00/08:20,
# Coursera 08:45/09:00 ----------------------------------------------------------------------
CONTENT_CRON = "30 9 * * *"
STATS_CRON = "45 9 * * *"

# --- value tables -------------------------------------------------------------------------------
# Every status other than these archives the course (docs: OC-04). Keys are normalised
# (lower-case, "_" and spaces read as "-").
KEEP_STATUSES = frozenset({"active", "coming-soon", "pre-registration"})

# OpenClassrooms difficulty -> v2 difficultyLevel; anything else is not sent (kept in _extra).
DIFFICULTY_LEVELS: dict[str, str] = {
    "easy": "beginner",
    "beginner": "beginner",
    "facile": "beginner",
    "medium": "intermediate",
    "intermediate": "intermediate",
    "moyenne": "intermediate",
    "hard": "advanced",
    "difficult": "advanced",
    "advanced": "advanced",
    "difficile": "advanced",
}

SOURCE = {"name": DISPLAY_NAME}
CONTENT_TYPE = "course"  # every OpenClassrooms item is a course
MAX_DURATION_MINUTES = 100_000  # v2 duration bound (docs/lms360.md: External courses)
# A theoretical time above this (about two years) is a feed error, not a learner: not sent.
MAX_TIME_SPENT_MINUTES = 1_000_000


class OpenClassroomsSettings(ProviderSettings):
    """LEARNSYNC_OPENCLASSROOMS__*: one partner account. The partner API is not public
    (docs/providers/openclassrooms.md): every path is a setting."""

    base_url: str = f"http://127.0.0.1:{SANDBOX_PORT}"
    org_id: str | None = "org-4242"
    token_path: str = TOKEN_PATH
    catalog_path: str = CATALOG_PATH
    progress_path: str = PROGRESS_PATH
    integration_name: str = "OpenClassrooms (learnsync)"
