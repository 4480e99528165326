"""Edflex end to end: real flows, real HTTP to the sandboxes, assertions on what arrived.

Rules: docs/rules/edflex.md; readings of it (docs: D-02, D-08, D-09).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import lms, provider_store, run, store, synced_courses, writes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
# Generated statistics use learner1..40 only: learner41..50 exist in 360Learning and are free
# for the hand-written activities of the stats test (one attempt per course and learner).
EDFLEX = {
    "providers": ["edflex"],
    "configs": {"edflex": {"n_courses": 80, "n_learners": 40, "n_activities": 200, "bad_record_ratio": 0.0}},
}
# Skills are linked one PUT per course under 360Learning's write rate limit (10/s): a smaller catalog.
SKILLS = {"providers": ["edflex"], "configs": {"edflex": {"n_courses": 30, "n_activities": 0, "bad_record_ratio": 0.0}}}
# A platform that has a course-skill link endpoint (API v2 has none: docs: D-14).
LINKED_SKILLS = {**SKILLS, "configs": {**SKILLS["configs"], "lms360": {"course_skills_endpoint": True}}}
SKILL_LINK_PATH = "/api/v2/courses/{courseId}/skills"
SUPPORTED = {"article", "mooc", "podcast", "video"}
KEPT_STATUSES = {"coming soon", "open all year", "opened"}


def catalog(fleet) -> dict[str, dict]:
    """The Edflex sandbox's resources as {id: attributes}."""
    return {rid: r["attributes"] for rid, r in provider_store(fleet, "edflex").resources.items()}


def expected_kept(resources: dict[str, dict]) -> set[str]:
    """Supported type and a kept status (no status counts as kept, docs: EDFLEX-03, D-09)."""
    return {
        rid
        for rid, a in resources.items()
        if str(a.get("type")).lower() in SUPPORTED and (a.get("status") is None or a["status"] in KEPT_STATUSES)
    }


def first_of(resources: dict[str, dict], kind: str, status: str | None = None) -> str:
    return next(rid for rid, a in sorted(resources.items()) if a.get("type") == kind and a.get("status") == status)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def names(items: list[dict]) -> list[str]:
    return sorted(i["name"] for i in items)


@pytest.mark.parametrize("fleet", [EDFLEX], indirect=True)
@pytest.mark.rule("EDFLEX-02", "EDFLEX-03", "EDFLEX-05", "EDFLEX-08", "EDFLEX-09", "EDFLEX-12", "V2-10")
def test_edflex_syncs_supported_types_with_kept_status_ignores_others_and_rerun_sends_nothing(fleet):
    edflex = provider_store(fleet, "edflex")
    resources = catalog(fleet)
    # Make every kept status occur (the generated catalog has no "coming soon").
    soon = first_of(resources, "article")
    year = first_of(resources, "video")
    edflex.set_course(soon, status="coming soon")
    edflex.set_course(year, status="open all year")
    resources = catalog(fleet)
    kept = expected_kept(resources)
    unsupported = {rid for rid, a in resources.items() if str(a.get("type")).lower() not in SUPPORTED}
    closed_never_synced = set(resources) - kept - unsupported
    assert unsupported and closed_never_synced and {"coming soon", "open all year", "opened"} <= {
        resources[r].get("status") for r in kept
    }

    report = run(content_sync(provider="edflex"))
    courses = synced_courses(fleet)
    # Rule: articles, MOOCs, podcasts and videos with status coming soon / open all year / opened
    # (or no status, docs: D-09) become 360Learning courses.
    assert set(courses) == kept
    assert report["counts"]["created"] == len(kept)
    assert all(c["status"] == "published" and c["externalPlatform"] == "Edflex (learnsync)" for c in courses.values())
    # Rule: other content types are ignored and counted in the report, per type.
    by_type = Counter(f"unsupported type {resources[rid]['type']}" for rid in unsupported)
    assert len(by_type) > 1
    assert {k: v for k, v in report["skipped"].items() if k.startswith("unsupported type")} == by_type
    # Rule: a status outside the kept ones, never synced, is ignored (not created, not archived).
    assert report["counts"]["ignored"] == len(unsupported) + len(closed_never_synced)
    assert report["counts"]["archived"] == 0 and report["counts"]["quarantined"] == 0

    # Rule: property mapping (title, launch URL, type, categories as subjects, creator + platform as sources).
    for rid in kept:
        a, c = resources[rid], courses[rid]
        assert c["name"] == a["title"] and c["launchUrl"] == a["url"]
        assert c["contentType"] == a["type"]
        assert c["subjects"] == [cat["name"] for cat in a.get("categories", [])]
        sources = [s for s in ((a.get("creator") or {}).get("name"), (a.get("platform") or {}).get("name")) if s]
        assert [s["name"] for s in c["sources"]] == (list(dict.fromkeys(sources)) or ["Edflex"])
        # Skills sync is off by default: no skills are attached.
        assert c["skills"] == []

    # Rule: a second run with nothing changed sends nothing to 360Learning.
    before = writes(fleet)
    again = run(content_sync(provider="edflex"))
    assert again["counts"]["unchanged"] == len(kept)
    assert again["counts"]["created"] == again["counts"]["updated"] == again["counts"]["archived"] == 0
    assert again["counts"]["ignored"] == report["counts"]["ignored"]
    assert writes(fleet) == before


