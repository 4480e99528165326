"""The two error envelopes of API v2 (docs/lms360.md: Conventions), raised from anywhere in the sandbox."""

from __future__ import annotations


class ApiFault(Exception):
    """An HTTP error answer; turned into a JSON response by the app's exception handler."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def business(status: int, code: str, message: str) -> ApiFault:
    """Business/validation error: {"error": {"code", "message"}}."""
    return ApiFault(status, {"error": {"code": code, "message": message}})


def flat(status: int, code: str, headers: dict[str, str] | None = None) -> ApiFault:
    """Token / rate-limit error: {"error": "<code>"}."""
    return ApiFault(status, {"error": code}, headers)


class ItemError(Exception):
    """One bulk item failed; the message becomes its `errorMessage` in the results."""
