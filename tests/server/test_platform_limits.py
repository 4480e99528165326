"""360Learning's per-platform limits hold across processes (Prefect global concurrency limits).

Two processes push writes and bulk jobs at one 360Learning sandbox at once, each as fast as its
own client allows (9 writes/s, 3 bulk jobs). The sandbox enforces the platform's real budgets
(10 writes/s, 3 executing bulk operations) and answers 429 past them. Without the shared limits
the pair exceeds both; with them (the default, through the real Prefect server) it never does.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

import pytest

from learnsync.sandboxes.server import SandboxServer
from tests.server.conftest import ROOT

pytestmark = pytest.mark.server
FAST = '{"attempts": 8, "base_wait": 0.05, "max_wait": 0.5, "jitter": 0.1, "retry_after_cap": 1.0}'
WRITES, JOBS = 40, 8  # per process


class StatusCounter:
    """ASGI wrapper counting the sandbox's responses by status, and its 429s by error code."""

    def __init__(self, app: Any) -> None:
        self.app, self.statuses, self.codes_429 = app, Counter(), Counter()
        self.state = app.state

    def reset(self) -> None:
        self.statuses.clear()
        self.codes_429.clear()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = {"code": 0}

        async def counting(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                self.statuses[message["status"]] += 1
            elif message["type"] == "http.response.body" and status["code"] == 429:
                body = message.get("body", b"").decode(errors="replace")
                self.codes_429["bulkOperationsConcurrencyLimitReached" if "bulkOperationsConcurrency" in body else "tooManyRequests"] += 1
            await send(message)

        await self.app(scope, receive, counting)


def two_processes(prefect_server: Any, lms_url: str, integration_id: str, round_: str, global_limits: bool) -> list[dict]:
    env = {
        "LEARNSYNC_LMS360__BASE_URL": lms_url,
        "LEARNSYNC_LMS360__RETRY": FAST,
        "LEARNSYNC_LMS360__POLL_INTERVAL_SECONDS": "0.05",
        "LEARNSYNC_LMS360__POLL_MAX_INTERVAL_SECONDS": "0.2",
        "LEARNSYNC_LMS360__GLOBAL_LIMITS": str(global_limits).lower(),
        "PYTHONPATH": str(ROOT),
    }
    script = str(ROOT / "tests" / "server" / "limits_load.py")
    procs = [
        prefect_server.start(sys.executable, script, f"{round_}-{name}", integration_id, str(WRITES), str(JOBS), env=env, log=prefect_server.home / f"{round_}-{name}.log")
        for name in ("udemy", "coursera")
    ]
    out = []
    for p, name in zip(procs, ("udemy", "coursera")):
        try:
            p.wait(timeout=240)
        finally:
            if p.poll() is None:
                p.kill()
        log = (prefect_server.home / f"{round_}-{name}.log").read_text()
        assert p.returncode == 0, log[-3000:]
        out.append(json.loads(next(line for line in reversed(log.splitlines()) if line.startswith("{"))))  # Prefect may log after it
    return out


@pytest.mark.rule("V2-40", "V2-39")
def test_two_processes_never_exceed_the_platforms_write_rate_or_bulk_slots(prefect_api):
    import asyncio

    from learnsync.core.settings import Lms360Settings
    from learnsync.lms360.client import Lms360Client
    from learnsync.lms360.models import IntegrationCreate
    from learnsync.sandboxes.fleet import sandbox_app

    app = StatusCounter(sandbox_app("lms360", bulk_item_delay_seconds=0.25))
    with SandboxServer(app) as lms:

        async def integration() -> str:
            async with Lms360Client(Lms360Settings(base_url=lms.url, global_limits=False)) as client:
                created = await client.create_integration(IntegrationCreate(
                    externalPlatform="Load", groupId="62be0535045424d93edaad7b", authorId="62bdbc00293a604543f44386",
                    defaultCompletion=True, defaultProgress=0, noGroupPropagation=False,
                ))  # fmt: skip
                return created.id

        iid = asyncio.run(integration())

        # Control: each process on its own limiters only; together they go over both budgets.
        app.reset()
        two_processes(prefect_api, lms.url, iid, "alone", global_limits=False)
        alone = dict(app.codes_429)
        assert alone.get("tooManyRequests", 0) > 0 and alone.get("bulkOperationsConcurrencyLimitReached", 0) > 0, alone

        app.reset()
        started = time.monotonic()
        results = two_processes(prefect_api, lms.url, iid, "shared", global_limits=True)
        seconds = time.monotonic() - started
        assert app.statuses[429] == 0, dict(app.codes_429)
        assert all(r["failed_items"] == 0 and r["bulk_operations"] == {"upsert": JOBS} for r in results), results
        assert all(r["retries"] == 0 for r in results), results
        print(f"platform limits: alone {alone}; shared 429s {app.statuses[429]}, {2 * (WRITES + JOBS)} writes in {seconds:.1f} s")
