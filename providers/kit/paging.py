"""Paging strategies: how a page is asked for, how a walk is guarded, what page 1 announces.

An endpoint (providers/kit/client.py) picks one strategy: `PageNumbers` (a page number, and a
total the API announces), `Offsets` (an offset and a limit), `NextLinks` (the next page's URL,
in the body or a `Link` header), `Ranges` (a `Range: items=a-b` header answered by 206 and
`Content-Range`) or `Cursors` (an opaque cursor). The strategy turns a page token into a request,
names the token of page 1 (seen by the walk's loop guard from the start), gives the digest of what
a page is read from, and, for numbered pages, the tokens page 1 announces.

Announced tokens are a hint, never the truth: the engine still follows each page's own next
token, stops at the first page that names no next page or holds no record (tasks/extract.py
`ends_walk`), and treats a read whose record count differs from the announced total as
incomplete (nothing archived). An absurd total (10^9) costs nothing here: a `TokenRange` holds
three integers, not a list of tokens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import parse_qs, urlsplit

import httpx

from learnsync.core.http import PageTokenGuard
from learnsync.providers.base import Page, page_digest


class TokenRange(Sequence[str]):
    """Page tokens `str(start)`, `str(start + step)`, ... below `stop`: a lazy, picklable sequence."""

    __slots__ = ("_range",)

    def __init__(self, start: int, stop: int, step: int = 1) -> None:
        self._range = range(start, stop, step)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> TokenRange: ...

    def __getitem__(self, index: int | slice) -> str | TokenRange:
        if isinstance(index, slice):
            part = self._range[index]
            return TokenRange(part.start, part.stop, part.step)
        return str(self._range[index])

    def __len__(self) -> int:
        return len(self._range)

    def __iter__(self) -> Iterator[str]:
        return map(str, self._range)

    def __reduce__(self) -> tuple[type, tuple[int, int, int]]:
        return (TokenRange, (self._range.start, self._range.stop, self._range.step))

    def __repr__(self) -> str:
        r = self._range
        return f"TokenRange({r.start}, {r.stop}, {r.step})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TokenRange):
            return self._range == other._range
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def page_numbers_after(first_page: Page) -> TokenRange | None:
    """Page numbers 2..n from page 1's size and the announced total (None when it is unknown)."""
    if first_page.total is None or first_page.next_token != "2" or not first_page.records:
        return None
    pages = -(-first_page.total // len(first_page.records))
    return TokenRange(2, max(2, pages + 1))


def offsets_after(first_page: Page) -> TokenRange | None:
    """Every later offset, from page 1's next offset (its size) and the announced total."""
    step = first_page.next_token
    if first_page.total is None or step is None or not step.isdigit() or int(step) < 1:
        return None
    return TokenRange(int(step), max(int(step), first_page.total), int(step))


# --------------------------------------------------------------------------- loop guards


class LoopGuards:
    """One loop guard per walk. A walk starts at token None (it forgets the tokens of the walk
    before it, and sees the first page's own token); a token handed back twice within a walk is
    a `PagingLoopError` naming it ("udemy/courses: page token '3' returned twice")."""

    def __init__(self) -> None:
        self._walks: dict[str, PageTokenGuard] = {}

    def walk(self, name: str, token: str | None, first_token: str | None) -> PageTokenGuard:
        if token is None or name not in self._walks:
            guard = PageTokenGuard(name)
            if token is None:
                guard.check(first_token)
            self._walks[name] = guard
        return self._walks[name]


# --------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class PageRequest:
    """What a page token adds to an endpoint's request."""

    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    url: str | None = None  # the page's own URL (a followed next link); None: the endpoint's


@dataclass(frozen=True)
class PageHead:
    """Next token and total read from a response's status and headers, not its body."""

    next_token: str | None
    total: int | None


class Paging:
    """A paging strategy; see the module docstring. Subclasses set `first_token` and `body_pages`."""

    first_token: str | None = None  # the token page 1 would have (None: page 1 has none)
    # Next token and total are read from the body: a body is its page (its digest recognises it,
    # and the page can be parsed again from it). False: from the status and headers.
    body_pages: bool = True

    def request(self, token: str | None, size: int) -> PageRequest:
        raise NotImplementedError

    def announced(self, first_page: Page) -> Sequence[str] | None:
        """The tokens of pages 2..n once page 1 is read (None: unknown, the walk is sequential)."""
        return None

    def head(self, response: httpx.Response, token: str | None, size: int, count: int) -> PageHead | None:
        """Next token and total from the response's head (None: the envelope's are the truth)."""
        return None

    def digest(self, response: httpx.Response, token: str | None, size: int) -> str:
        """`page_digest` of everything the page is read from (its body, for body-paged APIs)."""
        return page_digest(response.content)


def _number(token: str | None, first: int, what: str) -> int:
    if token is None:
        return first
    if not token.isdigit():
        raise ValueError(f"page token must be {what}, got {token!r}")
    value = int(token)
    if value < first:
        raise ValueError(f"page token must be {what} >= {first}, got {value}")
    return value


@dataclass(frozen=True)
class PageNumbers(Paging):
    """`?page=n&page_size=s`, pages numbered from 1; page 1's total announces the later numbers."""

    page_param: str = "page"
    size_param: str = "page_size"
    announce: bool = True  # whether page 1's total lets the engine fetch the later pages concurrently
    first_token: str | None = "1"

    def number(self, token: str | None) -> int:
        return _number(token, 1, "a page number")

    def request(self, token: str | None, size: int) -> PageRequest:
        return PageRequest(params={self.page_param: self.number(token), self.size_param: size})

    def announced(self, first_page: Page) -> Sequence[str] | None:
        return page_numbers_after(first_page) if self.announce else None


@dataclass(frozen=True)
class Offsets(Paging):
    """`?offset=o&limit=s` from offset 0; page 1's total announces the later offsets."""

    offset_param: str = "offset"
    limit_param: str = "limit"
    announce: bool = True
    first_token: str | None = "0"

    def offset(self, token: str | None) -> int:
        return _number(token, 0, "an offset")

    def request(self, token: str | None, size: int) -> PageRequest:
        return PageRequest(params={self.offset_param: self.offset(token), self.limit_param: size})

    def announced(self, first_page: Page) -> Sequence[str] | None:
        return offsets_after(first_page) if self.announce else None


@dataclass(frozen=True)
class NextLinks(Paging):
    """The token is the next page's URL (from the body or a `Link: rel="next"` header), followed on
    the configured host only; no announcement."""

    size_param: str | None = None  # sent with the first request only (the links carry it after)

    def request(self, token: str | None, size: int) -> PageRequest:
        if token is not None:
            return PageRequest(url=token)
        return PageRequest(params={self.size_param: size} if self.size_param else {})


@dataclass(frozen=True)
class Cursors(Paging):
    """`?cursor=<opaque>` from the page before; no announcement."""

    cursor_param: str = "cursor"
    size_param: str | None = None

    def request(self, token: str | None, size: int) -> PageRequest:
        params: dict[str, Any] = {self.size_param: size} if self.size_param else {}
        if token is not None:
            params[self.cursor_param] = token
        return PageRequest(params=params)


@dataclass(frozen=True)
class Ranges(Paging):
    """`Range: items=a-b` answered by 206 and `Content-Range: items a-b/total` (200: the whole
    collection at once). The token is the next start offset; next token and total come from the
    status and `Content-Range`, so the digest covers them (with the requested start and size)."""

    unit: str = "items"
    announce: bool = True
    first_token: str | None = "0"
    body_pages: bool = False

    def start(self, token: str | None) -> int:
        return _number(token, 0, "a start offset")

    def request(self, token: str | None, size: int) -> PageRequest:
        return PageRequest(headers=range_header(self.start(token), size, self.unit))

    def announced(self, first_page: Page) -> Sequence[str] | None:
        return offsets_after(first_page) if self.announce else None

    def head(self, response: httpx.Response, token: str | None, size: int, count: int) -> PageHead:
        header = response.headers.get("Content-Range")
        first, stop, total = parse_content_range(header, self.unit)
        if total is None and response.status_code == 200 and header is None:
            total = count  # the whole collection at once
        if response.status_code != 206 or count == 0:
            return PageHead(None, total)
        if stop is None:
            stop = self.start(token) + count - 1
        if total is None:  # unknown size: a short range is the last one
            return PageHead(str(stop + 1) if count >= size else None, None)
        return PageHead(str(stop + 1) if stop + 1 < total else None, total)

    def digest(self, response: httpx.Response, token: str | None, size: int) -> str:
        # JSON escapes NUL, so the first NUL ends the header part: no two inputs digest alike.
        head = json.dumps([response.status_code, response.headers.get("Content-Range"), self.start(token), size])
        return page_digest(head.encode() + b"\0" + response.content)


# --------------------------------------------------------------------------- wire helpers

_CONTENT_RANGE = re.compile(r"^\s*(\w+)\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")
_RANGE = re.compile(r"^\s*(\w+)=(\d+)-(\d+)\s*$")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


def range_header(start: int, size: int, unit: str = "items") -> dict[str, str]:
    return {"Range": f"{unit}={start}-{start + size - 1}"}


def parse_range(value: str | None, unit: str = "items") -> tuple[int, int] | None:
    """`items=a-b` -> (a, b) inclusive; None when absent or malformed."""
    match = _RANGE.match(value or "")
    if not match or match.group(1) != unit:
        return None
    start, stop = int(match.group(2)), int(match.group(3))
    return (start, stop) if stop >= start else None


def content_range(start: int, stop: int, total: int, unit: str = "items") -> str:
    return f"{unit} {start}-{stop}/{total}" if stop >= start else f"{unit} */{total}"


def parse_content_range(value: str | None, unit: str = "items") -> tuple[int | None, int | None, int | None]:
    """`items a-b/total` -> (a, b, total); unknown parts are None."""
    match = _CONTENT_RANGE.match(value or "")
    if not match or match.group(1) != unit:
        return None, None, None
    _, start, stop, total = match.groups()
    return (
        int(start) if start is not None else None,
        int(stop) if stop is not None else None,
        int(total) if total not in (None, "*") else None,
    )


def query_value(url: str | None, param: str) -> str | None:
    """The first value of `param` in a URL's query (a page number in a next link), else None."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(param)
    return values[0] if values else None


def link_header_next(response: httpx.Response) -> str | None:
    """The URL of a `Link: <...>; rel="next"` header, else None."""
    match = _LINK_NEXT.search(response.headers.get("link") or "")
    return match.group(1) if match else None
