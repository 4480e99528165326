"""Shared HTTP plumbing: retry policy, client-side rate limiting, errors, paging guards.

Every connector (360Learning and each provider) sends its requests through `send()` so
transient faults are handled one way: 429/5xx/timeouts/dropped connections/unparseable JSON
are retried with exponential backoff and jitter, honouring Retry-After; any other 4xx raises
`ApiError` at once. Prefect task retries are *not* stacked on top of these (see flows).

httpx's timeout bounds each network operation (connect, one read...), not a request: a server
sending one byte per second never trips it. Every attempt therefore also has a total deadline,
covering the whole request and its body (`set_request_deadline`, else DEADLINE_TIMEOUT_FACTOR
times the client's timeout); an attempt past it is a transient fault like any timeout.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import random
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
import orjson
from pydantic import BaseModel, SecretStr, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from learnsync.core.redaction import redact, register

log = logging.getLogger("learnsync.core.http")  # retries at INFO, every request at DEBUG (progress)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524})
BUSY_STATUS = frozenset({429, 503})  # the server is there but busy: a caller may wait longer (ServerBusy)
DEADLINE_TIMEOUT_FACTOR = 4.0  # default total deadline of one attempt: this many times the client's timeout


class ApiError(Exception):
    """A non-retryable (or exhausted) HTTP error. Never carries request headers or bodies sent;
    what it quotes from the answer is redacted (a server may echo the credentials it was sent)."""

    def __init__(self, status: int, code: str, message: str, method: str, url: str) -> None:
        self.status = status
        self.code = redact(str(code))
        self.message = redact(str(message))
        self.method = method
        self.url = redact(_strip_query(url))
        super().__init__(f"{method} {self.url} -> HTTP {status} {self.code}: {self.message}")


class ServerBusy(ApiError):
    """Every attempt was answered "busy" (the last one 429 or 503) and the retries are exhausted:
    the server is up but saturated (e.g. 360Learning's bulk slots are all taken), so a caller with
    more patience may try again later. `last_status` is that last answer's status."""

    def __init__(self, last_status: int, message: str, method: str, url: str) -> None:
        self.last_status = last_status
        super().__init__(0, "retriesExhausted", message, method, url)


class TransientError(Exception):
    """A fault worth retrying; `retry_after` is the server's hint in seconds, if any; `status` the
    HTTP status that caused it (None: a timeout, a dropped connection, unparseable JSON)."""

    def __init__(self, description: str, retry_after: float | None = None, status: int | None = None) -> None:
        self.retry_after = retry_after
        self.status = status
        super().__init__(redact(description))


def _origin(url: str | httpx.URL) -> str:
    """scheme://host:port of a URL (the default port spelled out), for messages and host checks."""
    u = httpx.URL(str(url))
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return f"{u.scheme}://{u.host}:{port}"


_deadlines: weakref.WeakKeyDictionary[httpx.AsyncClient, float] = weakref.WeakKeyDictionary()


def set_request_deadline(client: httpx.AsyncClient, seconds: float | None) -> httpx.AsyncClient:
    """Give every request `client` sends through `send()` a total deadline of `seconds` (None:
    the default, DEADLINE_TIMEOUT_FACTOR times the client's timeout). Returns the client."""
    if seconds is not None:
        if not seconds > 0:
            raise ValueError(f"request deadline must be a positive number of seconds, got {seconds!r}")
        _deadlines[client] = float(seconds)
    return client


def request_deadline(client: httpx.AsyncClient) -> float | None:
    """Seconds one attempt of a request may take in all (None: the client has no timeout at all)."""
    if client in _deadlines:
        return _deadlines[client]
    timeout = client.timeout
    parts = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t is not None]
    return DEADLINE_TIMEOUT_FACTOR * max(parts) if parts else None


class ForeignLinkError(ApiError):
    """A paging link names another scheme, host or port than the configured API: following it
    would send our credentials there, so nothing is sent."""


def same_origin(url: str | httpx.URL, base_url: str | httpx.URL) -> bool:
    """Whether `url` is on the scheme, host and port of `base_url`."""
    return _origin(url) == _origin(base_url)


def followable_link(link: str, base_url: str, *, request_url: str, what: str = "paging link") -> str:
    """`link` when it is on the configured API's origin; else ForeignLinkError naming the link
    (query stripped: it may carry tokens or e-mails)."""
    if not same_origin(link, base_url):
        message = f"{what} {_strip_query(link)} is not on the configured host {_origin(base_url)}; not followed"
        raise ForeignLinkError(200, "foreignPagingLink", message, "GET", request_url)
    return link


class PagingLoopError(RuntimeError):
    """The provider handed back a page token it had already given: paging would never end."""


def _strip_query(url: str) -> str:
    # Query strings can hold tokens or e-mails; errors and logs keep the path only.
    return url.split("?", 1)[0]


