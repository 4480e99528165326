"""Coursera for Business provider: catalog `contents` and `enrollmentReports` statistics."""

from __future__ import annotations

from learnsync.providers.base import BenchFixture, ProviderSpec, SandboxSpec
from learnsync.providers.coursera import settings as cs
from learnsync.providers.coursera.client import ENROLLMENTS, CourseraClient, make_client
from learnsync.providers.coursera.mapping import content_type_key, map_catalog, map_stats
from learnsync.providers.kit.languages import is_language_code

PROVIDER = ProviderSpec(
    key=cs.KEY,
    display_name=cs.DISPLAY_NAME,
    catalog_streams=lambda options: (cs.CATALOG_STREAM,),
    make_client=make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    settings_model=cs.CourseraSettings,
    sandbox=SandboxSpec("learnsync.sandboxes.coursera:create_app", "learnsync.sandboxes.coursera:CourseraSandboxConfig", cs.SANDBOX_PORT),
    # Coursera's row id starts with the learner's e-mail too
    bench=BenchFixture("learnsync.sandboxes.coursera.data:bench_activity", ENROLLMENTS, ("externalId", "email", "id")),
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
    reconcile_cron="30 5 * * 0",
    default_options={},
)

__all__ = ["PROVIDER", "CourseraClient", "map_catalog", "map_stats"]
