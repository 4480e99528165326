"""360Learning API v2 sandbox: `create_app(Lms360SandboxConfig(...))` → ASGI app with `.state.store`."""

from .app import create_app
from .config import Lms360SandboxConfig

__all__ = ["create_app", "Lms360SandboxConfig"]
