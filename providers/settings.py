"""learnsync's settings: the engine's (core/settings.py) and one section per registered provider.

`Settings` has a field per provider of the registry (providers/registry.py), typed by its spec's
`settings_model` and read from LEARNSYNC_<KEY>__<FIELD> (e.g. LEARNSYNC_UDEMY__CLIENT_ID); the
class is built once per set of registered providers.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field, create_model

from learnsync.core.redaction import register_settings
from learnsync.core.settings import EngineSettings, ProviderSettings
from learnsync.providers.registry import get_provider, provider_keys

__all__ = ["env_prefix", "load_settings", "settings_model"]  # and `Settings` (module __getattr__)


def env_prefix(key: str) -> str:
    """The environment variables of provider `key`'s section: LEARNSYNC_UDEMY__ for "udemy"."""
    return f"LEARNSYNC_{key.upper()}__"


@functools.cache
def _model(sections: tuple[tuple[str, type[ProviderSettings]], ...]) -> type[EngineSettings]:
    fields: dict[str, Any] = {key: (model, Field(default_factory=model)) for key, model in sections}
    return create_model("Settings", __base__=EngineSettings, __module__=__name__, **fields)


def settings_model() -> type[EngineSettings]:
    """The settings class for the providers registered now."""
    return _model(tuple((key, get_provider(key).settings_model) for key in provider_keys()))


def load_settings() -> EngineSettings:
    """The settings from the environment; their secrets are registered for redaction at once."""
    settings = settings_model()()
    register_settings(settings)
    return settings


def __getattr__(name: str) -> Any:
    if name == "Settings":  # the class of the providers registered when it is asked for
        return settings_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
