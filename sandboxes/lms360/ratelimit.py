"""Per-platform token buckets of section 2.4: GET 50/s, writes 10/s (server side, non-blocking)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`take()` answers at once: True if a request fits the budget, False means 429."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
