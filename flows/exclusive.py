"""One statistics run at a time per provider and platform, daily or backfill, across processes.

Daily stats and backfills are different deployments, so their deployment concurrency limits do
not see each other: both hold the Prefect global concurrency limit
`learnsync-stats-<provider>-<platform>` (one slot) for their whole run, and the one that starts
second waits. Without a Prefect API (plain function calls) there is nothing to share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from learnsync.flows.common import logger
from learnsync.lms360.limits import ensure_global_limits, prefect_api_configured


def stats_slot_name(provider: str, platform: str) -> str:
    return f"learnsync-stats-{provider}-{platform}"


def stats_slot_limits(provider: str, platform: str) -> dict[str, dict[str, float]]:
    return {stats_slot_name(provider, platform): {"limit": 1, "slot_decay_per_second": 0.0}}


@asynccontextmanager
async def stats_slot(provider: str, platform: str) -> AsyncIterator[None]:
    """Hold the provider and platform's statistics slot while the block runs."""
    if not prefect_api_configured():
        yield
        return
    from prefect.concurrency.asyncio import concurrency

    name = stats_slot_name(provider, platform)
    await ensure_global_limits(stats_slot_limits(provider, platform))
    logger().info("Waiting for the %s statistics slot of platform %s (one stats run at a time).", provider, platform)
    async with concurrency(name, occupy=1, strict=True):
        logger().info("Holding the %s statistics slot of platform %s.", provider, platform)
        yield
