"""The catalog retry cache (tasks/extract.PagesChunk): bodies kept instead of parsed records."""

from __future__ import annotations

import json
import pickle
from typing import Any

import cloudpickle
import pytest

from learnsync.providers.base import Page
from learnsync.tasks.extract import PagesChunk, _chunk, records_of


class Reparsing:
    """A client that can parse a page again from its body (as the Udemy client does)."""

    def __init__(self) -> None:
        self.parsed = 0

    def parse_catalog_page(self, stream: str, body: bytes) -> Page:
        self.parsed += 1
        return Page(records=json.loads(body)["results"], next_token=None)


def page(ids: list[int], raw: bool = True) -> Page:
    records = [{"id": i, "title": f"t{i}"} for i in ids]
    return Page(records=records, next_token=None, raw=json.dumps({"results": records}).encode() if raw else None)


@pytest.mark.rule("RUN-08")
def test_rule_cached_chunk_holds_bodies_and_gets_its_records_back() -> None:
    client = Reparsing()
    chunk = _chunk(client, "courses", [page([1, 2]), page([3])], next_token=None)
    assert [r["id"] for r in chunk["records"]] == [1, 2, 3]
    for dumps in (pickle.dumps, cloudpickle.dumps):  # Prefect persists results with cloudpickle
        stored = pickle.loads(dumps(chunk))
        assert isinstance(stored, PagesChunk) and stored["records"] is None and len(stored["bodies"]) == 2
        assert records_of(stored, client, "courses") == chunk["records"]
    assert records_of(chunk, client, "courses") is chunk["records"]  # a fresh chunk is not re-parsed
    assert client.parsed == 4


@pytest.mark.rule("RUN-08")
def test_rule_chunk_keeps_records_when_the_client_cannot_reparse() -> None:
    class Plain:
        """A client whose pages cannot be read back from their bodies: it gives them none."""

    for client, pages in ((Plain(), [page([1], raw=False)]), (Reparsing(), [page([1]), page([2], raw=False)])):
        chunk: Any = _chunk(client, "courses", pages, next_token=None)
        stored = pickle.loads(pickle.dumps(chunk))
        assert stored["bodies"] is None and [r["id"] for r in stored["records"]] == [r["id"] for p in pages for r in p.records]


def test_unparsed_and_known_pages_chunk_keeps_bodies_and_mixed_with_a_bodiless_page_parses_now() -> None:
    """A page the client left unparsed (its body known to the engine) is read back from its body:
    later when the chunk keeps bodies, at once when another page of the chunk has none."""
    client = Reparsing()
    known = page([2])
    unparsed = Page(records=None, next_token=None, raw=known.raw, digest="d2")
    chunk = _chunk(client, "courses", [page([1]), unparsed], next_token=None)
    assert chunk["records"] is None and chunk["digests"] == [None, "d2"] and client.parsed == 0
    assert [r["id"] for r in records_of(chunk, client, "courses")] == [1, 2]
    mixed = _chunk(client, "courses", [page([1], raw=False), Page(records=None, next_token=None, raw=known.raw)], next_token=None)
    assert mixed["bodies"] is None and [r["id"] for r in mixed["records"]] == [1, 2]


def test_responsive_switching_is_reentrant_and_restores_the_interval() -> None:
    import sys

    from learnsync.providers.fastparse import RESPONSIVE_SWITCH_INTERVAL, responsive_switching

    before = sys.getswitchinterval()
    with responsive_switching():
        with responsive_switching():  # a second content run in the same process
            assert sys.getswitchinterval() == min(before, RESPONSIVE_SWITCH_INTERVAL)
        assert sys.getswitchinterval() == min(before, RESPONSIVE_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before
