"""360Learning's per-platform budgets shared by every process: Prefect global concurrency limits.

360Learning allows 10 writes/s and 3 executing bulk operations per platform (company), whoever
sends them. A client's own token bucket and semaphore only see its process, so two workers
syncing two providers of one platform could exceed both. With a Prefect API configured, each
write also takes a slot of the platform's rate limit (`learnsync-360-writes-<platform>`, slots
decaying at the write rate) and each bulk operation holds a slot of
`learnsync-360-bulk-<platform>` until it has ended. The limits are created when missing
(`learnsync deploy` creates them too). Without a reachable Prefect API the per-process limiters
are the fallback, as they are for a single process.
"""

from __future__ import annotations

import asyncio
import logging
import math
from contextlib import AsyncExitStack
from typing import Any

from learnsync.core.http import RateLimiter
from learnsync.core.settings import Lms360Settings

log = logging.getLogger("learnsync.lms360")

_CREATED: set[str] = set()  # limits this process made sure exist
_UNREACHABLE: dict[str, bool] = {"warned": False}


def writes_limit_name(platform: str) -> str:
    return f"learnsync-360-writes-{platform}"


def bulk_limit_name(platform: str) -> str:
    return f"learnsync-360-bulk-{platform}"


def wanted_limits(settings: Lms360Settings) -> dict[str, dict[str, Any]]:
    """Global concurrency limits of this platform: name -> limit, slot_decay_per_second."""
    rate = float(settings.writes_per_second)
    return {
        writes_limit_name(settings.platform): {"limit": max(1, math.floor(rate)), "slot_decay_per_second": rate},
        bulk_limit_name(settings.platform): {"limit": max(1, settings.max_concurrent_bulk), "slot_decay_per_second": 0.0},
    }


async def ensure_global_limits(limits: dict[str, dict[str, Any]]) -> list[str]:
    """Create or update these global concurrency limits on the Prefect API; their names."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        for name, spec in limits.items():
            try:
                current = await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, active=True, **spec))
                except Exception:  # another process created it meanwhile: it must be readable now
                    await client.read_global_concurrency_limit_by_name(name)
            else:
                if current.limit != spec["limit"] or float(current.slot_decay_per_second or 0) != spec["slot_decay_per_second"] or not current.active:
                    await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active=True, **spec))
            _CREATED.add(name)
    return list(limits)


def prefect_api_configured() -> bool:
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


class PlatformLimits:
    """The cross-process half of one client's limiters: acquire() per write, slot() per bulk job."""

    def __init__(self, settings: Lms360Settings) -> None:
        self.settings = settings
        self.writes_name = writes_limit_name(settings.platform)
        self.bulk_name = bulk_limit_name(settings.platform)
        self.enabled = settings.global_limits
        self._ready: asyncio.Lock | None = None

    async def _available(self) -> bool:
        """Whether the Prefect API holds this platform's limits (created once when missing)."""
        if not self.enabled:
            return False
        if self.writes_name in _CREATED and self.bulk_name in _CREATED:
            return True
        if not prefect_api_configured():
            self.enabled = False
            return False
        self._ready = self._ready or asyncio.Lock()
        async with self._ready:
            if self.writes_name in _CREATED and self.bulk_name in _CREATED:
                return True
            try:
                await ensure_global_limits(wanted_limits(self.settings))
            except Exception as exc:  # no Prefect API reachable: this process's limiters only
                self.enabled = False
                if not _UNREACHABLE["warned"]:
                    _UNREACHABLE["warned"] = True
                    log.warning(
                        "360Learning limits of platform %s are kept per process only: the Prefect API is not reachable (%s)",
                        self.settings.platform, type(exc).__name__,
                    )
                return False
        return True

    async def write(self) -> None:
        if await self._available():
            from prefect.concurrency.asyncio import rate_limit

            await rate_limit(self.writes_name, occupy=1, strict=True)

    def bulk_slot(self) -> Any:
        """An async context manager holding one of the platform's bulk slots."""
        return _BulkSlot(self)


class _BulkSlot:
    def __init__(self, limits: PlatformLimits) -> None:
        self._limits = limits
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> None:
        self._stack = AsyncExitStack()
        if await self._limits._available():
            from prefect.concurrency.asyncio import concurrency

            await self._stack.enter_async_context(concurrency(self._limits.bulk_name, occupy=1, strict=True))

    async def __aexit__(self, *exc: object) -> None:
        assert self._stack is not None
        await self._stack.aclose()


class PlatformRateLimiter:
    """This process's token bucket, then the platform's shared rate limit (RateLimiter's interface)."""

    def __init__(self, local: RateLimiter, shared: PlatformLimits) -> None:
        self.local, self.shared = local, shared

    async def acquire(self) -> None:
        await self.local.acquire()
        await self.shared.write()


class PlatformBulkSlots:
    """This process's semaphore, then a slot of the platform's shared bulk limit (`async with`)."""

    def __init__(self, local: asyncio.Semaphore, shared: PlatformLimits) -> None:
        self.local, self.shared = local, shared
        self._held: dict[Any, Any] = {}  # by asyncio task: concurrent jobs end in any order

    async def __aenter__(self) -> None:
        await self.local.acquire()
        slot = self.shared.bulk_slot()
        try:
            await slot.__aenter__()
        except BaseException:
            self.local.release()
            raise
        self._held[asyncio.current_task()] = slot

    async def __aexit__(self, *exc: object) -> None:
        slot = self._held.pop(asyncio.current_task())
        try:
            await slot.__aexit__(*exc)
        finally:
            self.local.release()


def platform_limiters(settings: Lms360Settings, writes: RateLimiter, bulk: asyncio.Semaphore) -> tuple[PlatformRateLimiter, PlatformBulkSlots]:
    """Wrap a client's per-process limiters with the platform's cross-process ones."""
    shared = PlatformLimits(settings)
    return PlatformRateLimiter(writes, shared), PlatformBulkSlots(bulk, shared)
