"""Edflex provider: Connect API client, raw models and mapping rules (docs/rules/edflex.md)."""

from __future__ import annotations

from learnsync.providers.base import ProviderSpec
from learnsync.providers.edflex.client import EdflexClient, make_client
from learnsync.providers.edflex.mapping import map_catalog, map_stats
from learnsync.providers.edflex.settings import CATALOG_STREAM, CONTENT_CRON, STATS_CRON

PROVIDER = ProviderSpec(
    key="edflex",
    display_name="Edflex",
    catalog_streams=lambda options: (CATALOG_STREAM,),
    make_client=make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    archive_missing=True,
    archive_on_provider_status=True,
    restore_on_reappear=True,
    # The mapping keeps both copies of an id served twice; the last one is synced.
    duplicates_keep="last",
    # Rule: statistics played before the connector was deployed are retrieved.
    stats_full_history_first_run=True,
    content_cron=CONTENT_CRON,
    stats_cron=STATS_CRON,
    default_options={"skills_sync": False},
)

__all__ = ["PROVIDER", "EdflexClient"]
