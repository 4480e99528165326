"""Configuration from environment variables / .env (pydantic-settings). Secrets are SecretStr.

Examples: LEARNSYNC_DATABASE_URL, LEARNSYNC_LMS360__BASE_URL, LEARNSYNC_LMS360__CLIENT_SECRET,
LEARNSYNC_UDEMY__CLIENT_ID, LEARNSYNC_COURSERA__REFRESH_TOKEN. This module holds the engine's
settings and the base of every provider's section; the providers' own sections are declared by
the providers (learnsync.providers.settings puts them together).

The credential defaults are the sandboxes' own: they apply only while the base URL is a
loopback (sandbox) URL. A real host with any of them left unset is refused, naming what to set.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnsync.core.http import RetryPolicy
from learnsync.core.secret_blocks import resolve_secret_references

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Top-level names reserved for tests and examples (RFC 2606, 6761): never a real service.
RESERVED_SUFFIXES = (".localhost", ".test", ".example", ".invalid")


def is_loopback_url(url: str) -> bool:
    """Whether `url` points at this machine (127.0.0.0/8, ::1, localhost) or a reserved test name:
    a sandbox, not a real service."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_NAMES or host.endswith(RESERVED_SUFFIXES):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sandbox_defaults_need_loopback(model: BaseModel, fields: tuple[str, ...]) -> None:
    """Refuse a non-loopback base URL whose credentials (or ids) would silently be the sandbox's."""
    base_url = str(model.base_url)  # type: ignore[attr-defined]  # every model checked here has one
    if is_loopback_url(base_url):
        return
    defaults = type(model).model_fields
    missing = [f for f in fields if f not in model.model_fields_set and defaults[f].default is not None]
    if missing:
        raise PydanticCustomError(
            "sandbox_defaults",
            "{base_url} is not a sandbox URL, so the sandbox's {missing} cannot be used: set them",
            {"base_url": base_url, "missing": ", ".join(missing), "fields": missing},
        )


