"""Edflex Connect API sandbox: `create_app(EdflexSandboxConfig(...))` (FastAPI, fault-injectable)."""

from learnsync.sandboxes.edflex.app import EdflexSandboxConfig, create_app

__all__ = ["EdflexSandboxConfig", "create_app"]
