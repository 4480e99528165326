"""One OAuth2 token cache for every client that authenticates with a token endpoint.

360Learning, Coursera, Edflex and OpenClassrooms all hand out short-lived bearer tokens. Each
client builds a `TokenCache` with its grant (how the credentials travel to the token endpoint)
and asks it for a token before each call; the cache:

- reuses a token until `margin` seconds before it expires (at most half its lifetime, so a
  test server's 2-second token is still reused);
- fetches one token at a time however many pages ask concurrently;
- renews once on a 401 (`renew(stale)`): callers refused with the same stale token share one
  new token;
- keeps the secret, the refresh token and the access token in `SecretStr`s: none of them
  appears in a repr, a log line or an exception (a malformed answer is reported without
  its body, which could hold the token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from learnsync.core.http import ApiError, Limiter, RetryPolicy, RetryStats, json_body, send
from learnsync.core.redaction import register

CredentialStyle = Literal["json", "form", "basic"]


class TokenAnswer(BaseModel):
    """What every token endpoint answers; `expires_in` may come as a string ("3600") or be absent."""

    model_config = ConfigDict(extra="allow")

    access_token: SecretStr
    token_type: str | None = None
    expires_in: float | None = None
    refresh_token: SecretStr | None = None  # legacy refresh grants may rotate it

    @field_validator("expires_in", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        return float(value)

    @field_validator("access_token", mode="before")
    @classmethod
    def _present(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ValueError("access_token missing")
        return value


@dataclass
class ClientCredentialsGrant:
    """`grant_type=client_credentials`, the credentials sent as a JSON body, a form body or HTTP Basic."""

    client_id: str
    client_secret: SecretStr = field(repr=False)
    style: CredentialStyle = "form"

    def request(self) -> dict[str, Any]:
        secret = self.client_secret.get_secret_value()
        if self.style == "json":
            body = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": secret}
            return {"json": body, "headers": {"Content-Type": "application/json", "Accept": "application/json"}}
        if self.style == "basic":
            return {"data": {"grant_type": "client_credentials"}, "auth": (self.client_id, secret)}
        return {"data": {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": secret}}

    def answered(self, answer: TokenAnswer) -> None:
        """Nothing to remember: the next token is asked for with the same credentials."""


@dataclass
class RefreshTokenGrant:
    """`grant_type=refresh_token` (form body with the client's id and secret); keeps a rotated refresh token."""

    client_id: str
    client_secret: SecretStr = field(repr=False)
    refresh_token: SecretStr = field(repr=False)

    def request(self) -> dict[str, Any]:
        return {
            "data": {
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token.get_secret_value(),
                "client_id": self.client_id,
                "client_secret": self.client_secret.get_secret_value(),
            }
        }

    def answered(self, answer: TokenAnswer) -> None:
        if answer.refresh_token is not None:
            self.refresh_token = answer.refresh_token


Grant = ClientCredentialsGrant | RefreshTokenGrant


class TokenCache:
    """Hands out a valid bearer token for one client; see the module docstring."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        grant: Grant,
        *,
        policy: RetryPolicy,
        limiter: Limiter | None = None,
        stats: RetryStats | None = None,
        margin: float = 60.0,
        default_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = token_url
        self.grant = grant
        self._policy = policy
        self._limiter = limiter
        self._stats = stats
        self._margin = margin
        self._default_ttl = default_ttl
        self._clock = clock
        self._token: SecretStr | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens asked for (reports, tests)

    def __repr__(self) -> str:
        state = "valid" if self._is_valid() else "empty"
        return f"TokenCache(url={self._url!r}, client_id={self.grant.client_id!r}, token=<{state}>)"

    __str__ = __repr__

    @property
    def url(self) -> str:
        return self._url

    def _is_valid(self) -> bool:
        return self._token is not None and self._clock() < self._valid_until

    async def token(self) -> str:
        """A token that is not (about to be) expired; fetched when there is none."""
        if self._is_valid():
            assert self._token is not None
            return self._token.get_secret_value()
        async with self._lock:
            if not self._is_valid():
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    async def renew(self, stale: str | None) -> str:
        """A new token after `stale` was refused (401); a caller that renewed meanwhile is reused."""
        async with self._lock:
            current = self._token.get_secret_value() if self._token is not None else None
            if current is None or current == stale or not self._is_valid():
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    def invalidate(self) -> None:
        self._token = None
        self._valid_until = 0.0

    async def _fetch(self) -> None:
        response = await send(
            self._http,
            "POST",
            self._url,
            policy=self._policy,
            limiter=self._limiter,
            stats=self._stats,
            **self.grant.request(),
        )
        try:
            answer = TokenAnswer.model_validate(json_body(response))
        except (ValueError, ValidationError):
            # The validation text could quote the body (and so the token): keep none of it.
            raise ApiError(
                response.status_code, "invalidTokenResponse", "the token endpoint answered without a usable access_token",
                "POST", self._url,
            ) from None
        self.grant.answered(answer)
        # Issued tokens are secrets too: masked in whatever this process logs or stores.
        register(answer.access_token, answer.refresh_token, runtime=True)
        ttl = answer.expires_in if answer.expires_in and answer.expires_in > 0 else self._default_ttl
        self._token = answer.access_token
        self._valid_until = self._clock() + max(0.0, ttl - min(self._margin, ttl / 2))
        self.fetches += 1
