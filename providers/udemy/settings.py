"""Udemy Business settings and constants: endpoints, paging, schedules (docs/providers/udemy.md)."""

from __future__ import annotations

from learnsync.core.settings import ProviderSettings

KEY = "udemy"
SANDBOX_PORT = 8101  # where `learnsync sandbox udemy` listens, and the default base URL points


class UdemySettings(ProviderSettings):
    """LEARNSYNC_UDEMY__*: one Udemy Business organization (HTTP Basic client id and secret)."""

    base_url: str = f"http://127.0.0.1:{SANDBOX_PORT}"
    org_id: str | None = "100028"
    integration_name: str = "Udemy (learnsync)"


# REST paths under {base_url}; base_url is https://<account>.udemy.com (docs/providers/udemy.md: Host and authentication).
API_ROOT = "/api-2.0/organizations/{org_id}"
CATALOG_PATHS = {
    "courses": "/courses/list/",
    "learning_paths": "/learning-paths/list/",
}
ACTIVITY_PATH = "/analytics/user-course-activity/"

# Field selectors real clients send (docs/providers/udemy.md: Catalog, Statistics).
CATALOG_FIELDS = {
    "courses": {"fields[course]": "@all"},
    "learning_paths": {
        "fields[learning_path]": "@default,-is_pro_path",
        "fields[user]": "display_name,email",
        "fields[learning_path_section]": "items",
    },
}
ACTIVITY_FIELDS = {"fields[aggregate_organization_user_course_activity]": "@all"}

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # analytics clients use 1000; the real maximum is undocumented

# Schedules (docs: UDEMY-24: 7:30 content, 7:45 stats, Central European Time).
CONTENT_CRON = "30 7 * * *"
STATS_CRON = "45 7 * * *"

SOURCE_NAME = "Udemy"
LEARNING_PATH_ID_PREFIX = "learning-path-"  # never collides with numeric course ids (docs: UDEMY-15, D-11)
LEARNING_PATH_NAME_PREFIX = "[Learning Path] "
LEARNING_PATH_LANG = "en"  # Udemy returns no language for paths (docs: UDEMY-18)
ANONYMIZED_USER = "anonymized user"  # compared lower-cased

# Provider spellings whose language part is not itself a v2 value (lower-case keys, "_" separator).
LANGUAGE_ALIASES = {
    "nb": "no",
    "iw": "he_IL",
    "he": "he_IL",
    "fil": "tl_PH",
    "tl": "tl_PH",
    "in": "id",
    "zh_hk": "zh_HANT",
    "zh_hant": "zh_HANT",
    "zh_hans": "zh",
    "am": "am_ET",
    "sw": "sw_KE",
    "yo": "yo_NG",
    "my": "my_MM",
    "mn": "mn_MN",
    "ht": "ht_HT",
}
