"""Reading the `Authorization` header: Basic client credentials and Bearer tokens."""

from __future__ import annotations

import base64


def basic_credentials(header: str | None, *, strict: bool = False) -> tuple[str, str] | None:
    """(user, password) of a `Basic` header; None if absent, another scheme or undecodable.

    `strict` rejects characters outside the base64 alphabet instead of skipping them."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=strict).decode().partition(":")
    except ValueError:  # bad base64 (binascii.Error), non-ASCII, or not UTF-8 (UnicodeDecodeError)
        return None
    return user, password


def bearer_token(header: str | None) -> str | None:
    """The token of a `Bearer` header (scheme case-insensitive), else None."""
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None
