"""OAuth2 client-credentials token for 360Learning API v2, cached and renewed.

The token lives `expires_in` seconds (3600 in practice); we reuse it until 60 s before that
(less for very short lifetimes, so a test server's 2 s token is still reused) and renew on a
401 once. Neither the client secret nor the token ever appears in a repr, an exception or a log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr, ValidationError

from learnsync.http import ApiError, RateLimiter, RetryPolicy, RetryStats, json_body, send
from learnsync.redaction import register

from .models import TokenRequest, TokenResponse

TOKEN_PATH = "/api/v2/oauth2/token"
EXPIRY_MARGIN_SECONDS = 60.0


class TokenManager:
    """Hands out a valid bearer token; one fetch at a time even under concurrent callers."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        policy: RetryPolicy,
        limiter: RateLimiter | None = None,
        stats: RetryStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = token_url
        self._request = TokenRequest(client_id=client_id, client_secret=client_secret)
        self._policy = policy
        self._limiter = limiter
        self._stats = stats
        self._clock = clock
        self._token: SecretStr | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were requested (reports/tests)

    def __repr__(self) -> str:
        state = "valid" if self._is_valid() else "empty"
        return f"TokenManager(client_id={self._request.client_id!r}, token=<{state}>)"

    __str__ = __repr__

    def _is_valid(self) -> bool:
        return self._token is not None and self._clock() < self._valid_until

    async def token(self) -> str:
        """A token that is not (about to be) expired; fetches one proactively when needed."""
        if self._is_valid():
            assert self._token is not None
            return self._token.get_secret_value()
        async with self._lock:
            if not self._is_valid():
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    async def renew(self, stale: str | None) -> str:
        """Replace `stale` after a 401; if another caller already renewed it, reuse theirs."""
        async with self._lock:
            current = self._token.get_secret_value() if self._token is not None else None
            if current is None or current == stale or not self._is_valid():
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    def invalidate(self) -> None:
        self._token = None
        self._valid_until = 0.0

    async def _fetch(self) -> None:
        # No bearer and no 360-api-version header on this call (contract section 1.2).
        response = await send(
            self._http,
            "POST",
            self._url,
            policy=self._policy,
            limiter=self._limiter,
            stats=self._stats,
            json=self._request.wire(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            body = TokenResponse.model_validate(json_body(response))
        except ValidationError:
            # The validation text could quote the body (and so the token): keep none of it.
            message = "token response does not match the contract"
            raise ApiError(response.status_code, "invalidTokenResponse", message, "POST", self._url) from None
        register(body.access_token, runtime=True)
        margin = min(EXPIRY_MARGIN_SECONDS, body.expires_in / 2)
        self._token = body.access_token
        self._valid_until = self._clock() + max(0.0, body.expires_in - margin)
        self.fetches += 1
