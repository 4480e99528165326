"""Knobs of the 360Learning sandbox: seeded data, limits, timings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_GROUPS = [
    "62be0535045424d93edaad7b",  # root group: the usual integration target
    "62be0535045424d93edaad7c",
    "62be0535045424d93edaad7d",
]
DEFAULT_AUTHORS = ["62bdbc00293a604543f44386"]
# 360Learning's own connectors (support articles): their names are reserved platform names.
NATIVE_CONNECTORS = ("360Learning", "Udemy", "Coursera", "Edflex", "OpenClassrooms", "LinkedIn Learning", "Go1")


def default_users() -> list[str]:
    """A deterministic learner directory: learner1@example.com .. learner50@example.com."""
    return [f"learner{i}@example.com" for i in range(1, 51)]


class Lms360SandboxConfig(BaseModel):
    """Everything a test or benchmark may want to change about the fake platform."""

    model_config = ConfigDict(extra="forbid")

    clients: dict[str, str] = Field(default_factory=lambda: {"learnsync-client": "sandbox-secret"})
    groups: list[str] = Field(default_factory=lambda: list(DEFAULT_GROUPS))
    # Authors are users with editor rights; integrations and course items may reference them.
    authors: list[str] = Field(default_factory=lambda: list(DEFAULT_AUTHORS))
    users: list[str] = Field(default_factory=default_users)
    token_ttl_seconds: float = 3600.0
    # The guide's examples show expires_in as the string "3600"; flip to exercise client parsing.
    expires_in_as_string: bool = False
    max_integrations: int = 10
    # Names of 360Learning's native connectors are reserved (inferred from `reservedPlatformName`).
    reserved_platform_names: list[str] = Field(default_factory=lambda: list(NATIVE_CONNECTORS))
    rate_limits_enabled: bool = True
    get_requests_per_second: float = 50.0
    write_requests_per_second: float = 10.0
    send_retry_after: bool = False  # the real API documents no Retry-After header
    max_concurrent_bulk_operations: int = 3
    bulk_start_delay_seconds: float = 0.01
    bulk_item_delay_seconds: float = 0.0
    latency_seconds: float = 0.0
    skills_enabled: bool = True
    # v2 has no course-skill link; on, the sandbox serves GET|PUT /courses/{id}/skills as a platform that has one.
    course_skills_endpoint: bool = False
    # The spec gives bulk resourceIds no meaning; "opaque" answers ids that are not the course ids.
    course_resource_ids: Literal["course", "opaque"] = "course"
    # Keep every /api/v2 exchange in `app.state.traffic` (contract tests validate them).
    record_traffic: bool = False
