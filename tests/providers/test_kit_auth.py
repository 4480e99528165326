"""The one token cache every OAuth client uses (providers/kit/auth.py)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from learnsync.core.http import FAST_RETRY, ApiError
from learnsync.providers.kit.auth import ClientCredentialsGrant, RefreshTokenGrant, TokenCache

SECRET = "kit-secret-123"


def _server(answers: list[dict], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers[min(len(seen), len(answers)) - 1])

    return httpx.MockTransport(handler)


@pytest.mark.rule("V2-41")
async def test_token_is_reused_until_the_margin_and_concurrent_renewals_share_one_fetch() -> None:
    now = [0.0]
    seen: list[httpx.Request] = []
    answers = [{"access_token": f"tok-{i}", "expires_in": "3600"} for i in range(1, 5)]
    async with httpx.AsyncClient(transport=_server(answers, seen)) as http:
        cache = TokenCache(http, "http://auth.test/token", ClientCredentialsGrant("id", SecretStr(SECRET), "json"),
                           policy=FAST_RETRY, margin=60, clock=lambda: now[0])  # fmt: skip
        assert await cache.token() == "tok-1"
        now[0] = 3539.0
        assert await cache.token() == "tok-1"
        now[0] = 3541.0  # within the 60 s margin: renewed before it expires
        assert await cache.token() == "tok-2"
        renewed = await asyncio.gather(*(cache.renew(stale="tok-2") for _ in range(5)))
        assert set(renewed) == {"tok-3"} and cache.fetches == 3
    assert json.loads(seen[0].content) == {"grant_type": "client_credentials", "client_id": "id", "client_secret": SECRET}


async def test_credential_styles_and_refresh_rotation() -> None:
    seen: list[httpx.Request] = []
    answers = [{"access_token": "a"}, {"access_token": "b", "refresh_token": "rotated"}, {"access_token": "c"}]
    async with httpx.AsyncClient(transport=_server(answers, seen)) as http:
        basic = TokenCache(http, "http://auth.test/t", ClientCredentialsGrant("id", SecretStr(SECRET), "basic"), policy=FAST_RETRY)
        refresh = RefreshTokenGrant("id", SecretStr(SECRET), SecretStr("first"))
        legacy = TokenCache(http, "http://auth.test/t", refresh, policy=FAST_RETRY)
        await basic.token()
        await legacy.token()
        await legacy.renew(stale=await legacy.token())
    assert seen[0].headers["authorization"].startswith("Basic ") and parse_qs(seen[0].content.decode()) == {"grant_type": ["client_credentials"]}
    assert parse_qs(seen[1].content.decode())["refresh_token"] == ["first"]
    assert parse_qs(seen[2].content.decode())["refresh_token"] == ["rotated"]  # the rotated one is used next


async def test_secrets_never_show_and_a_malformed_answer_is_reported_without_its_body() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_server([{"token": "leaky-value"}], seen)) as http:
        cache = TokenCache(http, "http://auth.test/t", ClientCredentialsGrant("id", SecretStr(SECRET)), policy=FAST_RETRY)
        with pytest.raises(ApiError) as caught:
            await cache.token()
        text = repr(cache) + str(cache) + repr(cache.grant) + str(caught.value)
    assert caught.value.code == "invalidTokenResponse"
    assert SECRET not in text and "leaky-value" not in text
