"""Udemy end to end: real flows, real HTTP to the sandboxes, assertions on what arrived.

Rules: docs/rules/udemy.md; readings of it (docs: D-01 v2 field names, D-04 stable firstActivityAt,
D-11 largest image, namespaced learning paths, completion date wins, D-12 anonymized users skipped
and counted).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration
from learnsync.flows.stats_sync import stats_backfill, stats_sync
from tests.e2e.helpers import lms, provider_store, run, store, synced_courses, writes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
# Generated activity uses learner1..40 only: learner41..50 exist in 360Learning and are free for the
# hand-written rows (which also use a hand-written course, so every course x learner pair is unique).
UDEMY = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 80, "n_learners": 40, "n_activities": 300}}}
# Tags are linked one GET + PUT per course under 360Learning's write rate limit (the client keeps
# under 10/s): turning tags on costs ~0.1 s per course, hence a smaller catalog (as Edflex skills do).
TAGS = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 30, "n_activities": 0}}}
NO_STATS = {"providers": ["udemy"], "configs": {"udemy": {"n_courses": 60, "n_activities": 0, "n_learning_paths": 8}}}
# Udemy locale -> v2 defaultLang, written out by hand (sandbox locales). The owner of the connector
# speaks "en": a missing locale, and one 360Learning does not know, fall back to it.
LANGS = {
    "en_US": "en", "es_ES": "es", "pt_BR": "pt_BR", "fr_FR": "fr", "de_DE": "de", "ja_JP": "ja", "en_GB": "en_GB",
    "fr_CA": "fr_CA", "it_IT": "it", "tr_TR": "tr", "zh_CN": "zh", "zh_TW": "zh_tw", "ko_KR": "ko", "ar_AR": "ar",
    "he_IL": "he_IL", "pl_PL": "pl", "en-US": "en", "sq_AL": "en", "eo": "en", None: "en",
}  # fmt: skip
IMAGE_ORDER = ("size_750x422", "size_480x270", "size_240x135", "size_125_H", "size_100x100")  # largest first
HOST = "https://acme.udemy.com"
STATS_COURSE = 101  # generated course ids are >= 10,000


def course(cid: int, **fields: Any) -> dict[str, Any]:
    """A raw `/courses/list/` record (docs/providers/udemy.md: Catalog); `...` drops a key."""
    raw: dict[str, Any] = {
        "_class": "course",
        "id": cid,
        "title": f"E2E course {cid}",
        "description": f"<p>About course {cid}.</p>",
        "url": f"{HOST}/course/e2e-{cid}/",
        "estimated_content_length": 42,
        "categories": ["Business"],
        "instructors": ["Ana Ruiz"],
        "locale": {"_class": "locale", "locale": "en_US"},
        "images": {"size_240x135": f"https://img-c.udemycdn.com/course/240x135/{cid}.jpg"},
    }
    for k, v in fields.items():
        if v is ...:
            raw.pop(k, None)
        else:
            raw[k] = v
    return raw


def catalog(fleet: Any) -> dict[str, dict[str, Any]]:
    """The Udemy sandbox's courses by externalId (the id as a string)."""
    return {str(c["id"]): c for c in provider_store(fleet, "udemy").courses()}


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def tag_names(c: dict[str, Any]) -> set[str]:
    return {t["name"] for t in c["tags"]}


def activity(mail: str, *, cid: int = STATS_COURSE, ratio: float, minutes: float, enroll: datetime,
             start: datetime | None = None, last: datetime | None = None, done: datetime | None = None) -> dict[str, Any]:
    """A raw `/analytics/user-course-activity/` row (docs/providers/udemy.md: Statistics)."""
    return {
        "user_name": mail.split("@")[0], "user_surname": "E2E", "user_email": mail, "user_role": "Student",
        "course_id": cid, "course_title": f"E2E course {cid}", "completion_ratio": ratio,
        "num_video_consumed_minutes": minutes, "course_enroll_date": iso(enroll), "course_start_date": iso(start),
        "course_completion_date": iso(done), "course_first_completion_date": iso(done),
        "course_last_accessed_date": iso(last),
    }  # fmt: skip


