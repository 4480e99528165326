"""The Prefect global concurrency limits learnsync's deployments rely on, per platform."""

from __future__ import annotations

from typing import Any

from learnsync.flows.exclusive import stats_slot_limits
from learnsync.lms360.limits import ensure_global_limits, wanted_limits
from learnsync.providers.settings import load_settings


def platform_limit_specs(platform: str, providers: list[str]) -> dict[str, dict[str, Any]]:
    """360Learning's write rate and bulk slots of the platform, and one stats slot per provider."""
    from learnsync.flows.runtime import platform_settings

    specs = dict(wanted_limits(platform_settings(load_settings(), platform)))
    for provider in providers:
        specs.update(stats_slot_limits(provider, platform))
    return specs


async def ensure_limits(platform: str, providers: list[str]) -> list[str]:
    return await ensure_global_limits(platform_limit_specs(platform, providers))
