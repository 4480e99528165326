"""Configuration from environment variables / .env (pydantic-settings). Secrets are SecretStr.

Examples: LEARNSYNC_DATABASE_URL, LEARNSYNC_LMS360__BASE_URL, LEARNSYNC_LMS360__CLIENT_SECRET,
LEARNSYNC_UDEMY__CLIENT_ID, LEARNSYNC_COURSERA__REFRESH_TOKEN.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnsync.http import RetryPolicy
from learnsync.secret_blocks import resolve_secret_references


class ProviderSettings(BaseModel):
    """Credentials and endpoint of one provider account. Unused fields stay None."""

    base_url: str = "http://127.0.0.1:8101"
    client_id: str = "learnsync-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    org_id: str | None = None
    refresh_token: SecretStr | None = None
    page_size: int = 100
    requests_per_second: float = 20.0
    timeout_seconds: float = 30.0
    max_concurrent_pages: int = 4
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


# Per-provider defaults live on the class (not in a default_factory) so that setting one field
# from the environment keeps the others.
class UdemySettings(ProviderSettings):
    base_url: str = "http://127.0.0.1:8101"
    org_id: str | None = "100028"


class CourseraSettings(ProviderSettings):
    base_url: str = "http://127.0.0.1:8102"
    org_id: str | None = "Xy12AbOrg"
    refresh_token: SecretStr | None = SecretStr("sandbox-refresh-token")


class EdflexSettings(ProviderSettings):
    base_url: str = "http://127.0.0.1:8103"


class OpenClassroomsSettings(ProviderSettings):
    base_url: str = "http://127.0.0.1:8104"
    org_id: str | None = "org-4242"


class Lms360Settings(BaseModel):
    """One 360Learning platform (tenant)."""

    platform: str = "default"
    base_url: str = "http://127.0.0.1:8100"
    client_id: str = "learnsync-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    group_id: str = "62be0535045424d93edaad7b"
    author_id: str = "62bdbc00293a604543f44386"
    owner_lang: str = "en"
    reads_per_second: float = 45.0
    writes_per_second: float = 9.0
    max_concurrent_bulk: int = 3
    global_limits: bool = True  # share the budgets above across processes through the Prefect API
    poll_interval_seconds: float = 2.0
    poll_max_interval_seconds: float = 5.0  # polls are cheap (50 reads/s); long waits idle the run
    timeout_seconds: float = 30.0
    max_upsert_batch: int = 10_000  # the API's maximum; smaller batches confirm (and checkpoint) sooner
    max_stats_batch: int = 10_000
    bulk_submit_patience_seconds: float = 900.0  # keep resubmitting while 360Learning says busy (429/503)
    bulk_wait_timeout_seconds: float = 6 * 3600.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEARNSYNC_", env_nested_delimiter="__", env_file=".env", extra="ignore",
        env_ignore_empty=True,  # a deployment's job variable left empty (unset where it was deployed) means the default
    )

    database_url: str | None = None
    lms360: Lms360Settings = Field(default_factory=Lms360Settings)
    udemy: UdemySettings = Field(default_factory=lambda: UdemySettings())
    coursera: CourseraSettings = Field(default_factory=lambda: CourseraSettings())
    edflex: EdflexSettings = Field(default_factory=lambda: EdflexSettings())
    openclassrooms: OpenClassroomsSettings = Field(default_factory=lambda: OpenClassroomsSettings())
    platforms: dict[str, Lms360Settings] = Field(default_factory=dict)  # extra platforms by name
    stats_overlap_days: int = 2  # provider reporting lags up to a day: re-read the window's edge
    stats_initial_lookback_days: int | None = None  # first stats run: None = the full history
    archive_guard_ratio: float = 0.5  # refuse to archive when an extract shrinks under this share
    task_runner: str = "threads"  # "threads" or "dask"
    mapping_cache: bool = True  # reuse the mapping of catalog pages served unchanged (tasks/mapped_chunks.py)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_blocks(cls, data: Any) -> Any:
        """`prefect-secret:NAME` values come from Prefect Secret blocks (deployments' job variables)."""
        return resolve_secret_references(data)

    @model_validator(mode="after")
    def _name_extra_platforms(self) -> "Settings":
        """An extra platform is known by its key (its limits and logs are per platform)."""
        for name, platform in self.platforms.items():
            if platform.platform == "default":
                platform.platform = name
        return self

    def provider(self, key: str) -> ProviderSettings:
        return getattr(self, key)


def load_settings() -> Settings:
    return Settings()
