"""URL-encoded request bodies, parsed by hand (python-multipart is not a dependency)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request


async def read_form(request: Request, *, keep_blank_values: bool = False, first_wins: bool = False) -> dict[str, str]:
    """The body as a flat dict; a repeated field keeps its last value (its first if `first_wins`)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = parse_qsl(body, keep_blank_values=keep_blank_values)
    return dict(reversed(pairs)) if first_wins else dict(pairs)
