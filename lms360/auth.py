"""OAuth2 client-credentials token for 360Learning API v2 (the shared `providers.kit.auth` cache).

The token lives `expires_in` seconds (3600 in practice); it is reused until 60 s before that
(less for very short lifetimes) and renewed once on a 401. The credentials travel as a JSON body
without bearer or `360-api-version` header (docs/lms360.md: Hosts and authentication). Neither the client secret
nor the token ever appears in a repr, an exception or a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from learnsync.core.http import Limiter, RetryPolicy, RetryStats
from learnsync.providers.kit.auth import ClientCredentialsGrant, TokenCache

TOKEN_PATH = "/api/v2/oauth2/token"
EXPIRY_MARGIN_SECONDS = 60.0


class TokenManager(TokenCache):
    """360Learning's token cache: client credentials in a JSON body."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        policy: RetryPolicy,
        limiter: Limiter | None = None,
        stats: RetryStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            http,
            token_url,
            ClientCredentialsGrant(client_id, client_secret, style="json"),
            policy=policy,
            limiter=limiter,
            stats=stats,
            margin=EXPIRY_MARGIN_SECONDS,
            default_ttl=3600.0,
            clock=clock,
        )
