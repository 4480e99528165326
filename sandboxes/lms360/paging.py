"""Bracket filters (`field[op]=v`, `field[in][0]=v`) and `Link: <...>; rel="next"` cursor paging.

The `next` token is opaque to clients (base64 JSON) and carries the filters and the cursor,
as the real API's does (docs/lms360.md: Conventions); when `next` is present other query params are ignored.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request

from .errors import business

_FILTER_KEY = re.compile(r"^(?P<field>[A-Za-z_.]+)\[(?P<op>[a-z]+)\](?:\[(?P<idx>\d*)\])?$")
_LIST_OPS = {"in", "nin"}

Filters = dict[str, tuple[str, Any]]


def parse_filters(request: Request, allowed: dict[str, set[str]]) -> Filters:
    """Read bracket filters from the query string; unknown fields/operators are a 400."""
    filters: Filters = {}
    for key, value in request.query_params.multi_items():
        if key == "next":
            continue
        match = _FILTER_KEY.match(key)
        if not match:
            raise business(400, "invalidFilter", f"unsupported query parameter {key!r}")
        field, op = match["field"], match["op"]
        if op not in allowed.get(field, set()):
            raise business(400, "invalidFilter", f"filter {field}[{op}] is not supported here")
        if op in _LIST_OPS:
            previous = filters.get(field, (op, []))[1]
            filters[field] = (op, [*previous, value])
        elif field in filters and filters[field][0] != op:
            # Date ranges combine two operators on one field (lt + gte).
            filters[field] = ("range", {**_as_range(filters[field]), op: value})
        else:
            filters[field] = (op, value)
    return filters


def _as_range(existing: tuple[str, Any]) -> dict[str, Any]:
    op, value = existing
    return dict(value) if op == "range" else {op: value}


def _norm(value: Any, fold: bool) -> Any:
    return value.lower() if fold and isinstance(value, str) else value


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise business(400, "invalidFilter", "date filters need ISO 8601 values") from None


def _bound(value: Any) -> datetime:
    """A date filter's bound: an empty one is as invalid as one that is not ISO 8601."""
    when = _date(value)
    if when is None:
        raise business(400, "invalidFilter", "date filters need ISO 8601 values")
    return when


def matches(item: dict[str, Any], filters: Filters, casefold: Iterable[str] = ()) -> bool:
    """Apply parsed filters to one item (fields in `casefold` compare case-insensitively)."""
    folded = set(casefold)
    for field, (op, wanted) in filters.items():
        fold = field in folded
        have = _norm(item.get(field), fold)
        if op == "eq":
            ok = have == _norm(_coerce(wanted, have), fold)
        elif op == "ne":
            ok = have != _norm(_coerce(wanted, have), fold)
        elif op == "in":
            ok = have in {_norm(w, fold) for w in wanted}
        elif op == "nin":
            ok = have not in {_norm(w, fold) for w in wanted}
        else:
            bounds = wanted if op == "range" else {op: wanted}
            when = _date(have)
            ok = when is not None
            if when is not None:
                if "lt" in bounds:
                    ok = when < _bound(bounds["lt"])
                if ok and "gte" in bounds:
                    ok = when >= _bound(bounds["gte"])
        if not ok:
            return False
    return True


def _coerce(wanted: str, have: Any) -> Any:
    # Query strings are text; boolean fields (isMain[eq]=true) compare as booleans.
    if isinstance(have, bool):
        return wanted.lower() == "true"
    return wanted


@dataclass
class Page:
    items: list[Any]
    link: str | None


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise business(400, "invalidNextToken", "the next token is not valid") from None
    if not isinstance(data, dict):
        raise business(400, "invalidNextToken", "the next token is not valid")
    return data


def paginate(
    request: Request,
    source: Callable[[Filters], list[Any]],
    allowed: dict[str, set[str]],
    page_size: int,
    key: Callable[[Any], str],
) -> Page:
    """One page of `source(filters)` (sorted by `key`), with the Link URL of the next page."""
    token = request.query_params.get("next")
    route = request.url.path
    if token:
        state = _decode(token)
        if state.get("r") != route:
            raise business(400, "invalidNextToken", "the next token belongs to another list")
        filters: Filters = {f: (op, v) for f, (op, v) in state.get("f", {}).items()}
        after: str | None = state.get("a")
    else:
        filters, after = parse_filters(request, allowed), None
    rows = sorted(source(filters), key=key)
    if after is not None:
        rows = [r for r in rows if key(r) > after]
    page, more = rows[:page_size], len(rows) > page_size
    link = None
    if more:
        next_token = _encode({"r": route, "f": filters, "a": key(page[-1])})
        link = f'<{request.url.replace(query="next=" + next_token)}>; rel="next"'
    return Page(page, link)
