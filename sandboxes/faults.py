"""Fault injection for every sandbox: an ASGI middleware driven by a rule list.

Rules are switchable per test (Python API: `app.state.faults.add(...)`) and from the CLI /
any HTTP client (`POST /_sandbox/faults`, `DELETE /_sandbox/faults`). Transport-level kinds:

- `status`: answer with `status` (429, 500, 502, 503...) and, for 429, an optional Retry-After.
- `timeout`: hold the request for `delay` seconds before answering normally.
- `drop`: start the response then drop the connection (client sees a protocol error).
- `truncate`: send the real response cut in half (invalid JSON).
- `badjson`: send a 200 with a body that is not JSON.
- `rewrite`: send the real response with the first `occurrences` of `find` in its body replaced by
  `replace` (both as Latin-1 text, so any byte can be written: `"\\xff"` is one invalid UTF-8
  byte, `"\\\\ud800"` a lone surrogate escape). Corrupts one value, keeps the rest valid.
- `drip`: send the real response one byte every `delay` seconds (each read is quick, the whole
  answer takes ages: what a per-read timeout never notices). Stops when the client hangs up.
- `echo`: answer `status` with an OAuth-style error quoting the request (body and
  Authorization header), as careless servers do: whatever credentials were sent come back.
- `relink`: the real response, its `Link` header's URLs moved to the origin `target`
  (e.g. "http://127.0.0.1:9999"): a proxy or a compromised API pointing clients elsewhere.

Data-level faults (bad records, repeated pages...) belong to each provider's generator.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

FAULT_KINDS = ("status", "timeout", "drop", "truncate", "badjson", "rewrite", "drip", "relink", "echo")


@dataclass
class FaultRule:
    kind: str
    path: str = ".*"  # regex searched in the request path
    query: str | None = None  # regex searched in the query string (e.g. one page of a catalog)
    method: str | None = None
    status: int = 503
    retry_after: float | None = None
    delay: float = 5.0
    times: int | None = 1  # None = until removed
    probability: float = 1.0
    skip: int = 0  # let this many matching requests through first
    target: str | None = None  # kind=relink: the origin Link URLs are moved to
    find: str = ""  # kind=rewrite: Latin-1 text to look for in the body
    replace: str = ""  # kind=rewrite: what replaces it
    occurrences: int = 1  # kind=rewrite: how many of them (the first ones)
    fired: int = 0
    seen: int = 0
    _rx: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        self._rx = re.compile(self.path)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_rx", None)
        return data


class FaultInjector:
    """Thread-safe rule list; counts what fired so tests and soak runs can report it."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.fired: dict[str, int] = {}
        self.requests: dict[str, int] = {}  # "METHOD /path" -> requests received (faulted or not)

    def count(self, method: str, path: str) -> None:
        key = f"{method} {path}"
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def requests_matching(self, pattern: str, method: str | None = None) -> int:
        """How many requests hit a path matching `pattern` (regex), e.g. to prove pages were not re-read."""
        rx = re.compile(pattern)
        with self._lock:
            return sum(
                n for key, n in self.requests.items()
                if rx.search(key.split(" ", 1)[1]) and (method is None or key.startswith(method.upper() + " "))
            )

    def add(self, kind: str, **kwargs: Any) -> FaultRule:
        rule = FaultRule(kind=kind, **kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.fired.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.public() for r in self._rules]

    def pick(self, method: str, path: str, query: str = "") -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if rule._rx is None or not rule._rx.search(path):
                    continue
                if rule.query is not None and not re.search(rule.query, query):
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                label = f"{rule.kind}:{rule.status}" if rule.kind == "status" else rule.kind
                self.fired[label] = self.fired.get(label, 0) + 1
                return rule
        return None


