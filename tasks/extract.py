"""Read a provider stream page by page into a DataFrame (catalog) or in chunks (stats)."""

from __future__ import annotations

from typing import AsyncIterator, Callable

import pandas as pd

from providers.base import DateWindow, ProviderClient

PageFn = Callable[[str, int, int], None]  # (stream, pages so far, records so far)


async def read_page_chunk(client: ProviderClient, stream: str, token: str | None, max_pages: int) -> dict:
    """Up to `max_pages` pages from `token`: {"records", "next_token", "pages"} (a cacheable unit)."""
    records: list[dict] = []
    pages = 0
    while pages < max_pages:
        page = await client.fetch_catalog_page(stream, token)
        records.extend(page.records)
        pages += 1
        token = page.next_token
        if token is None:
            break
    return {"records": records, "next_token": token, "pages": pages}


async def iter_stats_chunks(
    client: ProviderClient, window: DateWindow, chunk_rows: int = 50_000, on_page: PageFn | None = None
) -> AsyncIterator[pd.DataFrame]:
    """Stream activity in bounded chunks so memory does not grow with the number of rows."""
    buffer: list[dict] = []
    token: str | None = None
    pages = rows = 0
    while True:
        page = await client.fetch_stats_page(window, token)
        buffer.extend(page.records)
        pages += 1
        rows += len(page.records)
        if on_page:
            on_page("stats", pages, rows)
        if len(buffer) >= chunk_rows:
            yield pd.DataFrame.from_records(buffer)
            buffer = []
        token = page.next_token
        if token is None:
            break
    if buffer:
        yield pd.DataFrame.from_records(buffer)