def set_activity(udemy: Any, mail: str, cid: int = STATS_COURSE, **fields: Any) -> None:
    """Change one activity row in place (the sandbox store has add/clear only): rebuild the list."""
    rows = list(udemy.activities(None, None))
    udemy.clear_activities()
    found = 0
    for row in rows:
        if row["course_id"] == cid and row["user_email"] == mail:
            row, found = {**row, **{k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}}, found + 1
        udemy.add_activity(row)
    assert found == 1


def expected_image(raw: dict[str, Any]) -> str | None:
    images = raw.get("images") or {}
    return next((images[k] for k in IMAGE_ORDER if images.get(k)), None)


def expected_video(raw: dict[str, Any]) -> str | None:
    videos = [v for v in raw.get("promo_video_url") or [] if str(v.get("label", "")).isdigit()]
    return max(videos, key=lambda v: int(v["label"]))["file"] if videos else None


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("UDEMY-01", "UDEMY-03", "UDEMY-04", "UDEMY-05", "UDEMY-06", "UDEMY-07", "UDEMY-08", "UDEMY-09", "UDEMY-10", "UDEMY-11", "UDEMY-12", "V2-10")
def test_udemy_course_rule_table_as_it_arrives_in_360learning_without_tags_or_paths_by_default_and_rerun_sends_nothing(fleet):
    udemy = provider_store(fleet, "udemy")
    full = course(
        STATS_COURSE, title="Negociación avanzada", description="<p>Cerrar acuerdos.</p>", estimated_content_length=95,
        locale={"_class": "locale", "locale": "es_MX"}, categories=["Business", "Leadership"],
        instructors=["Ana Ruiz", "Luis Gil"],
        images={"size_240x135": "https://img.example/240.jpg", "size_750x422": "https://img.example/750.jpg",
                "size_100x100": "https://img.example/100.jpg"},
        promo_video_url=[{"type": "video/mp4", "label": "480", "file": "https://mp4.example/480.mp4"},
                         {"type": "video/mp4", "label": "1080", "file": "https://mp4.example/1080.mp4"},
                         {"type": "application/x-mpegURL", "label": "Auto", "file": "https://mp4.example/auto.m3u8"}],
    )  # fmt: skip
    bare = course(102, estimated_content_length=0, locale=None, description=..., images=..., categories=["Development"])
    udemy.upsert_course(full)
    udemy.upsert_course(bare)
    raw = catalog(fleet)

    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert set(courses) == set(raw) and report["counts"]["created"] == len(raw) == 82
    assert report["status"] == "completed"

    # The course rules, as the fields arrive (docs: UDEMY-03..UDEMY-12; D-01 names).
    got = courses[str(STATS_COURSE)]
    assert got["name"] == "Negociación avanzada"  # title -> name, unmodified
    assert got["description"] == "<p>Cerrar acuerdos.</p>"  # unmodified
    assert got["imageUrl"] == "https://img.example/750.jpg"  # the largest image (docs: UDEMY-06, D-11)
    assert got["duration"] == 95  # estimated_content_length, minutes
    assert got["defaultLang"] == "es_MX"  # locale.locale
    assert got["launchUrl"] == full["url"]
    assert got["subjects"] == ["Business", "Leadership"] and got["sources"] == [{"name": "Udemy"}]
    assert got["contentType"] == "course"
    # Values with no v2 field (instructors -> authors, best promo video) are kept in the state store.
    state = store().load_courses(store().get_integration("udemy")["id"], with_extra=True).set_index("external_id")
    extra = state.at[str(STATS_COURSE), "extra"]
    assert extra["authors"] == ["Ana Ruiz", "Luis Gil"] and extra["videoUrl"] == "https://mp4.example/1080.mp4"
    # No language -> the owner's language; no image, no description, length 0: nothing sent.
    got = courses["102"]
    assert got["defaultLang"] == "en" and not {"imageUrl", "description", "duration"} & set(got)

    # The same table over the whole generated catalog.
    for ext, c in raw.items():
        got = courses[ext]
        assert got["name"] == c["title"] and got.get("description") == c.get("description")
        assert got["launchUrl"] == c["url"] and got.get("imageUrl") == expected_image(c)
        assert got.get("duration") == (c["estimated_content_length"] or None)
        locale = (c.get("locale") or {}).get("locale")
        if ext != str(STATS_COURSE):
            assert got["defaultLang"] == LANGS[locale], locale
        assert got["subjects"] == c["categories"]
        assert state.at[ext, "extra"].get("videoUrl") == expected_video(c)
        # Rule: categories become tags only when tags sync is enabled (off by default).
        assert got["tags"] == []
    # Rule: public learning paths only when learning paths sync is enabled (off by default).
    assert not any(e.startswith("learning-path-") for e in courses)

    # Rule: a second run with nothing changed sends nothing.
    before = writes(fleet)
    again = run(content_sync(provider="udemy"))
    assert again["counts"]["unchanged"] == len(raw)
    assert again["counts"]["created"] == again["counts"]["updated"] == again["counts"]["archived"] == 0
    assert writes(fleet) == before


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("UDEMY-23", "V2-15", "V2-11", "V2-20")
def test_udemy_course_gone_from_catalog_is_archived_and_restored_when_it_reappears(fleet):
    udemy = provider_store(fleet, "udemy")
    run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    gone, back, renamed = sorted(courses)[:3]
    saved = dict(udemy.course(int(back)))
    lms(fleet).add_manual_tag(courses[back]["courseId"], "Onboarding")

    udemy.remove_course(int(gone))
    udemy.remove_course(int(back))
    udemy.set_course(int(renamed), title="Renamed course", estimated_content_length=321)
    udemy.upsert_course(course(103, title="New at Udemy"))
    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    # Rule: a course no longer in the catalog is archived (kept in 360Learning, with its learners' data).
    assert courses[gone]["status"] == courses[back]["status"] == "archived"
    assert courses[renamed]["name"] == "Renamed course" and courses[renamed]["duration"] == 321
    assert courses["103"]["status"] == "published" and courses["103"]["name"] == "New at Udemy"
    counts = report["counts"]
    assert (counts["archived"], counts["updated"], counts["created"], counts["restored"]) == (2, 1, 1, 0)
    state = store().load_courses(store().get_integration("udemy")["id"]).set_index("external_id")
    assert state.at[gone, "archived_reason"] == "missing"

    # Rule: a course that reappears in the catalog is restored; a manual tag survives.
    udemy.upsert_course(saved)
    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert courses[back]["status"] == "published" and courses[gone]["status"] == "archived"
    assert report["counts"]["restored"] == 1 and report["counts"]["created"] == report["counts"]["archived"] == 0
    assert "Onboarding" in tag_names(courses[back])
    # A run after the restore changes nothing.
    before = writes(fleet)
    assert run(content_sync(provider="udemy"))["counts"]["restored"] == 0
    assert writes(fleet) == before


