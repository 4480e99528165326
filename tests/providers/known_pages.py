"""The `known_pages` contract every body-paged catalog client keeps (providers/base.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest


async def check_known_body_is_not_decoded(
    client: Any, stream: str, second_token: str, monkeypatch: pytest.MonkeyPatch, *, total: int
) -> None:
    """Page 1 always parses (it carries the total); a later page whose body the engine lists in
    `known_pages` comes back unparsed, its next token from the list, its body re-parseable."""
    first = await client.fetch_catalog_page(stream, None)
    second = await client.fetch_catalog_page(stream, second_token)
    client.known_pages = {first.digest: first.next_token, second.digest: second.next_token}
    again = await client.fetch_catalog_page(stream, None)
    assert again.records == first.records and again.total == total and again.digest == first.digest

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a known body was JSON-decoded")

    monkeypatch.setattr(json, "loads", no_decoding)  # send() would decode with it
    monkeypatch.setattr("learnsync.providers.kit.client.json_body", no_decoding)  # the base client reads bodies
    try:
        known = await client.fetch_catalog_page(stream, second_token)
    finally:
        monkeypatch.undo()
    assert known.records is None and known.next_token == second.next_token is not None
    assert known.raw == second.raw and known.digest == second.digest
    assert client.parse_catalog_page(stream, known.raw).records == second.records
