"""Issued access tokens with an expiry each: the OAuth-like token store of the sandboxes."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable


class AccessTokens:
    """Opaque bearer tokens, each valid for `ttl` seconds of `clock` after it was issued."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic, nbytes: int = 24) -> None:
        self.ttl = ttl
        self.clock = clock
        self.nbytes = nbytes
        self.issued = 0
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float | None = None) -> str:
        """A new token living `ttl` seconds (default: the store's)."""
        token = secrets.token_urlsafe(self.nbytes)
        with self._lock:
            self._expiry[token] = self.clock() + (self.ttl if ttl is None else ttl)
            self.issued += 1
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and self.clock() < expiry

    def expire_all(self) -> None:
        """Tests: every issued token is now past its lifetime (the next call answers 401)."""
        with self._lock:
            self._expiry = {t: 0.0 for t in self._expiry}

    def clear(self) -> None:
        """Tests: the server forgets every token."""
        with self._lock:
            self._expiry.clear()

    def __len__(self) -> int:
        """Tokens the server still knows (issued since the last `clear()`)."""
        return len(self._expiry)