@pytest.mark.parametrize("fleet", [EDFLEX], indirect=True)
@pytest.mark.rule("EDFLEX-03", "EDFLEX-18", "V2-12", "V2-13")
def test_edflex_other_status_archives_synced_course_and_ignores_never_synced_one(fleet):
    edflex = provider_store(fleet, "edflex")
    run(content_sync(provider="edflex"))
    resources = catalog(fleet)
    kept = sorted(expected_kept(resources))
    closed, archived_at_provider, gone = kept[:3]
    never_synced = next(rid for rid in sorted(set(resources) - set(kept)) if resources[rid]["type"] in SUPPORTED)

    edflex.set_course(closed, status="closed")
    edflex.set_course(archived_at_provider, status="archived")
    edflex.remove_course(gone)
    # A new resource already closed at the provider: never synced, so ignored.
    edflex.upsert_course({"id": "r-new-closed", "type": "video", "title": "Closed video", "status": "closed",
                          "url": "https://acme.edflex.com/en/resource/r-new-closed"})  # fmt: skip
    edflex.upsert_course({"id": "r-new-soon", "type": "mooc", "title": "Upcoming MOOC", "status": "coming soon",
                          "url": "https://acme.edflex.com/en/resource/r-new-soon"})  # fmt: skip
    report = run(content_sync(provider="edflex"))
    courses = synced_courses(fleet)
    # Rule: any other status archives a course synced before (and a vanished one is archived too).
    assert courses[closed]["status"] == courses[archived_at_provider]["status"] == courses[gone]["status"] == "archived"
    assert report["counts"]["archived"] == 3
    state = store().load_courses(store().get_integration("edflex")["id"]).set_index("external_id")
    assert state.at[closed, "archived_reason"] == "provider" and state.at[gone, "archived_reason"] == "missing"
    # Rule: ...and ignores one never synced; coming soon is synced.
    assert "r-new-closed" not in courses and never_synced not in courses
    assert courses["r-new-soon"]["status"] == "published" and report["counts"]["created"] == 1
    assert all(courses[e]["status"] == "published" for e in kept[3:])

    # Back to a kept status at the provider: the archived course is restored.
    edflex.set_course(closed, status="open all year")
    again = run(content_sync(provider="edflex"))
    assert synced_courses(fleet)[closed]["status"] == "published"
    assert again["counts"]["restored"] == 1 and again["counts"]["archived"] == 0


@pytest.mark.parametrize("fleet", [EDFLEX], indirect=True)
@pytest.mark.rule("EDFLEX-07")
def test_edflex_image_falls_back_from_big_to_medium_to_small_url(fleet):
    edflex = provider_store(fleet, "edflex")
    cdn = "https://cdn.edflex.com/img"
    images = {
        "r-img-big": {"smallUrl": f"{cdn}/s1.jpg", "mediumUrl": f"{cdn}/m1.jpg", "bigUrl": f"{cdn}/b1.jpg"},
        "r-img-medium": {"smallUrl": f"{cdn}/s2.jpg", "mediumUrl": f"{cdn}/m2.jpg"},
        "r-img-small": {"smallUrl": f"{cdn}/s3.jpg"},
        "r-img-none": None,
    }
    for rid, image in images.items():
        edflex.upsert_course(
            {"id": rid, "type": "article", "title": f"Image {rid}", "url": f"https://acme.edflex.com/en/resource/{rid}",
             **({"image": image} if image else {})}  # fmt: skip
        )
    run(content_sync(provider="edflex"))
    courses = synced_courses(fleet)
    # Rule: image.bigUrl, else image.mediumUrl, else image.smallUrl; none leaves the image empty.
    assert courses["r-img-big"]["imageUrl"] == f"{cdn}/b1.jpg"
    assert courses["r-img-medium"]["imageUrl"] == f"{cdn}/m2.jpg"
    assert courses["r-img-small"]["imageUrl"] == f"{cdn}/s3.jpg"
    assert courses["r-img-none"].get("imageUrl") is None

    # The bigger picture appearing later replaces the fallback at the next sync.
    edflex.set_course("r-img-small", image={"smallUrl": f"{cdn}/s3.jpg", "bigUrl": f"{cdn}/b3.jpg"})
    report = run(content_sync(provider="edflex"))
    assert synced_courses(fleet)["r-img-small"]["imageUrl"] == f"{cdn}/b3.jpg"
    assert report["counts"]["updated"] == 1


