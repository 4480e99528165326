"""Traffic recorder of the 360Learning sandbox: every API exchange, as it crossed the wire.

An ASGI wrapper (enabled by `Lms360SandboxConfig.record_traffic`) that keeps, for each request
under `/api/v2/`, the method, path, query string, headers and body, and the status, headers and
body of the answer. Contract tests validate both sides against 360Learning's published OpenAPI
documents. Inspection routes (`/_sandbox/*`) are not recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

RECORDED_PREFIX = "/api/v2/"


@dataclass
class Exchange:
    """One request and the sandbox's answer to it."""

    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


class TrafficRecorder:
    """Thread-safe list of exchanges (the server runs in its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()


class RecordingMiddleware:
    """Wrap an ASGI app; `.state` is the wrapped app's (with `.state.traffic` the recorder)."""

    def __init__(self, app: Any, recorder: TrafficRecorder) -> None:
        self.app = app
        self.recorder = recorder
        self.state = app.state
        app.state.traffic = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(RECORDED_PREFIX):
            await self.app(scope, receive, send)
            return
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            request_headers=_headers(scope.get("headers", [])),
            request_body=b"",
        )
        chunks: list[bytes] = []

        async def recording_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        body_parts: list[bytes] = []

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = _headers(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body_parts.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            exchange.request_body = b"".join(chunks)
            exchange.response_body = b"".join(body_parts)
            self.recorder.add(exchange)