def _absolute(client: httpx.AsyncClient, url: str) -> str:
    """The URL with its host (a client with a base_url sends relative paths): errors name the host."""
    try:
        return str(client.base_url.join(url))
    except Exception:  # pragma: no cover - a URL httpx cannot join is reported as given
        return url


def _host_port(url: httpx.URL) -> str:
    port = url.port or {"https": 443, "http": 80}.get(url.scheme, 0)
    return f"{url.host}:{port}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_code_and_message(response: httpx.Response) -> tuple[str, str]:
    """Read both error shapes: {"error": "code"} and {"error": {"code", "message"}} (and JSON:API)."""
    try:
        body = response.json()
    except ValueError:
        return f"http{response.status_code}", response.text[:200]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("code", response.status_code)), str(err.get("message", ""))
        if isinstance(err, str):
            return err, str(body.get("message", body.get("error_description", "")))
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("code", first.get("status", response.status_code))), str(
                first.get("detail", first.get("title", ""))
            )
        if "errorCode" in body:
            return str(body["errorCode"]), str(body.get("message") or body.get("details") or "")
        if "detail" in body and isinstance(body["detail"], str):  # Django REST framework (Udemy)
            return f"http{response.status_code}", body["detail"]
        if "message" in body:
            return f"http{response.status_code}", str(body["message"])
    return f"http{response.status_code}", response.text[:200]


@dataclass(frozen=True)
class RetryPolicy:
    """How HTTP calls are retried. Tests shrink the waits; production keeps the defaults."""

    attempts: int = 6
    base_wait: float = 0.5
    max_wait: float = 60.0
    jitter: float = 0.5
    retry_after_cap: float = 120.0

    def wait_seconds(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        backoff = min(self.max_wait, self.base_wait * (2 ** (attempt - 1)))
        return float(backoff + random.uniform(0, self.jitter * backoff))


FAST_RETRY = RetryPolicy(attempts=6, base_wait=0.01, max_wait=0.2, jitter=0.1, retry_after_cap=2.0)


class RateLimiter:
    """Async token bucket: at most `rate` acquisitions per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


class Limiter(Protocol):
    """What a request waits on before each attempt: a RateLimiter, or anything with its `acquire`
    (e.g. a RateLimiter followed by a limit shared with other processes)."""

    async def acquire(self) -> None: ...


@dataclass
class RetryStats:
    """Counts of what the retry layer absorbed (for run reports and soak tests)."""

    retries: int = 0
    by_reason: dict[str, int] | None = None

    def add(self, reason: str) -> None:
        self.retries += 1
        if self.by_reason is None:
            self.by_reason = {}
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    limiter: Limiter | None = None,
    stats: RetryStats | None = None,
    expect_json: bool | Callable[[httpx.Response], bool] = True,
    on_unauthorized: Any = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request with the shared retry policy; return the successful response.

    `expect_json` may be a callable deciding per successful response whether its body must be
    JSON (parsed, and retried when it is not): a client that recognises a body it already
    mapped skips parsing it.

    `on_unauthorized`, if given, is an async callable run once on a 401 (e.g. renew a token)
    before the request is retried; `kwargs` may then be rebuilt by it via a returned dict.
    """
    renewed = False

    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = exc.retry_after if isinstance(exc, TransientError) else None
        return policy.wait_seconds(state.attempt_number, hint)

    def _before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = type(exc).__name__ if not isinstance(exc, TransientError) else str(exc).split(":")[0]
        if stats is not None and state.outcome is not None:
            stats.add(reason)
        if log.isEnabledFor(logging.INFO):
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            target = _strip_query(str(client.base_url.join(url)))
            log.info(
                "%s %s: %s, attempt %d of %d failed; next try in %ss",
                method, target, reason, state.attempt_number, policy.attempts, f"{wait:.1f}" if wait >= 1 else f"{wait:.2f}",
                extra={"learnsync_event": "retry", "reason": reason, "attempt": state.attempt_number, "wait": wait},
            )

    deadline = request_deadline(client)

    async def _request() -> httpx.Response:
        # One attempt, body included, within the deadline (httpx's timeout is per read).
        try:
            async with asyncio.timeout(deadline) as scope:
                return await client.request(method, url, **kwargs)
        except TimeoutError:
            if not scope.expired():
                raise
            where = _strip_query(str(client.base_url.join(url)))
            raise TransientError(f"deadline: {method} {where} did not answer in full within {deadline:g}s") from None

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_wait,
        retry=retry_if_exception(lambda e: isinstance(e, (TransientError, httpx.TransportError))),
        before_sleep=_before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                if limiter is not None:
                    await limiter.acquire()
                response = await _request()
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s %s -> %d", method, _strip_query(str(response.request.url)), response.status_code,
                        extra={"learnsync_event": "request", "method": method, "host": _host_port(response.request.url),
                               "status": response.status_code},
                    )
                if response.status_code == 401 and on_unauthorized is not None and not renewed:
                    renewed = True
                    new_kwargs = await on_unauthorized()
                    if new_kwargs:
                        kwargs.update(new_kwargs)
                    raise TransientError("unauthorized: token renewed", retry_after=0.0)
                if response.status_code in RETRYABLE_STATUS:
                    raise TransientError(
                        f"http{response.status_code}: {method} {_strip_query(url)}",
                        parse_retry_after(response.headers.get("Retry-After")),
                        response.status_code,
                    )
                if response.status_code >= 400:
                    code, message = error_code_and_message(response)
                    raise ApiError(response.status_code, code, message, method, str(response.request.url))
                must_parse = expect_json(response) if callable(expect_json) else expect_json
                if must_parse and response.status_code != 204 and response.content:
                    try:
                        body = decode_json(response.content)
                    except ValueError as exc:
                        raise TransientError(f"badjson: {method} {_strip_query(url)}") from exc
                    _parsed_bodies[response] = body
                return response
    except TransientError as exc:
        if exc.status in BUSY_STATUS:
            raise ServerBusy(exc.status, str(exc), method, _absolute(client, url)) from None
        raise ApiError(0, "retriesExhausted", str(exc), method, _absolute(client, url)) from None
    except httpx.TransportError as exc:
        raise ApiError(0, type(exc).__name__, "network error after retries", method, _absolute(client, url)) from None
    raise AssertionError("unreachable")  # pragma: no cover


