"""Server-side token bucket shared by the sandboxes, plus the throttling middleware built on it.

The bucket answers at once (it never sleeps): `take()` says whether a request fits the budget,
`wait()` says how long until it would. Wire details (status body, Retry-After or not, counter
names, which paths are limited) stay with each sandbox and are passed in.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response


class TokenBucket:
    """`rate` tokens per second, holding at most `capacity` (default: max(1, rate))."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Take a token if one is there (0.0), else the seconds until the next one (> 0)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

    def take(self) -> bool:
        """True if the request fits the budget; False means answer 429."""
        return self.wait() == 0.0


def retry_after_seconds(wait: float) -> int:
    """Whole seconds to announce in Retry-After for a bucket wait (at least 1)."""
    return max(1, math.ceil(wait))


def install_throttle(
    app: FastAPI,
    bucket: TokenBucket,
    *,
    applies_to: Callable[[str], bool],
    latency_seconds: Callable[[], float],
    too_many: Callable[[float], Response],
    counters: dict[str, int],
    throttled_key: str,
    requests_key: str | None = None,
) -> None:
    """HTTP middleware for paths where `applies_to(path)`: count the request (`requests_key`),
    sleep the configured latency (read per request), then take from `bucket`; when it is empty,
    count `throttled_key` and answer `too_many(wait_seconds)`."""

    @app.middleware("http")
    async def throttle(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        if not applies_to(request.url.path):
            return await call_next(request)
        if requests_key is not None:
            counters[requests_key] += 1
        latency = latency_seconds()
        if latency:
            await asyncio.sleep(latency)
        wait = bucket.wait()
        if wait > 0:
            counters[throttled_key] += 1
            return too_many(wait)
        return await call_next(request)