@pytest.mark.parametrize("fleet", [SKILLS], indirect=True)
@pytest.mark.rule("EDFLEX-10", "V2-21")
def test_edflex_skills_go_to_the_library_once_and_the_run_says_there_is_no_course_link(fleet):
    """API v2 has no course-skill link (docs: V2-21, D-14); categories go to the skills library."""
    run(configure_integration(provider="edflex", options={"skills_sync": True}))
    report = run(content_sync(provider="edflex"))
    resources = catalog(fleet)
    categories = {cat["name"] for r in resources.values() for cat in r.get("categories", [])}
    courses = synced_courses(fleet)
    library = {s["name"]: s for s in lms(fleet).skills()}
    synced_categories = {s for c in courses.values() for s in c["subjects"]}
    assert synced_categories and synced_categories <= set(library) <= categories
    # Keyed in the provider's namespace, published, never "learnsync:".
    assert all(s["externalId"] == f"edflex:{n}" and s["status"] == "published" for n, s in library.items())
    assert all(c["skills"] == [] for c in courses.values())
    # Said once in the run report, and no call per course to an endpoint that does not exist.
    assert sum("no course-skill endpoint" in n for n in report["notes"]) == 1
    assert fleet.app("lms360").state.faults.requests_matching(r"/bulk/skills$", "PUT") == 1  # one library upsert
    assert fleet.app("lms360").state.faults.requests_matching(r"/courses/[^/]+/skills$") == 0
    # A second run changes nothing and still says it once.
    again = run(content_sync(provider="edflex"))
    assert again["counts"]["unchanged"] == len(courses) and sum("no course-skill endpoint" in n for n in again["notes"]) == 1
    assert {s["name"] for s in lms(fleet).skills()} == set(library)