@pytest.mark.parametrize("fleet", [TAGS], indirect=True)
@pytest.mark.rule("UDEMY-10", "UDEMY-22", "V2-20")
def test_udemy_categories_become_tags_only_when_enabled_merge_with_manual_tags_and_stay_when_disabled(fleet):
    udemy = provider_store(fleet, "udemy")
    run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert all(c["tags"] == [] for c in courses.values())  # tags sync off: no tag
    manual, recategorised = sorted(courses)[:2]
    lms(fleet).add_manual_tag(courses[manual]["courseId"], "Onboarding")
    lms(fleet).add_manual_tag(courses[recategorised]["courseId"], "Mandatory")

    # Rule: with tags sync enabled, the course categories are added as tags at the next sync...
    run(configure_integration(provider="udemy", options={"tags_sync": True}))
    report = run(content_sync(provider="udemy"))
    raw, courses = catalog(fleet), synced_courses(fleet)
    assert report["counts"]["updated"] == len(raw) and report["status"] == "completed"
    for ext, c in courses.items():
        hand = {"Onboarding"} if ext == manual else {"Mandatory"} if ext == recategorised else set()
        # ... merged with the tags added by hand in 360Learning, which survive.
        assert tag_names(c) == set(raw[ext]["categories"]) | hand, ext
    tags_created = {t["tagId"] for c in courses.values() for t in c["tags"]}
    # A second run with nothing changed sends nothing (no tag rewritten either).
    before = writes(fleet)
    assert run(content_sync(provider="udemy"))["counts"]["unchanged"] == len(raw)
    assert writes(fleet) == before

    # Rule: tags are merged, never overwritten: a new category is added, the manual tag stays.
    old = set(raw[recategorised]["categories"])
    new_category = next(c for c in ("Leadership", "Design", "Marketing") if c not in old)
    udemy.set_course(int(recategorised), categories=[new_category])
    report = run(content_sync(provider="udemy"))
    assert report["counts"]["updated"] == 1
    assert tag_names(synced_courses(fleet)[recategorised]) == old | {new_category, "Mandatory"}

    # Rule: disabling tags sync deletes no tag and removes none from the courses...
    snapshot = {e: tag_names(c) for e, c in synced_courses(fleet).items()}
    run(configure_integration(provider="udemy", options={"tags_sync": False}))
    run(content_sync(provider="udemy"))
    assert {e: tag_names(c) for e, c in synced_courses(fleet).items()} == snapshot
    # ... and the courses synced from then on get no category tag.
    udemy.upsert_course(course(104, categories=["Finance & Accounting"]))
    udemy.set_course(int(manual), categories=["Personal Development"])
    run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert courses["104"]["tags"] == []
    assert tag_names(courses[manual]) == snapshot[manual]
    assert {t["tagId"] for c in courses.values() for t in c["tags"]} >= tags_created


