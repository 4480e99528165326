"""Edflex provider: Connect API client, raw models and mapping rules (docs/rules/edflex.md)."""

from __future__ import annotations

from learnsync.providers.base import BenchFixture, ProviderSpec, SandboxSpec
from learnsync.providers.edflex import settings as edx
from learnsync.providers.edflex.client import EdflexClient, make_client, statistics
from learnsync.providers.edflex.mapping import map_catalog, map_stats

PROVIDER = ProviderSpec(
    key=edx.KEY,
    display_name="Edflex",
    catalog_streams=lambda options: (edx.CATALOG_STREAM,),
    make_client=make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    settings_model=edx.EdflexSettings,
    sandbox=SandboxSpec("learnsync.sandboxes.edflex:create_app", "learnsync.sandboxes.edflex:EdflexSandboxConfig", edx.SANDBOX_PORT),
    bench=BenchFixture("learnsync.sandboxes.edflex.data:bench_activity", statistics, ("userEmail",)),
    archive_missing=True,
    archive_on_provider_status=True,
    restore_on_reappear=True,
    # The mapping keeps both copies of an id served twice; the last one is synced.
    duplicates_keep="last",
    # Rule: statistics played before the connector was deployed are retrieved.
    stats_full_history_first_run=True,
    content_cron=edx.CONTENT_CRON,
    stats_cron=edx.STATS_CRON,
    reconcile_cron="15 5 * * 0",
    default_options={"skills_sync": False},
)

__all__ = ["PROVIDER", "EdflexClient"]