@pytest.mark.parametrize("fleet", [LINKED_SKILLS], indirect=True)
@pytest.mark.rule("EDFLEX-10", "V2-21")
def test_edflex_skills_sync_makes_categories_the_course_skills_and_removes_manual_skills(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_LMS360__COURSE_SKILLS_PATH", SKILL_LINK_PATH)
    edflex = provider_store(fleet, "edflex")
    run(configure_integration(provider="edflex", options={"skills_sync": True}))
    run(content_sync(provider="edflex"))
    resources = catalog(fleet)
    courses = synced_courses(fleet)
    # Rule: with skills sync on, the Edflex categories become the course's skills.
    for rid, c in courses.items():
        assert names(c["skills"]) == sorted(cat["name"] for cat in resources[rid].get("categories", []))
    assert any(c["skills"] for c in courses.values())
    # Skills count in "nothing changed": a second identical run sends nothing either.
    before = writes(fleet)
    assert run(content_sync(provider="edflex"))["counts"]["unchanged"] == len(courses)
    assert writes(fleet) == before

    # Rule: a skill added by hand in 360Learning is removed at the next synchronization
    # (here the course also changed at the provider, so it is re-sent).
    changed = next(rid for rid, c in sorted(courses.items()) if c["skills"])
    lms(fleet).add_manual_skill(courses[changed]["courseId"], "Hand-picked skill")
    edflex.set_course(changed, categories=[{"id": "c-900", "name": "Negotiation"}])
    report = run(content_sync(provider="edflex"))
    assert report["counts"]["updated"] == 1
    assert names(synced_courses(fleet)[changed]["skills"]) == ["Negotiation"]


@pytest.mark.parametrize("fleet", [LINKED_SKILLS], indirect=True)
@pytest.mark.rule("EDFLEX-10", "V2-21")
def test_edflex_manual_skill_on_unchanged_course_is_removed_at_next_sync(fleet, monkeypatch):
    monkeypatch.setenv("LEARNSYNC_LMS360__COURSE_SKILLS_PATH", SKILL_LINK_PATH)
    run(configure_integration(provider="edflex", options={"skills_sync": True}))
    run(content_sync(provider="edflex"))
    courses = synced_courses(fleet)
    untouched = next(rid for rid, c in sorted(courses.items()) if c["skills"])
    wanted = names(courses[untouched]["skills"])
    lms(fleet).add_manual_skill(courses[untouched]["courseId"], "Hand-picked skill")
    # Rule: "Any skill manually added to Edflex content is deleted at the next synchronization",
    # also when nothing changed at the provider.
    run(content_sync(provider="edflex"))
    assert names(synced_courses(fleet)[untouched]["skills"]) == wanted


@pytest.mark.parametrize("fleet", [EDFLEX], indirect=True)
@pytest.mark.rule("EDFLEX-20", "EDFLEX-21", "EDFLEX-22", "EDFLEX-26")
def test_edflex_stats_progress_by_status_time_spent_ms_and_full_history_on_first_run(fleet):
    edflex = provider_store(fleet, "edflex")
    run(content_sync(provider="edflex"))
    courses = synced_courses(fleet)
    targets = sorted(courses)[:6]
    long_ago = datetime.now(UTC) - timedelta(days=500)  # before any deployment: history
    cases = [
        # status, timeSpent as Edflex sends it (ISO-8601 or seconds), expected progress, expected ms
        ("completed", "PT1H30M", 100, 5_400_000),
        ("in progress", 600, 50, 600_000),
        ("in_progress", "PT45M", 50, 2_700_000),
        ("started", 90, 0, 90_000),
        ("failed", "PT2M", 0, 120_000),
        (None, 30, 0, 30_000),
    ]
    mail = "learner45@example.com"
    completions: dict[str, datetime] = {}
    for i, (course, (status, spent, _p, _ms)) in enumerate(zip(targets, cases)):
        first = long_ago + timedelta(days=i)
        last = (first + timedelta(hours=2)).replace(microsecond=0)
        completions[course] = last
        edflex.add_activity(
            {"id": f"st-hand-{i}", "userEmail": mail, "resourceId": course, "status": status, "timeSpent": spent,
             "firstActivityAt": first.strftime("%Y-%m-%dT%H:%M:%SZ"), "lastActivityAt": last.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "completedAt": last.strftime("%Y-%m-%dT%H:%M:%SZ") if status == "completed" else None}  # fmt: skip
        )

    report = run(stats_sync(provider="edflex"))
    attempts = lms(fleet).attempts(mail=mail)
    by_course = {a["courseId"]: a for a in attempts}
    assert len(attempts) == len(cases)
    for course, (status, _spent, progress, ms) in zip(targets, cases):
        att = by_course[courses[course]["courseId"]]
        # Rule: progress 100 completed / 50 "in progress" or in_progress (docs: D-09) / 0 otherwise.
        assert att["progress"] == progress, status
        # Rule: time spent in milliseconds.
        assert att["timeSpent"] == ms, status
        # Rule: a completion is progress 100 with the completion date as last activity (docs: D-02).
        assert (att["completedAt"] is not None) == (progress == 100), status
        if progress == 100:
            assert when(att["completedAt"]) == when(att["lastActivityAt"]) == completions[course]
    # Rule: the first run retrieves the full history, including activity from long before deployment.
    oldest = min(when(a["firstActivityAt"]) for a in attempts)
    assert oldest < datetime.now(UTC) - timedelta(days=365)
    all_attempts = lms(fleet).attempts()
    assert report["counts"]["created"] == len(all_attempts) > len(cases)
    assert {a["progress"] for a in all_attempts} <= {0, 50, 100}
    # Activity on content never synced (other types, closed) and unknown learners are ignored, not fatal.
    assert report["skipped"].get("course_not_synced", 0) > 0 and report["counts"]["ignored"] > 0
    assert report["status"] in ("completed", "completed_with_errors")

    # A second run sends nothing new.
    before = writes(fleet)
    again = run(stats_sync(provider="edflex"))
    assert again["counts"]["created"] == again["counts"]["updated"] == 0
    assert len(lms(fleet).attempts()) == len(all_attempts)
    assert writes(fleet) == before