@pytest.mark.parametrize("fleet", [NO_STATS], indirect=True)
@pytest.mark.rule("UDEMY-01", "UDEMY-14", "UDEMY-15", "UDEMY-16", "UDEMY-17", "UDEMY-18")
def test_udemy_public_learning_paths_only_when_enabled_prefixed_with_item_links_in_english(fleet):
    udemy = provider_store(fleet, "udemy")
    run(content_sync(provider="udemy"))
    assert not any(e.startswith("learning-path-") for e in synced_courses(fleet))
    n_courses = len(catalog(fleet))

    run(configure_integration(provider="udemy", options={"learning_paths_sync": True}))
    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    public = {f"learning-path-{p['id']}": p for p in udemy.learning_paths()}
    assert public and len(public) < 8  # the sandbox has private paths too: never listed, never synced
    # Rule: public learning paths become courses (ids namespaced, never a course id: docs: UDEMY-15, D-11).
    assert {e for e in courses if e.startswith("learning-path-")} == set(public)
    assert report["counts"]["created"] == len(public) and report["counts"]["unchanged"] == n_courses
    for ext, path in public.items():
        got = courses[ext]
        # Rule: name "[Learning Path] <title>", language "en" (Udemy returns none), url, duration.
        assert got["name"] == f"[Learning Path] {path['title']}"
        assert got["defaultLang"] == "en" and got["launchUrl"] == path["url"]
        assert got.get("duration") == (path["estimated_content_length"] or None)
        thumbnail = (path.get("thumbnail") or {}).get("size_480x270")  # the larger of the two sizes
        assert got.get("imageUrl") == thumbnail
        # Rule: the original description, then the path's items as links, in the path's order.
        description = got["description"]
        assert description.startswith(path["description"])
        sections = sorted(path["sections"], key=lambda s: s["order"])
        items = [i for s in sections for i in sorted(s["items"], key=lambda i: i["order"])]
        links = [f'<a href="{i["url"]}">{i["title"]}</a>' for i in items]
        positions = [description.index(link) for link in links]
        assert positions == sorted(positions) and len(positions) == len(items) >= 2
        for section in path["sections"]:
            assert f"<strong>{section['title']}</strong>" in description
    # A second run with nothing changed sends nothing.
    before = writes(fleet)
    again = run(content_sync(provider="udemy"))
    assert again["counts"]["unchanged"] == n_courses + len(public) and writes(fleet) == before

    # A path that changes is updated; one no longer listed is archived; a course keeps its own id.
    changed, removed = sorted(public)[:2]
    udemy.set_learning_path(public[changed]["id"], title="Sales onboarding")
    udemy.remove_learning_path(public[removed]["id"])
    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert courses[changed]["name"] == "[Learning Path] Sales onboarding"
    assert courses[removed]["status"] == "archived"
    assert report["counts"]["updated"] == 1 and report["counts"]["archived"] == 1

    # Reading: once the option is cleared, paths are no longer extracted, so they are archived like
    # any content that left the catalog; the courses are untouched.
    run(configure_integration(provider="udemy", options={"learning_paths_sync": False}))
    report = run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    assert all(c["status"] == "archived" for e, c in courses.items() if e.startswith("learning-path-"))
    assert all(c["status"] == "published" for e, c in courses.items() if not e.startswith("learning-path-"))
    assert report["counts"]["archived"] == len(public) - 1


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("UDEMY-26", "UDEMY-27", "UDEMY-29", "UDEMY-30", "UDEMY-31", "UDEMY-33", "V2-29", "V2-30", "V2-36")
def test_udemy_stats_first_activity_completion_progress_time_spent_and_unknown_or_anonymized_learners(fleet):
    udemy = provider_store(fleet, "udemy")
    udemy.upsert_course(course(STATS_COURSE, estimated_content_length=120))
    run(content_sync(provider="udemy"))
    courses = synced_courses(fleet)
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    hand = {
        # started, not finished: firstActivity = course_start_date; minutes x 60,000 ms
        "learner41@example.com": activity("learner41@example.com", ratio=37.4, minutes=12.5, enroll=now - 10 * day,
                                          start=now - 9 * day, last=now - day),
        # no course_start_date: firstActivity = course_enroll_date
        "learner42@example.com": activity("learner42@example.com", ratio=20, minutes=3, enroll=now - 8 * day,
                                          last=now - 2 * day),
        # completed: completedAt = course_completion_date (also the last activity, docs: D-02)
        "learner43@example.com": activity("learner43@example.com", ratio=100, minutes=95, enroll=now - 20 * day,
                                          start=now - 19 * day, last=now - 3 * day, done=now - 5 * day),
        # a completion date with a ratio below 100 (the course grew) is a completion (docs: UDEMY-29, D-11)
        "learner44@example.com": activity("learner44@example.com", ratio=88, minutes=80, enroll=now - 7 * day,
                                          start=now - 7 * day, last=now - 4 * day, done=now - 4 * day),
        # e-mail case differs from 360Learning's: still the same learner
        "Learner45@Example.com": activity("Learner45@Example.com", ratio=0, minutes=0, enroll=now - 6 * day),
    }  # fmt: skip
    for row in hand.values():
        udemy.add_activity(row)
    udemy.add_activity(activity("Anonymized User", ratio=50, minutes=10, enroll=now - 3 * day, last=now - day))
    udemy.add_activity(activity("ghost77@example.com", ratio=50, minutes=10, enroll=now - 3 * day, last=now - day))
    rows = udemy.activities(None, None)
    anonymized = sum(1 for r in rows if r["user_email"] == "Anonymized User")
    ghosts = sum(1 for r in rows if r["user_email"].startswith("ghost"))
    assert anonymized >= 2 and ghosts >= 2

    report = run(stats_sync(provider="udemy"))
    attempts = lms(fleet).attempts()
    assert report["counts"]["created"] == len(attempts) == len(rows) - anonymized - ghosts
    # "Anonymized User" rows are skipped and counted (docs: UDEMY-33, D-12); unknown e-mails are reported
    # as ignored (same e-mail on both sides is the matching rule); neither is fatal.
    assert report["skipped"]["anonymized_user"] == anonymized
    assert report["counts"]["ignored"] == ghosts and report["counts"]["failed"] == 0
    assert report["status"] == "completed"
    assert any(e["external_id"] == f"{STATS_COURSE}|g***@example.com" for e in report["errors"])

    mine = {a["mail"]: a for a in lms(fleet).attempts(course_id=courses[str(STATS_COURSE)]["courseId"])}
    assert set(mine) == {m.lower() for m in hand}
    a41, a42, a43, a44, a45 = (mine[f"learner{i}@example.com"] for i in range(41, 46))
    assert when(a41["firstActivityAt"]) == now - 9 * day and when(a41["lastActivityAt"]) == now - day
    assert a41["progress"] == 37 and a41["completedAt"] is None and a41["timeSpent"] == 750_000
    assert when(a42["firstActivityAt"]) == now - 8 * day and a42["timeSpent"] == 180_000
    assert a43["progress"] == 100 and when(a43["completedAt"]) == when(a43["lastActivityAt"]) == now - 5 * day
    assert a43["timeSpent"] == 5_700_000 and when(a43["firstActivityAt"]) == now - 19 * day
    assert a44["progress"] == 100 and when(a44["completedAt"]) == now - 4 * day
    # Enrolled, never started: an open attempt at 0% dated by the enrolment; the v2 minimum time spent.
    assert a45["progress"] == 0 and a45["completedAt"] is None and a45["timeSpent"] == 1
    assert when(a45["firstActivityAt"]) == now - 6 * day

    # The same table over every generated row that reached 360Learning.
    by_course_id = {c["courseId"]: e for e, c in courses.items()}
    raw = {(str(r["course_id"]), r["user_email"].lower()): r for r in rows}
    for att in attempts:
        r = raw[(by_course_id[att["courseId"]], att["mail"])]
        done = when(r["course_completion_date"])
        assert att["progress"] == (100 if done else int(r["completion_ratio"] + 0.5))
        assert when(att["completedAt"]) == done
        assert when(att["firstActivityAt"]) == when(r["course_start_date"] or r["course_enroll_date"])
        assert when(att["lastActivityAt"]) == (done or when(r["course_last_accessed_date"] or r["course_enroll_date"]))
        assert att["timeSpent"] == max(1, int(r["num_video_consumed_minutes"] * 60_000 + 0.5))

    # Rule: time spent applies to the first recorded attempt only: learner43 starts over after the
    # completion (a new attempt in 360Learning) and gets the 1 ms minimum, whatever Udemy reports.
    set_activity(udemy, "learner43@example.com", completion_ratio=10, num_video_consumed_minutes=130,
                 course_start_date=now - timedelta(hours=2), course_last_accessed_date=now - timedelta(hours=1),
                 course_completion_date=None)  # fmt: skip
    second = run(stats_sync(provider="udemy"))
    assert second["counts"]["created"] == 1 and second["counts"]["updated"] == 0
    learner43 = lms(fleet).attempts(course_id=courses[str(STATS_COURSE)]["courseId"], mail="learner43@example.com")
    assert [a["timeSpent"] for a in learner43] == [5_700_000, 1] and learner43[1]["progress"] == 10
    assert learner43[0]["completedAt"] is not None  # the completed attempt is never touched

    # A further run with nothing changed creates and updates nothing; the unknown learner of the
    # daily window is tried again (reported as ignored), in case the account appeared meanwhile...
    third = run(stats_sync(provider="udemy"))
    assert third["counts"]["created"] == third["counts"]["updated"] == third["counts"]["failed"] == 0
    assert third["counts"]["ignored"] == 1
    assert len(lms(fleet).attempts()) == len(attempts) + 1
    # ... and once it exists in 360Learning, its statistics arrive.
    lms(fleet).add_user("ghost77@example.com")
    fourth = run(stats_sync(provider="udemy"))
    assert fourth["counts"]["created"] == 1 and fourth["counts"]["ignored"] == 0
    assert lms(fleet).attempts(mail="ghost77@example.com")[0]["progress"] == 50


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.rule("UDEMY-34", "V2-27", "V2-28", "V2-37", "V2-38")
def test_udemy_external_start_opens_an_attempt_that_the_completing_sync_closes_same_attempt_stable_first_activity(fleet):
    udemy = provider_store(fleet, "udemy")
    udemy.upsert_course(course(STATS_COURSE))
    run(content_sync(provider="udemy"))
    cid = synced_courses(fleet)[str(STATS_COURSE)]["courseId"]
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    recent, enrolled, old = "learner46@example.com", "learner47@example.com", "learner48@example.com"
    udemy.add_activity(activity(recent, ratio=40, minutes=20, enroll=now - 6 * day, start=now - 5 * day, last=now - day))
    udemy.add_activity(activity(enrolled, ratio=0, minutes=0, enroll=now - 4 * day))
    udemy.add_activity(activity(old, ratio=30, minutes=15, enroll=now - 25 * day, start=now - 24 * day, last=now - 20 * day))

    run(stats_sync(provider="udemy"))  # first run: the full history

    def attempt(mail: str) -> dict[str, Any]:
        found = lms(fleet).attempts(course_id=cid, mail=mail)
        assert len(found) == 1, found  # one attempt, never a second one
        return found[0]

    # Rule: started externally, not finished: an open attempt.
    opened = {m: attempt(m) for m in (recent, enrolled, old)}
    assert all(a["completedAt"] is None for a in opened.values())
    assert [opened[m]["progress"] for m in (recent, enrolled, old)] == [40, 0, 30]

    # The learners go on at Udemy.
    set_activity(udemy, recent, completion_ratio=100, num_video_consumed_minutes=50,
                 course_completion_date=now - timedelta(hours=1), course_last_accessed_date=now - timedelta(hours=1))
    # Started after enrolling: course_start_date now exists, later than the enrolment date the open
    # attempt was dated with. firstActivityAt stays, a moved one would open a new attempt (docs: V2-27, D-04).
    set_activity(udemy, enrolled, completion_ratio=55, num_video_consumed_minutes=25,
                 course_start_date=now - 2 * day, course_last_accessed_date=now - timedelta(minutes=30))
    # Completed long ago, only seen by Udemy's report now: outside the daily window.
    set_activity(udemy, old, completion_ratio=100, num_video_consumed_minutes=60,
                 course_completion_date=now - 18 * day, course_last_accessed_date=now - 18 * day)  # fmt: skip

    # The daily run re-reads from its watermark minus the 2-day overlap: it sees the recent changes.
    daily = run(stats_sync(provider="udemy"))
    assert daily["counts"]["created"] == 0 and daily["counts"]["updated"] == 2
    closed = attempt(recent)
    # Rule: the same attempt is closed by the sync that sees the completion.
    assert closed["_id"] == opened[recent]["_id"] and closed["firstActivityAt"] == opened[recent]["firstActivityAt"]
    assert closed["progress"] == 100 and when(closed["completedAt"]) == now - timedelta(hours=1)
    assert closed["timeSpent"] == 3_000_000
    going = attempt(enrolled)
    assert going["_id"] == opened[enrolled]["_id"] and going["firstActivityAt"] == opened[enrolled]["firstActivityAt"]
    assert when(going["firstActivityAt"]) == now - 4 * day and going["progress"] == 55 and going["completedAt"] is None
    # The old completion is outside the daily window: still open.
    assert attempt(old)["completedAt"] is None and attempt(old)["progress"] == 30

    # A backfill over the older dates closes it: same attempt, same firstActivityAt; the watermark stays.
    integration = store().get_integration("udemy")
    watermark = store().get_watermark(integration["id"], "stats")
    backfill = run(stats_backfill(provider="udemy", since=(now - 30 * day).date(), until=(now + day).date()))
    assert backfill["counts"]["created"] == 0 and backfill["counts"]["updated"] == 1
    late = attempt(old)
    assert late["_id"] == opened[old]["_id"] and late["firstActivityAt"] == opened[old]["firstActivityAt"]
    assert late["progress"] == 100 and when(late["completedAt"]) == now - 18 * day and late["timeSpent"] == 3_600_000
    assert store().get_watermark(integration["id"], "stats") == watermark

    # Nothing changed since: the next daily run sends nothing.
    total, before = len(lms(fleet).attempts()), writes(fleet)
    again = run(stats_sync(provider="udemy"))
    assert again["counts"]["created"] == again["counts"]["updated"] == again["counts"]["failed"] == 0
    assert again["counts"]["unchanged"] > 0
    assert len(lms(fleet).attempts()) == total and writes(fleet) == before
