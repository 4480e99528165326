"""Register learnsync on a Prefect API: the work-pool deployments of prefect.yaml, the global
concurrency limits they rely on, and (with a notification block) the alerting automations.

`register()` is `learnsync deploy`: it renders the deployments from deployments/definitions.py
and hands them to `prefect deploy --all`, so `learnsync deploy` and
`prefect deploy --all --prefect-file deployments/prefect.yaml` register the same thing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from learnsync.deployments.automations import ensure_automations
from learnsync.deployments.definitions import WORK_POOL, definitions, render_prefect_yaml
from learnsync.deployments.limits import ensure_limits


@dataclass
class Registration:
    deployments: list[str]
    limits: list[str] = field(default_factory=list)
    automations: list[str] = field(default_factory=list)


class DeployError(RuntimeError):
    """`prefect deploy` refused the deployments (its last output lines say why)."""


async def ensure_work_pool(name: str) -> bool:
    """Create the process work pool when missing; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            return False
        except ObjectNotFound:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def prefect_deploy(prefect_file: Path, *, env: dict[str, str] | None = None, timeout: float = 600) -> None:
    """`prefect --no-prompt deploy --all --prefect-file FILE` with this interpreter's Prefect."""
    cmd = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)]
    done = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise DeployError(f"prefect deploy failed (exit {done.returncode}): {tail}")


def register(
    platform: str = "default",
    providers: list[str] | None = None,
    *,
    work_pool: str = WORK_POOL,
    notify_block: str | None = None,
) -> Registration:
    """Deployments on `work_pool` (created if missing), limits, and automations when a block is named."""
    defs = definitions(platform, providers)
    asyncio.run(ensure_work_pool(work_pool))
    with tempfile.TemporaryDirectory(prefix="learnsync-deploy-") as tmp:
        path = Path(tmp) / "prefect.yaml"
        path.write_text(render_prefect_yaml(platform, providers, work_pool))
        prefect_deploy(path)
    out = Registration(deployments=[d.full_name for d in defs])
    out.limits = asyncio.run(ensure_limits(platform, [d.provider for d in defs if d.provider]))
    if notify_block:
        out.automations = asyncio.run(ensure_automations(notify_block))
    return out
