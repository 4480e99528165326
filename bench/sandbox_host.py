"""Sandboxes served from a child process, so they behave like remote APIs.

In-process sandboxes (tests, demo) share the GIL with the sync they serve: every page a sandbox
renders and every bulk item it processes would be charged to learnsync's wall time and memory.
The benchmark runs each group of sandboxes in its own process (`spawn`) and talks to it over a
pipe: start/stop a sandbox, read its request counts and what it stored.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from typing import Any


def _writes(counts: dict[str, int]) -> int:
    """Write requests that reached a 360Learning sandbox (the token endpoint excluded)."""
    return sum(n for route, n in counts.items() if not route.startswith(("GET", "POST /api/v2/oauth2")))


def _serve(conn: Any) -> None:  # runs in the child
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from learnsync.sandboxes.fleet import sandbox_app
    from learnsync.sandboxes.server import SandboxServer

    servers: dict[str, Any] = {}
    while True:
        try:
            command, *args = conn.recv()
        except EOFError:
            break
        try:
            if command == "start":
                key, name, config = args
                server = SandboxServer(sandbox_app(name, **config)).start()
                servers[key] = server
                answer: Any = server.url
            elif command == "stop":
                servers.pop(args[0]).stop()
                answer = None
            elif command == "lms_counts":
                store = servers[args[0]].app.state.store
                counts = store.request_counts()
                ops = store.bulk_operations()
                answer = {
                    "requests": counts,
                    "writes": _writes(counts),
                    "courses": len(store.courses()),
                    "attempts": len(store.attempts()),
                    "bulk_items": {t: sum(o["resultCount"] for o in ops if o["type"] == t) for t in {o["type"] for o in ops}},
                }
            elif command == "bulk_operations":
                answer = servers[args[0]].app.state.store.bulk_operations()
            elif command == "set_config":
                key, fields = args
                config = servers[key].app.state.store.config
                for name, value in fields.items():
                    setattr(config, name, value)
                answer = None
            elif command == "activity_rows":
                from datetime import date

                key, since, until = args  # ISO dates (inclusive) or None, as the API's filters
                store = servers[key].app.state.store
                answer = len(store.activities(since and date.fromisoformat(since), until and date.fromisoformat(until)))
            elif command == "reset_counts":
                servers[args[0]].app.state.store.reset_request_counts()
                answer = None
            elif command == "provider_summary":
                answer = servers[args[0]].app.state.store.summary()
            elif command == "exit":
                conn.send(("ok", None))
                break
            else:
                raise ValueError(f"unknown command {command!r}")
            conn.send(("ok", answer))
        except Exception as exc:  # report to the parent, keep serving
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    for server in servers.values():
        server.stop()


class SandboxHost:
    """One child process serving sandboxes on loopback. Use as a context manager."""

    def __init__(self, label: str) -> None:
        ctx = mp.get_context("spawn")
        self.label = label
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), name=f"bench-sandboxes-{label}", daemon=True)
        self._proc.start()
        child.close()

    def call(self, *command: Any) -> Any:
        self._conn.send(command)
        status, answer = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"sandbox host {self.label}: {answer}")
        return answer

    def start(self, key: str, name: str, **config: Any) -> str:
        """Start sandbox `name` ("lms360" or a provider key) under `key`; returns its base URL."""
        return self.call("start", key, name, config)

    def stop(self, key: str) -> None:
        self.call("stop", key)

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self.call("exit")
            except (EOFError, OSError, RuntimeError):
                pass
            self._proc.join(timeout=15)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(timeout=5)

    def __enter__(self) -> SandboxHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