class ProviderSettings(BaseModel):
    """Credentials and endpoint of one provider account. Unused fields stay None.

    Each provider declares its own subclass (its defaults: the sandbox's URL and ids, extra paths)
    in `providers/<key>/settings.py`; `learnsync.providers.settings.Settings` holds one per provider.
    Per-provider defaults live on the class (not in a default_factory) so that setting one field
    from the environment keeps the others.
    """

    # Fields that are secrets: deployments read them from Prefect Secret blocks (never job variables)
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)

    base_url: str = "http://127.0.0.1:8101"
    client_id: str = "learnsync-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    org_id: str | None = None
    refresh_token: SecretStr | None = None
    page_size: int = Field(100, ge=1)
    requests_per_second: float = Field(20.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    # Whole request, body included (httpx's timeout is per read); None: 4 x timeout_seconds
    request_deadline_seconds: float | None = Field(default=None, gt=0)
    max_concurrent_pages: int = Field(4, ge=1)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    # externalPlatform of the provider's integration in 360Learning. The default differs from the
    # names of 360Learning's own connectors, which the API refuses (reservedPlatformName).
    integration_name: str = "learnsync"

    @model_validator(mode="after")
    def _real_host_needs_real_credentials(self) -> ProviderSettings:
        _sandbox_defaults_need_loopback(self, ("client_id", "client_secret", "org_id", "refresh_token"))
        return self


class Lms360Settings(BaseModel):
    """One 360Learning platform (tenant)."""

    platform: str = "default"
    base_url: str = "http://127.0.0.1:8100"
    client_id: str = "learnsync-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    group_id: str = "62be0535045424d93edaad7b"
    author_id: str = "62bdbc00293a604543f44386"
    owner_lang: str = "en"
    reads_per_second: float = Field(45.0, gt=0)
    writes_per_second: float = Field(9.0, gt=0)
    max_concurrent_bulk: int = Field(3, ge=1)
    global_limits: bool = True  # share the budgets above across processes through the Prefect API
    poll_interval_seconds: float = Field(2.0, gt=0)
    poll_max_interval_seconds: float = Field(5.0, gt=0)  # polls are cheap (50 reads/s); long waits idle the run
    timeout_seconds: float = Field(30.0, gt=0)
    # Whole request, body included (httpx's timeout is per read); None: 4 x timeout_seconds
    request_deadline_seconds: float | None = Field(default=None, gt=0)
    max_upsert_batch: int = Field(10_000, ge=1)  # the API's maximum; smaller batches confirm (and checkpoint) sooner
    max_stats_batch: int = Field(10_000, ge=1)
    bulk_submit_patience_seconds: float = 900.0  # keep resubmitting while 360Learning says busy (429/503)
    bulk_wait_timeout_seconds: float = 6 * 3600.0
    # A job a killed run left unconfirmed for longer is given up (expired) and its items sent again.
    bulk_job_expiry_seconds: float = 6 * 3600.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    # API v2 has no course-skill link endpoint; a platform that has one names it here
    # (e.g. "/api/v2/courses/{courseId}/skills"): skills are then linked to courses too.
    course_skills_path: str | None = None

    @model_validator(mode="after")
    def _real_host_needs_real_credentials(self) -> Lms360Settings:
        _sandbox_defaults_need_loopback(self, ("client_id", "client_secret", "group_id", "author_id"))
        return self


class EngineSettings(BaseSettings):
    """What learnsync reads besides its providers' sections; `learnsync.providers.settings.Settings`
    adds one field per registered provider (LEARNSYNC_<KEY>__...)."""

    model_config = SettingsConfigDict(
        env_prefix="LEARNSYNC_", env_nested_delimiter="__", env_file=".env", extra="ignore",
        env_ignore_empty=True,  # a deployment's job variable left empty (unset where it was deployed) means the default
    )

    database_url: str | None = None
    lms360: Lms360Settings = Field(default_factory=Lms360Settings)
    platforms: dict[str, Lms360Settings] = Field(default_factory=dict)  # extra platforms by name
    stats_overlap_days: int = Field(2, ge=0)  # provider reporting lags up to a day: re-read the window's edge
    stats_initial_lookback_days: int | None = Field(None, ge=1)  # first stats run: None = the full history
    archive_guard_ratio: float = 0.5  # refuse to archive when an extract shrinks under this share
    task_runner: str = "threads"  # "threads" or "dask"
    # One run per provider, platform and kind at a time: a run's lease lives this long unless
    # renewed (every third of it); a killed run's lease is free again after it (at once on PostgreSQL)
    run_lease_seconds: float = Field(default=120.0, gt=0)
    mapping_cache: bool = True  # reuse the mapping of catalog pages served unchanged (tasks/mapped_chunks.py)

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL; expected e.g. sqlite:///.learnsync/state.db or postgresql+psycopg://user@host/db"
            ) from None
        return value

    @field_validator("archive_guard_ratio", mode="before")
    @classmethod
    def _guard_ratio_in_range(cls, value: Any) -> float:
        # The guard is the one thing between a truncated extract and mass archiving: NaN (every
        # comparison false) or a value <= 0 would switch it off without saying so.
        try:
            ratio = float(value)
        except (TypeError, ValueError):
            ratio = math.nan
        if not (0 < ratio <= 1):
            raise ValueError("must be a number in (0, 1], the share of active courses an extract must keep (e.g. 0.5)")
        return ratio

    @model_validator(mode="before")
    @classmethod
    def _read_secret_blocks(cls, data: Any) -> Any:
        """`prefect-secret:NAME` values come from Prefect Secret blocks (deployments' job variables)."""
        return resolve_secret_references(data)

    @model_validator(mode="after")
    def _name_extra_platforms(self) -> EngineSettings:
        """An extra platform is known by its key (its limits and logs are per platform)."""
        for name, platform in self.platforms.items():
            if platform.platform == "default":
                platform.platform = name
        return self

    def provider(self, key: str) -> ProviderSettings:
        """The settings section of provider `key`."""
        section = self.__dict__.get(key)
        if not isinstance(section, ProviderSettings):
            raise KeyError(f"no settings for provider {key!r}")
        return section


# -- integration options (learnsync configure -o key=value) ----------------------------------------
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


class OptionValueError(ValueError):
    """An integration option's name or value is not one the provider declares."""


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, 1/0 or yes/no)")


def parse_integration_options(pairs: list[str], declared: dict[str, Any]) -> dict[str, Any]:
    """`key=value` pairs typed by the option's declared default (bool, int, float or text).

    Unknown keys and values that are not of the option's type raise `OptionValueError`
    naming the option: "tags_sync=0" must mean off, never the truthy text "0".
    """
    from pydantic import TypeAdapter, ValidationError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionValueError(f"option {pair!r} is not key=value (e.g. tags_sync=true)")
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise OptionValueError(f"unknown option {key!r}; this provider's options: {known}")
        kind = type(declared[key])
        try:
            if kind is bool:
                out[key] = parse_bool(raw)
            elif kind in (int, float):
                out[key] = TypeAdapter(kind).validate_python(raw.strip())
            else:
                out[key] = raw
        except (ValueError, ValidationError) as exc:
            reason = str(exc) if kind is bool else f"{raw!r} is not a{'n' if kind is int else ''} {kind.__name__}"
            raise OptionValueError(f"option {key}: {reason}") from None
    return out
