"""One process pushing a provider's worth of writes and bulk jobs at one 360Learning platform as
fast as its own client allows (run by test_platform_limits.py, two at a time). Prints its counters."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


def course(external_id: str) -> dict[str, Any]:
    return {
        "externalId": external_id, "name": f"Course {external_id}", "launchUrl": f"https://provider.example/{external_id}",
        "defaultLang": "en", "subjects": ["IT"], "sources": [{"name": "Load"}],
    }


async def main(tag: str, integration_id: str, writes: int, jobs: int) -> dict[str, Any]:
    from learnsync.lms360.client import Lms360Client
    from learnsync.providers.settings import load_settings

    settings = load_settings().lms360
    async with Lms360Client(settings, max_upsert_batch=1, bulk_submit_patience=0.0) as client:
        tags = [client.create_tag(f"{tag}-{i}") for i in range(writes)]
        bulk = client.upsert_courses(integration_id, [course(f"{tag}-{i}") for i in range(jobs)])
        results = await asyncio.gather(bulk, *tags)
        failed = [r for r in results[0] if not getattr(r, "success", True) or getattr(r, "error_message", None)]
        return {"tag": tag, "failed_items": len(failed), **client.counters()}


if __name__ == "__main__":
    tag, integration_id, writes, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(main(tag, integration_id, writes, jobs))))
