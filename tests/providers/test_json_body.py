"""`send()` parses a JSON body once (to rule out bad JSON); `json_body` hands that body over."""

from __future__ import annotations

import httpx
import pytest

from learnsync.core.http import FAST_RETRY, ApiError, RetryStats, json_body, send


def _transport(*answers: httpx.Response) -> httpx.MockTransport:
    queue = list(answers)
    return httpx.MockTransport(lambda request: queue.pop(0))


def _no_second_parse(self: httpx.Response, **kwargs: object) -> object:
    raise AssertionError("the body was parsed a second time")


async def test_json_body_hands_over_the_body_send_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    async with httpx.AsyncClient(transport=_transport(httpx.Response(200, json={"results": [1, 2]}))) as client:
        response = await send(client, "GET", "https://provider.test/items", policy=FAST_RETRY)
    monkeypatch.setattr(httpx.Response, "json", _no_second_parse)
    body = json_body(response)
    assert body == {"results": [1, 2]}
    monkeypatch.undo()
    again = json_body(response)  # a later call parses afresh: callers never share one mutable body
    assert again == body and again is not body


async def test_bad_json_is_still_a_transient_fault() -> None:
    stats = RetryStats()
    answers = (httpx.Response(200, content=b'{"results": ['), httpx.Response(200, json={"results": []}))
    async with httpx.AsyncClient(transport=_transport(*answers)) as client:
        response = await send(client, "GET", "https://provider.test/items", policy=FAST_RETRY, stats=stats)
    assert json_body(response) == {"results": []}
    assert stats.by_reason == {"badjson": 1}


async def test_bad_json_every_time_exhausts_the_retries() -> None:
    answers = [httpx.Response(200, content=b"<html>") for _ in range(FAST_RETRY.attempts)]
    async with httpx.AsyncClient(transport=_transport(*answers)) as client:
        with pytest.raises(ApiError) as caught:
            await send(client, "GET", "https://provider.test/items", policy=FAST_RETRY)
    assert caught.value.code == "retriesExhausted"


async def test_bodies_send_did_not_parse_are_parsed_by_json_body() -> None:
    answers = (httpx.Response(200, content=b'{"a": 1}'), httpx.Response(204))
    async with httpx.AsyncClient(transport=_transport(*answers)) as client:
        unchecked = await send(client, "GET", "https://provider.test/a", policy=FAST_RETRY, expect_json=False)
        empty = await send(client, "DELETE", "https://provider.test/b", policy=FAST_RETRY)
    assert json_body(unchecked) == {"a": 1}
    with pytest.raises(ValueError):  # as response.json() would
        json_body(empty)