class FaultMiddleware:
    """Wraps a sandbox ASGI app; `/_sandbox/faults` manages the rules over HTTP."""

    def __init__(self, app: Any, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/_sandbox/faults":
            await self._admin(method, receive, send)
            return
        if path.startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        self.injector.count(method, path)
        rule = self.injector.pick(method, path, scope.get("query_string", b"").decode("latin-1"))
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "status":
            headers = [(b"content-type", b"application/json")]
            if rule.retry_after is not None:
                headers.append((b"retry-after", str(rule.retry_after).encode()))
            body = {"error": "tooManyRequests"} if rule.status == 429 else {"error": {"code": "injectedFault", "message": f"injected HTTP {rule.status}"}}
            await _respond(send, rule.status, json.dumps(body).encode(), headers)
        elif rule.kind == "timeout":
            await asyncio.sleep(rule.delay)
            await self.app(scope, receive, send)
        elif rule.kind == "drop":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped")
        elif rule.kind == "badjson":
            await _respond(send, 200, b"<html>upstream hiccup</html>", [(b"content-type", b"application/json")])
        elif rule.kind == "truncate":
            await self._truncated(scope, receive, send)
        elif rule.kind == "rewrite":
            await self._rewritten(scope, receive, send, rule)
        elif rule.kind == "drip":
            await self._dripped(scope, receive, send, rule.delay)
        elif rule.kind == "echo":
            await self._echoed(scope, receive, send, rule.status)
        elif rule.kind == "relink":
            await self.app(scope, receive, _relinking(send, rule.target or "http://127.0.0.1:9"))

    async def _captured(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        """The app's whole response (status, headers without content-length, body)."""
        captured: dict[str, Any] = {"body": b"", "status": 200, "headers": []}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [h for h in message.get("headers", []) if h[0].lower() != b"content-length"]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        await self.app(scope, receive, capture)
        return captured

    @staticmethod
    async def _echoed(scope: Scope, receive: Receive, send: Send, status: int) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        quoted = f"{scope['method']} {scope['path']} body={raw.decode('utf-8', 'replace')} authorization={headers.get('authorization', '')}"
        body = {"error": "invalid_client", "error_description": f"request rejected: {quoted}"}
        await _respond(send, status, json.dumps(body).encode(), [(b"content-type", b"application/json")])

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        captured = await self._captured(scope, receive)
        body: bytes = captured["body"]
        await _respond(send, captured["status"], body[: max(1, len(body) // 2)], captured["headers"])

    async def _rewritten(self, scope: Scope, receive: Receive, send: Send, rule: FaultRule) -> None:
        captured = await self._captured(scope, receive)
        body = captured["body"].replace(rule.find.encode("latin-1"), rule.replace.encode("latin-1"), rule.occurrences)
        await _respond(send, captured["status"], body, captured["headers"])

    async def _dripped(self, scope: Scope, receive: Receive, send: Send, delay: float) -> None:
        captured = await self._captured(scope, receive)
        body: bytes = captured["body"]
        gone = asyncio.Event()

        async def watch() -> None:  # the request is read: the next message is the disconnect
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            headers = list(captured["headers"]) + [(b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": captured["status"], "headers": headers})
            for i in range(len(body)):
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": i + 1 < len(body)})
                await asyncio.sleep(delay)
        finally:
            watcher.cancel()

    async def _admin(self, method: str, receive: Receive, send: Send) -> None:
        if method == "DELETE":
            self.injector.clear()
            await _respond(send, 204, b"", [])
            return
        if method == "POST":
            raw = b""
            while True:
                message = await receive()
                raw += message.get("body", b"")
                if not message.get("more_body"):
                    break
            try:
                spec = json.loads(raw or b"{}")
                self.injector.add(**spec)
            except (TypeError, ValueError) as exc:
                await _respond(send, 400, json.dumps({"error": str(exc)}).encode(), [(b"content-type", b"application/json")])
                return
        payload = {"rules": self.injector.rules(), "fired": self.injector.fired}
        await _respond(send, 200, json.dumps(payload).encode(), [(b"content-type", b"application/json")])


def _relinking(send: Send, target: str) -> Send:
    """`send`, with the URLs of a `Link` response header moved to the origin `target`."""
    origin = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#]*", re.IGNORECASE)

    def move(match: re.Match[str]) -> str:
        url = match.group(1)
        moved = origin.sub(target.rstrip("/"), url) if origin.match(url) else target.rstrip("/") + "/" + url.lstrip("/")
        return f"<{moved}>"

    async def relinked(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, re.sub(r"<([^>]*)>", move, v.decode("latin-1")).encode("latin-1") if k.lower() == b"link" else v)
                for k, v in message.get("headers", [])
            ]
            message = {**message, "headers": headers}
        await send(message)

    return relinked


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = list(headers) + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def with_faults(app: Any, seed: int | None = None) -> Any:
    """Wrap a FastAPI app; the injector is reachable as `app.state.faults` and `wrapped.injector`."""
    injector = FaultInjector(seed)
    app.state.faults = injector
    wrapped = FaultMiddleware(app, injector)
    wrapped.state = app.state  # type: ignore[attr-defined]
    return wrapped
