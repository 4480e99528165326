"""Announced page tokens: what page 1's size and total say the later pages are, produced lazily.

A provider that pages by number or offset and announces a total lets the engine fetch the later
pages concurrently. The announcement is a hint, never the truth: the engine still follows each
page's own next token, stops at the first page without one, and treats a read whose record
count differs from the announced total as incomplete (nothing archived). An absurd total
(10^9) costs nothing here: a `TokenRange` holds three integers, not a list of tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from learnsync.providers.base import Page


class TokenRange(Sequence[str]):
    """Page tokens `str(start)`, `str(start + step)`, ... below `stop`: a lazy, picklable sequence."""

    __slots__ = ("_range",)

    def __init__(self, start: int, stop: int, step: int = 1) -> None:
        self._range = range(start, stop, step)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> "TokenRange": ...

    def __getitem__(self, index: int | slice) -> "str | TokenRange":
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
