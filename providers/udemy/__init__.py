"""Udemy Business provider: courses (+ optional public learning paths) and course activity."""

from __future__ import annotations

from typing import Any

from learnsync.providers.base import BenchFixture, ProviderSpec, SandboxSpec
from learnsync.providers.udemy import settings as K
from learnsync.providers.udemy.client import RECORDS, UdemyClient, make_client
from learnsync.providers.udemy.mapping import map_catalog, map_stats


def _streams(options: dict[str, Any]) -> tuple[str, ...]:
    return ("courses",) + (("learning_paths",) if options.get("learning_paths_sync") else ())


PROVIDER = ProviderSpec(
    key=K.KEY,
    display_name=K.SOURCE_NAME,
    catalog_streams=_streams,
    make_client=make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    settings_model=K.UdemySettings,
    sandbox=SandboxSpec("learnsync.sandboxes.udemy:create_app", "learnsync.sandboxes.udemy:UdemySandboxConfig", K.SANDBOX_PORT),
    bench=BenchFixture("learnsync.sandboxes.udemy.data:bench_activity", RECORDS["activity"], ("user_email",)),
    archive_missing=True,
    archive_on_provider_status=True,
    restore_on_reappear=True,
    content_cron=K.CONTENT_CRON,
    stats_cron=K.STATS_CRON,
    reconcile_cron="0 5 * * 0",
    default_options={"tags_sync": False, "learning_paths_sync": False},
)

__all__ = ["PROVIDER", "UdemyClient", "map_catalog", "map_stats"]
