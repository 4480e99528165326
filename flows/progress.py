"""A run's progress artifact: one bar in the Prefect UI that moves while a long push or backfill runs."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger("learnsync.progress")


class RunProgress:
    """Percent done of one run, published as a Prefect progress artifact under `key`.

    Updates are throttled (`every` seconds) and sent in the background: a slow or absent
    Prefect API never slows the sync down. Without a flow run (a plain call) nothing is sent.
    """

    def __init__(self, key: str, description: str, *, every: float = 1.0) -> None:
        self.key, self.description, self.every = key, description, every
        self.percent = 0.0
        self._artifact: Any = None
        self._sent_at = 0.0
        self._sending: asyncio.Task[None] | None = None
        self._disabled = False

    def update(self, percent: float, description: str | None = None) -> None:
        """Move the bar (never backwards); sent at most every `every` seconds."""
        self.percent = max(self.percent, min(100.0, float(percent)))
        if description:
            self.description = description
        now = time.monotonic()
        if self._disabled or now - self._sent_at < self.every or (self._sending and not self._sending.done()):
            return
        self._sent_at = now
        try:
            self._sending = asyncio.get_running_loop().create_task(self._send(self.percent, self.description))
        except RuntimeError:  # no running loop (a plain synchronous call)
            self._disabled = True

    async def close(self, description: str | None = None) -> None:
        """The run is over: the bar shows where it ended (100 when everything was done)."""
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)
        if description:
            self.description = description
        if not self._disabled:
            await self._send(self.percent, self.description)

    async def _send(self, percent: float, description: str) -> None:
        from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            self._disabled = True
            return
        try:
            if self._artifact is None:
                self._artifact = await acreate_progress_artifact(progress=round(percent, 1), key=self.key, description=description)
            else:
                await aupdate_progress_artifact(self._artifact, progress=round(percent, 1), description=description)
        except Exception as exc:  # no Prefect API: the run goes on without its bar
            self._disabled = True
            log.warning("The progress artifact %s was not published: %s", self.key, type(exc).__name__)
