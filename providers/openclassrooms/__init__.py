"""OpenClassrooms provider (B2B partner API, shape ASSUMED: docs/providers/openclassrooms.md).

One catalog stream ("courses"); learner progress for stats. Schedules (Europe/Paris): catalog
09:30, stats 09:45 — after Udemy 07:30/07:45, Edflex 08:00/08:20 and Coursera 08:45/09:00, so
no two providers run at once. Archives courses that leave the catalog or whose status is not
active/coming-soon/pre-registration; a language-filter match restores archived courses.
"""

from __future__ import annotations

from learnsync.providers.base import BenchFixture, ProviderSpec, SandboxSpec
from learnsync.providers.kit.languages import is_language_code
from learnsync.providers.openclassrooms import settings as oc
from learnsync.providers.openclassrooms.client import OpenClassroomsClient, make_client, progress
from learnsync.providers.openclassrooms.mapping import map_catalog, map_stats

PROVIDER = ProviderSpec(
    key=oc.KEY,
    display_name=oc.DISPLAY_NAME,
    catalog_streams=lambda options: (oc.CATALOG_STREAM,),
    make_client=make_client,
    map_catalog=map_catalog,
    map_stats=map_stats,
    settings_model=oc.OpenClassroomsSettings,
    sandbox=SandboxSpec(
        "learnsync.sandboxes.openclassrooms:create_app", "learnsync.sandboxes.openclassrooms:OpenClassroomsSandboxConfig", oc.SANDBOX_PORT
    ),
    bench=BenchFixture("learnsync.sandboxes.openclassrooms.data:bench_activity", progress, ("user_email",)),
    archive_missing=True,
    archive_on_provider_status=True,
    restore_on_reappear=True,
    filter_restores=True,
    duplicates_keep="last",
    supports_filters=("languages",),
    filter_vocabulary={"languages": is_language_code},
    content_cron=oc.CONTENT_CRON,
    stats_cron=oc.STATS_CRON,
    reconcile_cron="45 5 * * 0",
    default_options={},
)

__all__ = ["PROVIDER", "OpenClassroomsClient", "map_catalog", "map_stats"]
