"""The list of providers. Adding one: create `providers/<key>/` and add its key here."""

from __future__ import annotations

import importlib

from learnsync.providers.base import ProviderSpec

PROVIDER_KEYS = ("udemy", "coursera", "edflex", "openclassrooms")


def get_provider(key: str) -> ProviderSpec:
    if key not in PROVIDER_KEYS:
        raise KeyError(f"unknown provider {key!r}; known: {', '.join(PROVIDER_KEYS)}")
    return importlib.import_module(f"learnsync.providers.{key}").PROVIDER


def available_providers() -> list[str]:
    """Providers whose package imports (all of them, once each connector is in)."""
    found = []
    for key in PROVIDER_KEYS:
        try:
            get_provider(key)
        except (ImportError, AttributeError):
            continue
        found.append(key)
    return found
