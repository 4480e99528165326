"""Real end-to-end runs whose 360Learning traffic the contract suite checks.

For every provider: configure (with its optional syncs on), a content sync, changes at the
provider (a course edited, one removed) and by hand in 360Learning (a manual tag), a second
content sync, a stats sync, sharing to another group, filters set and cleared where the
provider has them, deactivation, reactivation and a last content sync; then `doctor`, and
drift made behind learnsync's back (a course deleted, one archived, one edited in 360Learning)
reported and repaired by `reconcile`. All through the real Prefect flows, over HTTP, against
the sandboxes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration, deactivate_integration, set_filters, share_courses
from learnsync.flows.stats_sync import stats_sync
from learnsync.sandboxes.lms360.config import DEFAULT_GROUPS
from tests.e2e.helpers import lms, provider_store, run
from tests.e2e.helpers import store as state

PROVIDERS = ("udemy", "coursera", "edflex", "openclassrooms")

# Small catalogs: the point is every kind of call, not volume.
SANDBOX_CONFIGS: dict[str, dict[str, Any]] = {
    "udemy": {"n_courses": 12, "n_learning_paths": 3, "n_activities": 40},
    "coursera": {"n_courses": 12, "n_activities": 40, "n_programs": 2},
    "edflex": {"n_courses": 16, "n_activities": 40, "bad_record_ratio": 0.0},
    "openclassrooms": {"n_courses": 12, "n_activities": 40, "ghost_ratio": 0.0},
}
OPTIONS: dict[str, dict[str, Any]] = {
    "udemy": {"tags_sync": True, "learning_paths_sync": True},
    "coursera": {},
    "edflex": {"skills_sync": True},
    "openclassrooms": {},
}
FILTERS: dict[str, dict[str, list[str]]] = {
    "coursera": {"languages": ["en"]},
    "openclassrooms": {"languages": ["fr"]},
}


def _native(provider: str, external_id: str) -> Any:
    """The provider sandbox's own id for a course externalId (numeric for Udemy and OpenClassrooms)."""
    return int(external_id) if provider in ("udemy", "openclassrooms") and external_id.isdigit() else external_id


def _provider_changes(fleet: Any, provider: str) -> None:
    """Edit one synced course and remove another at the provider."""
    store = provider_store(fleet, provider)
    mine = sorted(c["externalId"] for c in lms(fleet).courses(_integration_id(provider)) if not c["externalId"].startswith("learning-path-"))
    edited, removed = mine[0], mine[1]
    title = "name" if provider == "coursera" else "title"
    store.set_course(_native(provider, edited), **{title: "Edited at the provider"})
    store.remove_course(_native(provider, removed))


def _integration_id(provider: str) -> str:
    return state().get_integration(provider)["integration_id"]


def run_provider(fleet: Any, provider: str, extra: Callable[[Any, str], None] | None = None) -> None:
    run(configure_integration(provider=provider, options=OPTIONS[provider] or None))
    run(content_sync(provider=provider))
    _provider_changes(fleet, provider)
    iid = _integration_id(provider)
    first = next(c for c in lms(fleet).courses(iid) if c["status"] == "published")
    lms(fleet).add_manual_tag(first["courseId"], "Hand-picked tag")
    run(content_sync(provider=provider))
    run(stats_sync(provider=provider))
    run(share_courses(provider=provider, group_ids=[DEFAULT_GROUPS[1]]))
    if provider in FILTERS:
        run(set_filters(provider=provider, filters=FILTERS[provider]))
        run(set_filters(provider=provider, filters={}))
    run(deactivate_integration(provider=provider))
    run(configure_integration(provider=provider))
    run(content_sync(provider=provider))
    if extra is not None:
        extra(fleet, provider)


def doctor_and_drift(fleet: Any, provider: str) -> None:
    import asyncio

    from learnsync.doctor import diagnose
    from learnsync.flows.reconcile import reconcile
    from learnsync.providers.settings import load_settings

    assert not asyncio.run(diagnose(load_settings(), [provider])).problems
    published = [c for c in lms(fleet).courses(_integration_id(provider)) if c["status"] == "published"]
    deleted, archived, edited = published[:3]
    lms(fleet).delete_course(deleted["courseId"])
    lms(fleet).set_archived(archived["courseId"], True)
    lms(fleet).edit_course(edited["courseId"], name="Edited in 360Learning")
    run(reconcile(provider=provider, dry_run=True))
    report = run(reconcile(provider=provider))
    assert report["counts"]["created"] == report["counts"]["updated"] == report["counts"]["restored"] == 1, report


def run_all(fleet: Any, extra: Callable[[Any, str], None] | None = doctor_and_drift) -> None:
    for provider in PROVIDERS:
        run_provider(fleet, provider, extra)
