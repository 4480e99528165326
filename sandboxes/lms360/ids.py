"""Identifier and timestamp formats of API v2 (docs/lms360.md: Conventions)."""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import string
import threading
import time
from datetime import UTC, datetime


class ObjectIdFactory:
    """Mongo-style 24-hex ids: time + per-store random + counter, so ids sort by creation."""

    def __init__(self) -> None:
        self._machine = os.urandom(5).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(2), "big"))
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            count = next(self._counter) & 0xFFFFFF
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._machine}{count:06x}"


def user_id_for(mail: str) -> str:
    """Deterministic user id from the e-mail, so seeded directories are stable across runs."""
    return hashlib.sha1(mail.lower().encode()).hexdigest()[:24]


_ALNUM = string.ascii_letters + string.digits


def skill_id() -> str:
    """Skill ids are not ObjectIds (example `SKI1234567890123abcDE`)."""
    return "SKI" + "".join(secrets.choice(_ALNUM) for _ in range(18))


def access_token() -> str:
    """A JWT-looking opaque bearer token."""
    return "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(32)


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """`YYYY-MM-DDThh:mm:ss.sssZ`, the API's timestamp format."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
