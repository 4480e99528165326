"""Read a provider stream page by page into a DataFrame (catalog) or in chunks (stats).

Pages are read one after the other unless the client announces the page tokens: a client whose
paging is by page number or offset knows every token once its first page (with the total) is
read, and says so through

    catalog_page_tokens(stream, first_page) -> Sequence[str] | None
    stats_page_tokens(window, first_page) -> Sequence[str] | None

(the tokens of pages 2..n, in order; None when the total is unknown: providers.base.ProviderClient).
The engine then fetches the remaining pages concurrently, at most
`ProviderSettings.max_concurrent_pages` at a time, and falls back to the sequential walk (with
its loop guard) otherwise.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from learnsync.core.http import PageTokenGuard
from learnsync.providers.base import DateWindow, Page, ProviderClient
from learnsync.providers.fastparse import paused_gc

__all__ = [
    "PagesChunk", "completeness", "iter_stats_chunks", "paused_gc", "read_announced_pages",
    "read_first_page", "read_page_chunk", "record_keys", "records_of",
]

PageFn = Callable[[str, int, int], None]  # (stream, pages so far, records so far)


def trusted_hint(tokens: Sequence[str] | None, page: Page) -> Sequence[str] | None:
    """The announced tokens (a lazy sequence, providers.kit.paging.TokenRange: never materialised,
    however large the announced total), or None when they disagree with page 1's own next token: the API's
    next token wins (an announced end with a next link, or another next page, means the
    announcement is wrong and the pages are followed one by one)."""
    if tokens is None or page.next_token is None:
        return tokens if page.next_token is not None else None
    if not len(tokens) or tokens[0] != page.next_token:
        return None
    return tokens


def ends_walk(page: Page) -> bool:
    """A page after which a walk stops: it names no next page, or holds no record at all."""
    return page.next_token is None or (page.records is not None and len(page.records) == 0)


class PagesChunk(dict):
    """{"records", "next_token", "pages", "tokens", "total", "bodies", "digests", "next_tokens"}
    of pages read together.

    "bodies" holds the raw response bodies when every page has one (`Page.raw`: the client parses
    it again with `parse_catalog_page`). The chunk is then pickled (Prefect's retry cache) without its
    parsed records: a copy of the bodies costs little, a pickle of every record as much as
    parsing it. A chunk taken from the cache gets its records back through `records_of`; so
    does a chunk with a page the client left unparsed (records None until then). "digests" and
    "next_tokens" are the pages' own (tasks/mapped_chunks.py recognises unchanged pages by them).
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self)
        if state.get("bodies") is not None:
            state["records"] = None
        return (PagesChunk, (state,))


def records_of(chunk: dict[str, Any], client: ProviderClient, stream: str) -> list[dict]:
    """A chunk's records, re-parsed from its bodies when it came back from the cache without them."""
    if chunk.get("records") is None:
        chunk["records"] = [r for body in chunk.get("bodies") or [] for r in client.parse_catalog_page(stream, body).parsed_records()]
    return chunk["records"]


def _chunk(client: ProviderClient, stream: str, pages: list[Page], **fields: Any) -> PagesChunk:
    bodies = [p.raw for p in pages]
    reparse = all(b is not None for b in bodies)
    unparsed = any(p.records is None for p in pages)
    if unparsed and not reparse:
        # Some page of the chunk has no body to parse it from later (the client could not tell
        # it from its body): the chunk keeps records, so the pages left unparsed are parsed now.
        pages = [p if p.records is not None else client.parse_catalog_page(stream, p.raw) for p in pages]  # type: ignore[arg-type]
        unparsed = False
    records = None if unparsed else [r for p in pages for r in p.records]  # type: ignore[union-attr]
    return PagesChunk(
        records=records, pages=len(pages), bodies=bodies if reparse else None,
        digests=[p.digest for p in pages], next_tokens=[p.next_token for p in pages], **fields,
    )


async def read_page_chunk(client: ProviderClient, stream: str, token: str | None, max_pages: int) -> dict:
    """Up to `max_pages` pages from `token`, one after the other: {"records", "next_token", "pages"}."""
    pages: list[Page] = []
    while len(pages) < max_pages:
        page = await client.fetch_catalog_page(stream, token)
        pages.append(page)
        token = page.next_token
        if token is None:
            break
    return _chunk(client, stream, pages, next_token=token)


async def read_first_page(client: ProviderClient, stream: str, max_pages: int) -> dict:
    """The head of a catalog walk: page 1 and, when the client announces them, every later token.

    {"records", "next_token", "pages", "tokens", "total"}: `tokens` lists pages 2..n (an empty
    list when page 1 is the only one); None means the client cannot tell, and the head goes on
    reading sequentially up to `max_pages` pages (the historical chunk).
    """
    page = await client.fetch_catalog_page(stream, None)
    total = page.total
    if ends_walk(page):
        return _chunk(client, stream, [page], next_token=None, tokens=[], total=total)
    tokens = trusted_hint(client.catalog_page_tokens(stream, page), page)
    if tokens is not None:
        return _chunk(client, stream, [page], next_token=page.next_token, tokens=tokens, total=total)
    pages = [page]
    token = page.next_token
    while len(pages) < max_pages and token is not None:
        more = await client.fetch_catalog_page(stream, token)
        pages.append(more)
        token = more.next_token
    return _chunk(client, stream, pages, next_token=token, tokens=None, total=total)


