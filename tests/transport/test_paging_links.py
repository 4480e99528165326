"""Paging links are followed on the configured host only: a bearer token never leaves it.

The 360Learning sandbox's `relink` fault moves its `Link: rel="next"` URLs to a second server
on loopback, which counts what it receives.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from learnsync.core.http import FAST_RETRY, ApiError, ForeignLinkError, same_origin
from learnsync.core.settings import Lms360Settings
from learnsync.lms360 import Lms360Client
from learnsync.sandboxes.lms360 import Lms360SandboxConfig, create_app
from learnsync.sandboxes.server import SandboxServer


class CountingServer:
    """An ASGI app that answers every request with an empty JSON list and remembers it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            self.requests.append({"path": scope["path"], "authorization": headers.get("authorization", "")})
        body = json.dumps([]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def elsewhere():
    app = CountingServer()
    with SandboxServer(app) as srv:
        yield app, srv.url


@pytest.mark.rule("RUN-16")
async def test_a_next_link_to_another_host_is_refused_and_nothing_is_sent_there(elsewhere):
    counter, other_url = elsewhere
    users = [f"learner{i}@example.com" for i in range(1, 601)]  # two pages of 500
    app = create_app(Lms360SandboxConfig(rate_limits_enabled=False, users=users))
    with SandboxServer(app) as srv:
        app.state.faults.add("relink", path=r"/api/v2/users$", target=other_url, times=None)
        settings = Lms360Settings(base_url=srv.url, retry=FAST_RETRY)
        async with Lms360Client(settings) as client:
            with pytest.raises(ForeignLinkError) as failure:
                await client.list_users()
    assert counter.requests == [], "a request (with the bearer token) reached the foreign host"
    message = str(failure.value)
    assert f"{other_url}/api/v2/users" in message and "not on the configured host" in message, message
    assert "next=" not in message and "?" not in message  # the link's query (a cursor, filters) is left out
    assert isinstance(failure.value, ApiError)  # systemic, like any refused call: the run stops, names it


@pytest.mark.rule("RUN-16")
async def test_links_on_the_configured_host_are_still_followed():
    users = [f"learner{i}@example.com" for i in range(1, 601)]
    app = create_app(Lms360SandboxConfig(rate_limits_enabled=False, users=users))
    with SandboxServer(app) as srv:
        async with Lms360Client(Lms360Settings(base_url=srv.url, retry=FAST_RETRY)) as client:
            assert len(await client.list_users()) > 500  # page 2 was read


@pytest.mark.parametrize(
    ("link", "same"),
    [
        ("http://lms.test/api/v2/tags?next=1", True),
        ("HTTP://LMS.test:80/api/v2/tags", True),
        ("https://lms.test/api/v2/tags", False),  # another scheme
        ("http://lms.test:8080/api/v2/tags", False),  # another port
        ("http://lms.test.evil.example/api/v2/tags", False),
        ("http://evil.example/http://lms.test/", False),
        ("http://lms.test@evil.example/api/v2/tags", False),  # userinfo trick
    ],
)
def test_same_origin_compares_scheme_host_and_port(link, same):
    assert same_origin(link, "http://lms.test") is same
