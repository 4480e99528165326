"""The same full catalog sync done the naive way, for comparison.

Same provider client, same mapping, same 360Learning client, but: pages read one after the
other, no state and no diffing (every course is sent), and one bulk job at a time
(`max_concurrent_bulk=1`). No Prefect either: a plain script, as one would first write it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from learnsync.core.settings import EngineSettings as Settings
from learnsync.lms360.client import Lms360Client
from learnsync.lms360.models import IntegrationCreate
from learnsync.providers.base import MappingContext
from learnsync.providers.registry import get_provider
from learnsync.tasks.diff import build_payloads


async def naive_catalog_sync(provider: str, settings: Settings) -> dict[str, Any]:
    spec = get_provider(provider)
    options = dict(spec.default_options)
    client = spec.make_client(settings.provider(provider))
    frames = []
    try:
        for stream in spec.catalog_streams(options):
            records: list[dict[str, Any]] = []
            token: str | None = None
            while True:  # sequential pages
                page = await client.fetch_catalog_page(stream, token)
                records.extend(page.parsed_records())
                token = page.next_token
                if token is None:
                    break
            ctx = MappingContext(owner_lang=settings.lms360.owner_lang, now=datetime.now(UTC), options=options)
            frames.append(spec.map_catalog(pd.DataFrame.from_records(records), stream, ctx).courses)
    finally:
        await client.aclose()
    courses = pd.concat(frames, ignore_index=True)
    payloads = build_payloads(courses)  # no diffing: everything is sent
    one_at_a_time = settings.lms360.model_copy(update={"max_concurrent_bulk": 1})
    async with Lms360Client(one_at_a_time) as lms:
        integration = await lms.create_integration(
            IntegrationCreate(
                external_platform=spec.display_name + " naive",
                group_id=settings.lms360.group_id,
                author_id=settings.lms360.author_id,
                default_completion=True,
                default_progress=0,
                no_group_propagation=False,
            )
        )
        results = await lms.upsert_courses(integration.id, payloads)
    return {"sent": len(payloads), "ok": sum(1 for r in results if getattr(r, "ok", False))}