def record_keys(records: list[dict[str, Any]]) -> set[str]:
    """The distinct identities of raw records: their id as text (a record without one: its content)."""
    try:  # the common case, at C speed: dict records that all have an id
        ids = {r["id"] for r in records}
        if None not in ids:
            return ids if all(type(i) is str for i in ids) else {str(i) for i in ids}
    except (KeyError, TypeError):
        pass
    return {
        str(r.get("id")) if isinstance(r, dict) and r.get("id") is not None
        else repr(sorted(r.items())) if isinstance(r, dict) else repr(r)
        for r in records
    }


def completeness(keys: set[str], total: int | None, records: int | None = None) -> str | None:
    """Why a catalog read is incomplete (None when complete or when the provider gave no total),
    from the `record_keys` of every record read and the count of records read.

    A skipped page, or a duplicated id that hides another record, leaves fewer distinct records
    than the provider announced: archiving what is "missing" would archive live courses. More
    records than announced is a disagreement too (the total, or the paging, is wrong): nothing
    proves the read saw everything.
    """
    if total is None:
        return None
    if len(keys) < total:
        return f"read {len(keys)} distinct records where the provider announced {total}"
    if records is not None and records > total:
        return f"read {records} records where the provider announced {total}"
    return None


async def read_announced_pages(client: ProviderClient, stream: str, tokens: Sequence[str], gate: asyncio.Semaphore) -> dict:
    """The pages of `tokens`, fetched concurrently (`gate` bounds the requests in flight), in order,
    up to the first that ends the walk (`ends_walk`): pages after it are dropped, and their
    errors too (an announced total larger than the catalog names pages that do not exist).

    `next_token` is the last kept page's: None when the walk is over ("ended" is then True), a
    token when the catalog goes on past the announced pages (the caller continues from there).
    """

    async def one(token: str) -> Page:
        async with gate:
            return await client.fetch_catalog_page(stream, token)

    results = await asyncio.gather(*(one(t) for t in tokens), return_exceptions=True)
    pages: list[Page] = []
    ended = False
    for result in results:
        if isinstance(result, BaseException):
            raise result
        pages.append(result)
        if ends_walk(result):
            ended = True
            break
    return _chunk(client, stream, pages, next_token=None if ended else (pages[-1].next_token if pages else None), ended=ended)


async def iter_stats_chunks(
    client: ProviderClient,
    window: DateWindow,
    chunk_rows: int = 50_000,
    on_page: PageFn | None = None,
    concurrency: int = 1,
    tally: dict[str, Any] | None = None,
) -> AsyncIterator[pd.DataFrame]:
    """Stream activity in bounded chunks so memory does not grow with the number of rows.

    With `concurrency` > 1 and a client that announces its stats page tokens, up to that many
    pages are in flight while earlier ones are consumed (in order); memory stays bounded by
    one chunk plus `concurrency` pages. The walk follows each page's next token and stops at the
    first page that ends it, whatever was announced. `tally` receives the announced "total"
    and the "rows" read (a caller compares them: a disagreement means rows may be missing).
    """
    buffer: list[dict] = []
    pages = rows = 0
    tally = tally if tally is not None else {}

    def take(page: Page) -> list[dict] | None:
        """Add a page; the rows of a full chunk (made a DataFrame by `frame`, off the event loop)."""
        nonlocal buffer, pages, rows
        records = page.parsed_records()
        buffer.extend(records)
        pages += 1
        rows += len(records)
        tally["rows"] = rows
        if on_page:
            on_page("stats", pages, rows)
        if len(buffer) >= chunk_rows:
            full, buffer = buffer, []
            return full
        return None

    async def frame(records: list[dict]) -> pd.DataFrame:
        # the pages still in flight are read meanwhile
        return await asyncio.to_thread(pd.DataFrame.from_records, records)

    first = await client.fetch_stats_page(window, None)
    tally["total"] = first.total
    tokens = None
    if concurrency > 1 and not ends_walk(first):
        tokens = trusted_hint(client.stats_page_tokens(window, first), first)
    full = take(first)
    if full is not None:
        yield await frame(full)
    token = None if ends_walk(first) else first.next_token
    if tokens is not None:
        in_flight: deque[asyncio.Task[Page]] = deque()
        queue = iter(tokens)
        try:
            for t in queue:
                in_flight.append(asyncio.ensure_future(client.fetch_stats_page(window, t)))
                if len(in_flight) >= concurrency:
                    break
            while in_flight:
                page = await in_flight.popleft()
                ended = ends_walk(page)
                if ended:
                    token = None  # pages after the end are not read (their errors do not count)
                else:
                    nxt = next(queue, None)
                    if nxt is not None:
                        in_flight.append(asyncio.ensure_future(client.fetch_stats_page(window, nxt)))
                    token = page.next_token
                full = take(page)
                if full is not None:
                    yield await frame(full)
                if ended:
                    break
        finally:
            _drop(in_flight)
        # `token` is now the last page's next token: None, unless rows were added meanwhile.
    guard = PageTokenGuard(f"stats:{window.since}:{window.until}")
    while token is not None:
        guard.check(token)
        page = await client.fetch_stats_page(window, token)
        token = None if ends_walk(page) else page.next_token
        full = take(page)
        if full is not None:
            yield await frame(full)
    if buffer:
        yield await frame(buffer)


def _drop(in_flight: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel fetches no longer wanted; an error they already raised is read (not left unretrieved)."""
    for pending in in_flight:
        if pending.done():
            if not pending.cancelled():
                pending.exception()
        else:
            pending.cancel()
