"""learnsync state store: ``from statestore import StateStore``."""

from __future__ import annotations

from typing import Any

__all__ = ["StateStore", "default_url"]


def __getattr__(name: str) -> Any:  # lazy: keep `import statestore.models` free of pandas
    if name in __all__:
        from learnsync.statestore import store

        return getattr(store, name)
    raise AttributeError(name)
