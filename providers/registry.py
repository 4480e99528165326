"""The providers learnsync syncs, one line each.

`PROVIDERS` maps a provider's key to the module declaring its `PROVIDER: ProviderSpec`
(providers/base.py). A provider kept outside this repository is registered by one line too:
an entry point of its distribution (`[project.entry-points."learnsync.providers"]` with
`acme = "acme_provider"`), or the `LEARNSYNC_EXTRA_PROVIDERS` variable (`acme=acme_provider`,
comma-separated) of the processes that run it. Everything else about a provider is derived from
its spec: its settings section (providers/settings.py), its sandbox (sandboxes/fleet.py), the
CLI's choices and ports, its deployments, its benchmark fixture and the test fleet.
"""

from __future__ import annotations

import functools
import importlib
import os
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the keys are read without importing any provider (the CLI's help is built from them)
    from learnsync.providers.base import ProviderSpec

PROVIDERS = {
    "udemy": "learnsync.providers.udemy",
    "coursera": "learnsync.providers.coursera",
    "edflex": "learnsync.providers.edflex",
    "openclassrooms": "learnsync.providers.openclassrooms",
}
ENTRY_POINT_GROUP = "learnsync.providers"
EXTRA_PROVIDERS = "LEARNSYNC_EXTRA_PROVIDERS"


class ProviderRegistryError(ValueError):
    """A registered provider cannot be used: the message names the registration and the reason."""


@functools.cache
def _installed() -> tuple[tuple[str, str], ...]:
    return tuple((ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP))


def _extra(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, module = (p.strip() for p in item.partition("="))
        if not sep or not key or not module:
            raise ProviderRegistryError(f"{EXTRA_PROVIDERS}: {item!r} is not key=module (e.g. acme=acme_provider)")
        out[key] = module
    return out


def provider_modules() -> dict[str, str]:
    """Key -> module of every registered provider, in order: this file's, installed, then the variable's."""
    return {**PROVIDERS, **dict(_installed()), **_extra(os.environ.get(EXTRA_PROVIDERS, ""))}


def provider_keys() -> tuple[str, ...]:
    return tuple(provider_modules())


def get_provider(key: str) -> ProviderSpec:
    from learnsync.providers.base import ProviderSpec

    modules = provider_modules()
    if key not in modules:
        raise KeyError(f"unknown provider {key!r}; known: {', '.join(modules)}")
    try:
        spec = importlib.import_module(modules[key]).PROVIDER
    except (ImportError, AttributeError) as exc:
        raise ProviderRegistryError(f"provider {key!r} ({modules[key]}) has no PROVIDER spec: {type(exc).__name__}: {exc}") from exc
    if not isinstance(spec, ProviderSpec) or spec.key != key:
        raise ProviderRegistryError(f"provider {key!r} ({modules[key]}): PROVIDER is not the ProviderSpec of {key!r}")
    return spec


def available_providers() -> list[str]:
    """Every registered provider (each spec loads, or the registry error names the one that does not)."""
    keys = list(provider_keys())
    for key in keys:
        get_provider(key)
    return keys
