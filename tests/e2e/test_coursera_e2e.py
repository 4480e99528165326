"""Coursera end to end: real flows, real HTTP to the sandboxes, assertions on what arrived.

Rules: docs/rules/coursera.md; readings (docs: D-03 completedAt, D-05 languageCode required,
D-06 never archives; filters archive but never unarchive, D-07 partners list, no skills).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import set_filters
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import lms, provider_store, run, store, synced_courses, writes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
CS = {"providers": ["coursera"], "configs": {"coursera": {"n_courses": 80, "n_activities": 250}}}
UNMAPPABLE_LANGS = {"xx", "tlh"}  # the sandbox's locales with no v2 language
# Coursera contentType -> v2 contentType (Coursera types have no v2 twin for projects: "labs").
V2_TYPES = {"Course": "course", "Specialization": "specialization", "ProfessionalCertificate": "certificate",
            "Project": "labs", "GuidedProject": "labs", "Video": "video"}
V2_LEVELS = {"BEGINNER": "beginner", "INTERMEDIATE": "intermediate", "ADVANCED": "advanced"}


def content(cs: Any, key: str, *, ctype: str = "Course", lang: str | None = "en", **changes: Any) -> dict[str, Any]:
    """A complete raw `/contents` element (docs/providers/coursera.md: Catalog) in the sandbox's first program; `...` drops a key."""
    program = cs.programs[0]
    record: dict[str, Any] = {
        "id": f"{ctype}~{key}",
        "contentId": key,
        "contentType": ctype,
        "name": f"E2E {key}",
        "slug": key.lower(),
        "description": f"About {key}.",
        "languageCode": lang,
        "difficultyLevel": "BEGINNER",
        "partners": [{"name": "Stanford University", "logoUrl": "https://assets.example/stanford.png"}],
        "programs": [{"programId": program["id"], "contentUrl": f"{program['url']}/learn/{key.lower()}"}],
        "extraMetadata": {
            "typeName": "courseMetadata",
            "definition": {
                "estimatedLearningTime": 7200,
                "promoPhoto": f"https://img.example/{key}.png",
                "skills": [{"skillName": "Leadership", "skillId": "leadership"}],
            },
        },
    }
    for k, v in changes.items():
        if v is ...:
            record.pop(k, None)
        else:
            record[k] = v
    program["contentIds"].append({"contentId": key, "contentType": ctype})
    return record


def valid(raw: dict[str, Any]) -> bool:
    """Required: id, name, languageCode (docs: COURSERA-08, and mappable), programs[0].contentUrl."""
    programs = raw.get("programs") or []
    return bool(raw.get("id") and raw.get("name") and programs and programs[0].get("contentUrl")
                and raw.get("languageCode") and raw["languageCode"] not in UNMAPPABLE_LANGS)


