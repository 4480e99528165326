"""How the interpreter runs while pages are read and mapped (performance only, no rule here):
the cyclic garbage collector paused over a catalog's many small containers, and a shorter GIL
switch interval so the event loop answers while a worker thread maps a chunk.

The cleaning of values lives in `providers.kit.cleaning`.
"""

from __future__ import annotations

import functools
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


_switch_lock = threading.Lock()
_switch_depth = 0
_switch_was = 0.005
RESPONSIVE_SWITCH_INTERVAL = 0.001


@contextmanager
def responsive_switching() -> Iterator[None]:
    """A 1 ms GIL switch interval instead of 5 ms (re-entrant, across threads).

    While a worker thread maps a chunk, the event loop thread waits up to the switch interval
    for the GIL each time a page arrives: at 5 ms, page handling and new requests stall behind
    the mapping; at 1 ms they interleave.
    """
    global _switch_depth, _switch_was
    with _switch_lock:
        if _switch_depth == 0:
            _switch_was = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_was, RESPONSIVE_SWITCH_INTERVAL))
        _switch_depth += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_depth -= 1
            if _switch_depth == 0:
                sys.setswitchinterval(_switch_was)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (re-entrant, across threads).

    A catalog holds hundreds of thousands of small containers (nested dicts and lists of the
    pages) while it is read and mapped; every generation-2 collection walks all of them again,
    which costs as much as the work itself. Those records hold no reference cycles
    (refcounting frees them), and cycles others create meanwhile are collected when the
    outermost pause ends.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def without_gc(fn: F) -> F:
    """Run a mapping with the cyclic garbage collector paused (see `paused_gc`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with paused_gc():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