# Bodies `send()` parsed to rule out bad JSON, kept for `json_body` so pages are parsed once.
# Weak keys: a body lives no longer than its response.
_parsed_bodies: weakref.WeakKeyDictionary[httpx.Response, Any] = weakref.WeakKeyDictionary()
_NOT_PARSED = object()


def json_body(response: httpx.Response) -> Any:
    """The JSON body of a response `send()` returned, without parsing it a second time.

    The first call hands over the body `send()` parsed; later calls (and responses `send()` did
    not parse) parse again, so, as with `response.json()`, callers never share one mutable body.
    Raises ValueError on a body that is not JSON.
    """
    body = _parsed_bodies.pop(response, _NOT_PARSED)
    return decode_json(response.content) if body is _NOT_PARSED else body


# A \uXXXX escape of a UTF-16 surrogate: a page whose body has none cannot hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
UNREADABLE = "\ufffd"  # what an unreadable character becomes (the text cleaners quarantine it)


def decode_json(content: bytes | str) -> Any:
    """JSON from a response body, never failing on one bad character.

    An invalid UTF-8 byte or a lone surrogate escape (`"\\ud800"`) in one value must not lose the
    page: each becomes U+FFFD, and the record holding it is quarantined by the mapping's text
    rules (providers/kit/cleaning.py) while the rest of the page goes through. Raises ValueError
    on a body that is not JSON at all.
    """
    try:
        return orjson.loads(content)  # strict JSON, several times faster: a 10,000-item body in ~30 ms
    except orjson.JSONDecodeError:
        pass  # a bad byte, a lone surrogate, NaN or a huge integer: the tolerant reading below
    try:
        body = json.loads(content)
    except UnicodeDecodeError:
        body = json.loads(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return _without_lone_surrogates(body) if _SURROGATE_ESCAPE.search(raw) else body


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _replace_surrogates(value)
        return value
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def _replace_surrogates(text: str) -> str:
    return "".join(UNREADABLE if "\ud800" <= ch <= "\udfff" else ch for ch in text)


TokenModel = TypeVar("TokenModel", bound=BaseModel)


def token_answer(model: type[TokenModel], response: httpx.Response, url: str) -> TokenModel:
    """A token endpoint's answer as `model`, with the tokens it hands out registered for
    redaction. An answer that does not fit raises ApiError quoting nothing of it: the body may
    echo the credentials sent."""
    try:
        answer = model.model_validate(json_body(response))
    except (ValueError, ValidationError):
        raise ApiError(response.status_code, "invalidTokenResponse", "token answer does not match the contract", "POST", url) from None
    for name in type(answer).model_fields:
        value = getattr(answer, name)
        if isinstance(value, SecretStr) or (isinstance(value, str) and name.endswith("token")):
            register(value, runtime=True)
    return answer


@functools.lru_cache(maxsize=1)
def tls_context() -> Any:
    """The TLS context every client of this process shares (httpx's defaults): building one
    loads the CA bundle, ~20 ms per client and run otherwise."""
    return httpx.create_ssl_context()


class PageTokenGuard:
    """Loop detection for paginators: raises if a next-page token repeats."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._seen: set[str] = set()

    def check(self, token: str | None) -> None:
        if token is None:
            return
        if token in self._seen:
            raise PagingLoopError(f"{self.stream}: page token {token!r} returned twice")
        self._seen.add(token)
