"""Start every sandbox on loopback and point learnsync's settings at them (demo, tests, bench)."""

from __future__ import annotations

import importlib
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from learnsync.sandboxes.server import SandboxServer

PROVIDER_SANDBOXES = {
    "udemy": "UdemySandboxConfig",
    "coursera": "CourseraSandboxConfig",
    "edflex": "EdflexSandboxConfig",
    "openclassrooms": "OpenClassroomsSandboxConfig",
}


def sandbox_app(name: str, **config: Any) -> Any:
    """The ASGI app of sandbox `name` ("lms360" or a provider key) built from config overrides."""
    if name == "lms360":
        module = importlib.import_module("learnsync.sandboxes.lms360")
        return module.create_app(module.Lms360SandboxConfig(**config))
    module = importlib.import_module(f"learnsync.sandboxes.{name}")
    return module.create_app(getattr(module, PROVIDER_SANDBOXES[name])(**config))


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
        env = {"LEARNSYNC_LMS360__BASE_URL": self.url("lms360")}
        for name in self.servers:
            if name != "lms360":
                env[f"LEARNSYNC_{name.upper()}__BASE_URL"] = self.url(name)
        return env

    def apply_env(self) -> None:
        os.environ.update(self.env())

    def close(self) -> None:
        self._stack.close()


def default_ports() -> dict[str, int]:
    """The port of each sandbox that learnsync's settings point at by default (8100-8104)."""
    from urllib.parse import urlsplit

    from learnsync.core.settings import Lms360Settings, Settings

    ports = {"lms360": urlsplit(Lms360Settings.model_fields["base_url"].default).port or 8100}
    for name in PROVIDER_SANDBOXES:
        model = Settings.model_fields[name].annotation
        ports[name] = urlsplit(model.model_fields["base_url"].default).port or 0  # type: ignore[union-attr]
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
        for name in ["lms360", *providers]:
            server = SandboxServer(sandbox_app(name, **configs.get(name, {})), host=host, port=ports.get(name, 0))
            fleet._stack.enter_context(server)
            fleet.servers[name] = server
    except BaseException:
        fleet.close()  # the ones already started stop (a port in use must not leave the others up)
        raise
    return fleet
