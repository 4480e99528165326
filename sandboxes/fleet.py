"""Start every sandbox on loopback and point learnsync's settings at them (demo, tests, bench).

The 360Learning sandbox is `learnsync.sandboxes.lms360`; a provider's is the one its spec names
(`ProviderSpec.sandbox`: app factory, config class and port), for every registered provider.
"""

from __future__ import annotations

import importlib
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from learnsync.core.settings import Lms360Settings
from learnsync.providers.base import SandboxSpec
from learnsync.providers.registry import get_provider, provider_keys
from learnsync.providers.settings import env_prefix
from learnsync.sandboxes.server import SandboxServer

LMS360 = "lms360"


def _named(path: str) -> Any:
    """The object `module:name` names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def sandbox_spec(name: str) -> SandboxSpec:
    """Sandbox `name`: "lms360" or a provider key (its spec's `sandbox`)."""
    if name == LMS360:
        return SandboxSpec("learnsync.sandboxes.lms360:create_app", "learnsync.sandboxes.lms360:Lms360SandboxConfig", 8100)
    spec = get_provider(name).sandbox
    if spec is None:
        raise KeyError(f"provider {name!r} declares no sandbox (ProviderSpec.sandbox)")
    return spec


def sandbox_config_class(name: str) -> Any:
    """The config class of sandbox `name` ("lms360" or a provider key)."""
    return _named(sandbox_spec(name).config)


def sandbox_app(name: str, **config: Any) -> Any:
    """The ASGI app of sandbox `name` ("lms360" or a provider key) built from config overrides."""
    spec = sandbox_spec(name)
    return _named(spec.app)(_named(spec.config)(**config))


def provider_sandboxes() -> list[str]:
    """The registered providers that declare a sandbox."""
    return [key for key in provider_keys() if get_provider(key).sandbox is not None]


@dataclass
class SandboxFleet:
    """Running sandboxes by name, with their apps (for inspection and fault injection)."""

    servers: dict[str, SandboxServer] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    def app(self, name: str) -> Any:
        return self.servers[name].app

    def url(self, name: str) -> str:
        return self.servers[name].url

    def env(self) -> dict[str, str]:
        """Environment variables that point learnsync at these sandboxes."""
        env = {"LEARNSYNC_LMS360__BASE_URL": self.url(LMS360)}
        for name in self.servers:
            if name != LMS360:
                env[f"{env_prefix(name)}BASE_URL"] = self.url(name)
        return env

    def apply_env(self) -> None:
        os.environ.update(self.env())

    def close(self) -> None:
        self._stack.close()


def default_ports() -> dict[str, int]:
    """The port of each sandbox that learnsync's settings point at by default (8100, then each
    provider's `SandboxSpec.port`)."""
    from urllib.parse import urlsplit

    ports = {LMS360: urlsplit(Lms360Settings.model_fields["base_url"].default).port or 8100}
    for name in provider_sandboxes():
        ports[name] = sandbox_spec(name).port
    return ports


def start_fleet(
    providers: list[str], configs: dict[str, dict[str, Any]] | None = None, *, host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
) -> SandboxFleet:
    """Start the 360Learning sandbox and these providers' (on free ports unless `ports` says)."""
    configs = configs or {}
    ports = ports or {}
    fleet = SandboxFleet()
    try:
        for name in [LMS360, *providers]:
            server = SandboxServer(sandbox_app(name, **configs.get(name, {})), host=host, port=ports.get(name, 0))
            fleet._stack.enter_context(server)
            fleet.servers[name] = server
    except BaseException:
        fleet.close()  # the ones already started stop (a port in use must not leave the others up)
        raise
    return fleet