def ms(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.mark.parametrize("fleet", [CS], indirect=True)
@pytest.mark.rule("COURSERA-02", "COURSERA-03", "COURSERA-04", "COURSERA-06", "COURSERA-07", "COURSERA-08", "COURSERA-09", "COURSERA-10", "COURSERA-11", "COURSERA-12", "COURSERA-13", "V2-10")
def test_coursera_mapping_table_quarantine_of_missing_required_fields_and_identical_rerun_sends_nothing(fleet):
    cs = provider_store(fleet, "coursera")
    full = content(
        cs, "e2eFull", ctype="ProfessionalCertificate", lang="pt-BR", name="Gestão de Projetos",
        description="Planeje e entregue projetos.", difficultyLevel="INTERMEDIATE",
        partners=[{"name": "Google", "logoUrl": "https://assets.example/google.png"}, {"name": "Duke University"}],
        extraMetadata={"definition": {"estimatedLearningTime": 118_800, "promoPhoto": "https://img.example/full.png",
                                      "skills": [{"skillName": "Project Management"}, {"skillName": "Leadership"}]}},
    )
    bare = content(cs, "e2eBare", lang="en-US", partners=[], description=..., difficultyLevel=..., extraMetadata={"definition": {}})
    bad = {
        "Course~e2eNoName": ("name", content(cs, "e2eNoName", name=None)),
        "Course~e2eNoLang": ("defaultLang", content(cs, "e2eNoLang", languageCode=...)),
        "Course~e2eKlingon": ("defaultLang", content(cs, "e2eKlingon", lang="tlh")),
        "Course~e2eNoUrl": ("launchUrl", content(cs, "e2eNoUrl", programs=[])),
    }
    for raw in [full, bare, *(r for _f, r in bad.values())]:
        cs.upsert_course(raw)
    catalog = dict(cs.contents)
    kept = {i for i, raw in catalog.items() if valid(raw)}
    quarantined = set(catalog) - kept
    assert set(bad) <= quarantined and len(kept) > 60

    report = run(content_sync(provider="coursera"))
    courses = synced_courses(fleet)
    # Rule: content missing a required field is quarantined; the rest goes on.
    assert set(courses) == kept
    assert report["counts"]["created"] == len(kept)
    assert report["counts"]["quarantined"] == len(quarantined) and report["status"] == "completed_with_errors"
    # Rule: the run report lists the quarantined content with the missing field.
    listed = {(e["external_id"], e["field"]) for e in report["errors"] if e["outcome"] == "quarantined"}
    for ext, (field, _raw) in bad.items():
        assert (ext, field) in listed, (ext, field, listed)

    # Rule: the mapping table, as the fields arrive in 360Learning.
    got = courses["ProfessionalCertificate~e2eFull"]
    assert got["name"] == "Gestão de Projetos" and got["description"] == "Planeje e entregue projetos."
    assert got["imageUrl"] == "https://img.example/full.png"  # extraMetadata.definition.promoPhoto
    assert got["duration"] == 1980  # estimatedLearningTime 118800 s -> minutes
    assert got["defaultLang"] == "pt_BR"  # languageCode pt-BR -> v2 enum
    assert got["launchUrl"] == full["programs"][0]["contentUrl"]
    assert got["subjects"] == ["Project Management", "Leadership"]  # skills.map(skillName)
    assert got["difficultyLevel"] == "intermediate"
    # Every partner is a source, name and logoUrl when there is one (docs: COURSERA-12, D-07).
    assert got["sources"] == [{"name": "Google", "logoUrl": "https://assets.example/google.png"}, {"name": "Duke University"}]
    assert got["contentType"] == "certificate"
    # Optional fields absent at Coursera are absent in 360Learning; no partner -> Coursera; no skills -> [].
    got = courses["Course~e2eBare"]
    assert got["defaultLang"] == "en" and got["sources"] == [{"name": "Coursera"}] and got["subjects"] == []
    assert not {"description", "imageUrl", "duration", "difficultyLevel"} & set(got)
    # The same table over the whole generated catalog.
    for ext in kept - {"ProfessionalCertificate~e2eFull", "Course~e2eBare"}:
        raw, got = catalog[ext], courses[ext]
        definition = raw["extraMetadata"]["definition"]
        assert got["name"] == raw["name"] and got.get("description") == raw.get("description")
        assert got["launchUrl"] == raw["programs"][0]["contentUrl"]
        assert got.get("imageUrl") == definition.get("promoPhoto")
        assert got.get("duration") == (round(definition["estimatedLearningTime"] / 60) if "estimatedLearningTime" in definition else None)
        assert got["subjects"] == [s["skillName"] for s in definition["skills"]]
        assert got.get("difficultyLevel") == V2_LEVELS.get(raw.get("difficultyLevel"))
        assert [s["name"] for s in got["sources"]] == ([p["name"] for p in raw["partners"]] or ["Coursera"])
        assert got["contentType"] == V2_TYPES[raw["contentType"]]
        if raw["languageCode"] in ("en", "fr", "es", "de", "ja", "ru"):
            assert got["defaultLang"] == raw["languageCode"]

    # Rule: a second identical content run sends nothing.
    before = writes(fleet)
    again = run(content_sync(provider="coursera"))
    assert again["counts"]["unchanged"] == len(kept) and again["counts"]["created"] == again["counts"]["updated"] == 0
    assert writes(fleet) == before


@pytest.mark.parametrize("fleet", [CS], indirect=True)
@pytest.mark.rule("COURSERA-15", "COURSERA-16")
def test_coursera_never_archives_removed_or_archived_content_and_manual_tags_persist(fleet):
    cs = provider_store(fleet, "coursera")
    run(content_sync(provider="coursera"))
    courses = synced_courses(fleet)
    removed, archived, renamed = sorted(courses)[:3]

    lms(fleet).add_manual_tag(courses[renamed]["courseId"], "Onboarding")
    cs.remove_course(removed)
    cs.set_course(archived, isArchived=True)
    cs.set_course(renamed, name="Renamed at Coursera")
    report = run(content_sync(provider="coursera"))
    courses = synced_courses(fleet)
    # Rule: Coursera never archives: removed or archived at Coursera, it stays published in 360Learning.
    assert courses[removed]["status"] == courses[archived]["status"] == "published"
    assert report["counts"]["archived"] == 0 and report["counts"]["updated"] == 1
    assert all(c["status"] == "published" for c in courses.values())
    state = store().load_courses(store().get_integration("coursera")["id"]).set_index("external_id")
    assert state.at[removed, "status"] == state.at[archived, "status"] == "active"
    # Rule: manual tags persist across syncs (an update, then an unchanged run).
    assert courses[renamed]["name"] == "Renamed at Coursera"
    assert "Onboarding" in [t["name"] for t in courses[renamed]["tags"]]
    before = writes(fleet)
    again = run(content_sync(provider="coursera"))
    assert again["counts"]["archived"] == again["counts"]["updated"] == 0 and writes(fleet) == before
    assert "Onboarding" in [t["name"] for t in synced_courses(fleet)[renamed]["tags"]]


@pytest.mark.parametrize("fleet", [CS], indirect=True)
@pytest.mark.rule("COURSERA-17", "COURSERA-18", "COURSERA-19", "V2-16")
def test_coursera_filters_or_within_and_across_archive_at_once_never_unarchive_and_apply_to_later_syncs(fleet):
    cs = provider_store(fleet, "coursera")
    # Filters compare Coursera's languageCode/contentType; fr, es, Course and Specialization read the
    # same raw or mapped, so this test does not depend on that choice.
    for raw in (content(cs, "frSpec", ctype="Specialization", lang="fr"),  # fr OR es, Course OR Specialization
                content(cs, "esGuided", ctype="GuidedProject", lang="es"),  # language matches, type does not
                content(cs, "deCourse", lang="de")):  # type matches, language does not
        cs.upsert_course(raw)
    run(content_sync(provider="coursera"))
    catalog = dict(cs.contents)
    before = synced_courses(fleet)

    def matches(ext: str) -> bool:
        raw = catalog[ext]
        return raw["languageCode"].lower() in ("fr", "es") and raw["contentType"].lower() in ("course", "specialization")

    kept = {e for e in before if matches(e)}
    others = set(before) - kept
    assert {"Specialization~frSpec"} < kept and {"GuidedProject~esGuided", "Course~deCourse"} < others
    assert {catalog[e]["languageCode"] for e in kept} == {"fr", "es"}  # OR within languages

    # Rule: saving a filter archives at once what no longer matches (AND across filters).
    filters = {"languages": ["fr", "es"], "content_types": ["Course", "Specialization"]}
    # (most of the catalog on purpose: past the mass-archive guard, as an operator would with --force)
    report = run(set_filters(provider="coursera", filters=filters, force=True))
    courses = synced_courses(fleet)
    assert {e for e in courses if courses[e]["status"] == "archived"} == others
    assert report["counts"]["archived"] == len(others)
    # Rule: matching content stays unchanged (published, not rewritten).
    assert all(courses[e]["status"] == "published" and courses[e]["modifiedAt"] == before[e]["modifiedAt"] for e in kept)
    state = store().load_courses(store().get_integration("coursera")["id"]).set_index("external_id")
    assert set(state.index[state["archived_reason"] == "filter"]) == others

    # Rule: the filters are stored and applied on every later sync: a new non-matching course is not created.
    cs.upsert_course(content(cs, "newDe", lang="de"))
    cs.upsert_course(content(cs, "newFr", lang="fr"))
    cs.set_course("Course~deCourse", name="Renamed while filtered out")
    later = run(content_sync(provider="coursera"))
    courses = synced_courses(fleet)
    assert "Course~newDe" not in courses and courses["Course~newFr"]["status"] == "published"
    assert courses["Course~deCourse"]["status"] == "archived"
    assert later["counts"]["created"] == 1 and later["counts"]["ignored"] == 1
    assert later["counts"]["archived"] == later["counts"]["restored"] == 0

    # Rule: a later filter that matches again does NOT unarchive (unlike OpenClassrooms), on save or on sync.
    widened = run(set_filters(provider="coursera", filters={"languages": [], "content_types": []}))
    assert widened["counts"]["restored"] == widened["counts"]["archived"] == 0
    resync = run(content_sync(provider="coursera"))
    courses = synced_courses(fleet)
    assert {e for e in courses if courses[e]["status"] == "archived"} == others
    assert resync["counts"]["restored"] == 0
    # Without a filter, the never-synced course now matches and is created.
    assert courses["Course~newDe"]["status"] == "published" and resync["counts"]["created"] == 1


@pytest.mark.parametrize("fleet", [CS], indirect=True)
@pytest.mark.rule("COURSERA-20", "COURSERA-22", "COURSERA-23", "COURSERA-24", "COURSERA-25", "V2-29", "V2-31", "V2-36")
def test_coursera_stats_external_course_id_progress_time_spent_first_attempt_and_completion_rules(fleet):
    cs = provider_store(fleet, "coursera")
    cs.upsert_course(content(cs, "statsCourse"))
    run(content_sync(provider="coursera"))
    courses = synced_courses(fleet)
    program = cs.programs[0]["id"]
    day = 86_400_000
    base = 1_764_547_200_000  # 2025-12-01T00:00:00Z

    def row(learner: int, **fields: Any) -> dict[str, Any]:
        mail = f"learner{learner}@example.com"
        return {"id": f"{mail}~{program}~statsCourse", "externalId": mail, "email": mail, "programId": program,
                "contentId": "statsCourse", "contentType": "Course", "enrolledAt": base, **fields}

    rows = {
        "completed": row(1, isCompleted=True, overallProgress=40, approxTotalCourseHrs=2.5, lastActivityAt=base + 3 * day,
                         completedAt=base + 4 * day),
        "no_progress": row(2, isCompleted=False, overallProgress=None, approxTotalCourseHrs=1.0, lastActivityAt=base + day),
        "progress": row(3, isCompleted=False, overallProgress=37.4, approxTotalCourseHrs=None, lastActivityAt=base + 2 * day),
        "completed_no_last": row(4, isCompleted=True, overallProgress=100, lastActivityAt=None, completedAt=base + 5 * day),
    }
    for raw in rows.values():
        cs.add_activity(raw)

    report = run(stats_sync(provider="coursera"))
    attempts = lms(fleet).attempts()
    assert report["counts"]["created"] == len(attempts) > 0
    # Unknown learners (not in 360Learning) are reported, not fatal.
    assert report["counts"]["ignored"] > 0 and report["status"] in ("completed", "completed_with_errors")

    by_course_id = {c["courseId"]: e for e, c in courses.items()}
    mine = {a["mail"]: a for a in attempts if by_course_id[a["courseId"]] == "Course~statsCourse"}
    # Rule: isCompleted -> 100, completion at lastActivityAt; time spent = approxTotalCourseHrs in ms.
    done = mine["learner1@example.com"]
    assert done["progress"] == 100 and done["completedAt"] == done["lastActivityAt"]
    assert ms(done["completedAt"]) == base + 3 * day and done["timeSpent"] == 9_000_000
    # Rule: no overallProgress -> 50; otherwise overallProgress; not completed -> no completion date.
    assert mine["learner2@example.com"]["progress"] == 50 and mine["learner2@example.com"]["completedAt"] is None
    assert mine["learner2@example.com"]["timeSpent"] == 3_600_000
    assert mine["learner3@example.com"]["progress"] == 37 and mine["learner3@example.com"]["completedAt"] is None
    # No lastActivityAt -> Coursera's own completion date (docs: COURSERA-23, D-03).
    assert ms(mine["learner4@example.com"]["completedAt"]) == base + 5 * day
    # Rule: enrolledAt -> first activity.
    assert all(ms(a["firstActivityAt"]) == base for a in mine.values())

    # The same rules over every generated row that reached 360Learning (externalCourseId = contentType~contentId).
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for raw in cs.enrollments.values():
        mail = (raw.get("externalId") or raw["email"]).lower()
        pairs.setdefault((f"{raw['contentType']}~{raw['contentId']}", mail), []).append(raw)
    checked = 0
    for att in attempts:
        candidates = pairs[(by_course_id[att["courseId"]], att["mail"])]
        if len(candidates) != 1:
            continue  # the same content in two programs: one attempt for both rows
        raw = candidates[0]
        expected = 100 if raw["isCompleted"] is True else 50 if raw["overallProgress"] is None else round(raw["overallProgress"])
        assert att["progress"] == expected
        assert att["timeSpent"] == max(1, round((raw.get("approxTotalCourseHrs") or 0) * 3_600_000))
        if raw["isCompleted"] and raw.get("lastActivityAt"):
            assert ms(att["completedAt"]) == raw["lastActivityAt"]
        checked += 1
    assert checked > 50

    # Rule: time spent only on the first recorded attempt: a later attempt after completion gets none.
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    cs.set_activity(rows["completed"]["id"], isCompleted=False, overallProgress=10, approxTotalCourseHrs=30.0,
                    enrolledAt=now_ms - 2 * 3_600_000, lastActivityAt=now_ms - 3_600_000, completedAt=None)
    second = run(stats_sync(provider="coursera"))
    assert second["counts"]["created"] == 1
    learner1 = lms(fleet).attempts(course_id=courses["Course~statsCourse"]["courseId"], mail="learner1@example.com")
    assert [a["timeSpent"] for a in learner1] == [9_000_000, 1] and learner1[1]["progress"] == 10

    # A further identical stats run (the recent row is read again) sends nothing.
    before = writes(fleet)
    again = run(stats_sync(provider="coursera"))
    assert again["counts"]["created"] == again["counts"]["updated"] == 0
    assert writes(fleet) == before
    assert len(lms(fleet).attempts()) == len(attempts) + 1
