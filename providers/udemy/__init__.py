"""Udemy Business provider: courses (+ optional public learning paths) and course activity."""

from __future__ import annotations

from typing import Any

from learnsync.core.settings import ProviderSettings
from learnsync.providers.base import ProviderSpec
from learnsync.providers.udemy import settings as K
from learnsync.providers.udemy.client import UdemyClient
from learnsync.providers.udemy.mapping import map_catalog, map_stats


def _streams(options: dict[str, Any]) -> tuple[str, ...]:
    return ("courses",) + (("learning_paths",) if options.get("learning_paths_sync") else ())


def _make_client(settings: ProviderSettings) -> UdemyClient:
    return UdemyClient(settings)


PROVIDER = ProviderSpec(
    key="udemy",
    display_name=K.SOURCE_NAME,
    catalog_streams=_streams,
    make_client=_make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    archive_missing=True,
    archive_on_provider_status=True,
    restore_on_reappear=True,
    content_cron=K.CONTENT_CRON,
    stats_cron=K.STATS_CRON,
    default_options={"tags_sync": False, "learning_paths_sync": False},
)

__all__ = ["PROVIDER", "UdemyClient", "map_catalog", "map_stats"]
