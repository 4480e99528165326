"""Coursera for Business provider: catalog `contents` and `enrollmentReports` statistics."""

from __future__ import annotations

from learnsync.providers.base import ProviderSpec
from learnsync.providers.kit.languages import is_language_code
from learnsync.providers.coursera import settings as cs
from learnsync.providers.coursera.client import CourseraClient, make_client
from learnsync.providers.coursera.mapping import content_type_key, map_catalog, map_stats

PROVIDER = ProviderSpec(
    key=cs.KEY,
    display_name=cs.DISPLAY_NAME,
    catalog_streams=lambda options: (cs.CATALOG_STREAM,),
    make_client=make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    archive_missing=False,  # "Course archiving is not supported" (docs: COURSERA-15, D-06)
    archive_on_provider_status=False,
    restore_on_reappear=False,
    filter_restores=False,  # a filter match does not unarchive (docs: COURSERA-19, D-06)
    supports_filters=("languages", "content_types"),
    filter_vocabulary={
        "languages": is_language_code,
        "content_types": lambda value: content_type_key(value) in cs.CONTENT_TYPES,
    },
    content_cron=cs.CONTENT_CRON,
    stats_cron=cs.STATS_CRON,
    default_options={},
)

__all__ = ["PROVIDER", "CourseraClient", "map_catalog", "map_stats"]
