"""Deterministic Udemy Business data: courses, learning paths, user-course activity, and the live store.

Shapes follow docs/providers/udemy.md. Same seed and anchor date give the same data.
Learners are `learner{i}@example.com` (i from 1) to match the 360Learning sandbox users;
a few rows use unknown learners (`ghost{i}@example.com`) and removed users ("Anonymized User").
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

HOST = "https://acme.udemy.com"
# Weighted locales: mostly mapped, a few that v2 does not know (sq_AL, eo) or with odd spelling.
LOCALES = (
    ("en_US", 50), ("es_ES", 8), ("pt_BR", 7), ("fr_FR", 6), ("de_DE", 5), ("ja_JP", 4), ("en_GB", 2),
    ("fr_CA", 2), ("it_IT", 2), ("tr_TR", 2), ("zh_CN", 2), ("zh_TW", 1), ("ko_KR", 1), ("ar_AR", 1),
    ("he_IL", 1), ("pl_PL", 1), ("en-US", 1), ("sq_AL", 1), ("eo", 1), (None, 2),
)
CATEGORIES = (
    "Development", "Business", "IT & Software", "Office Productivity", "Personal Development",
    "Design", "Marketing", "Finance & Accounting", "Leadership", "Data Science",
)
TOPICS = (
    "Python", "SQL", "Excel", "Project Management", "Kubernetes", "Negotiation", "Power BI", "AWS",
    "Public Speaking", "Machine Learning", "Figma", "Agile", "Accounting", "JavaScript", "Cybersecurity",
)
LEVELS = ("All Levels", "Beginner", "Intermediate", "Expert")
FIRST_NAMES = ("Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Giulia", "Hugo", "Inès", "Jonas")
LAST_NAMES = ("Durand", "Martin", "Rossi", "Schmidt", "Nguyen", "Garcia", "Kowalski", "Dubois")
_LOCALE_VALUES = [loc for loc, _ in LOCALES]
_LOCALE_CUM = [sum(w for _, w in LOCALES[: i + 1]) for i in range(len(LOCALES))]
IMAGE_SIZES = ("size_100x100", "size_125_H", "size_240x135", "size_480x270", "size_750x422")
ANONYMIZED = "Anonymized User"


@dataclass
class UdemyData:
    courses: list[dict[str, Any]] = field(default_factory=list)
    learning_paths: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)


def generate(
    seed: int,
    n_courses: int,
    n_learners: int,
    n_activities: int,
    *,
    n_learning_paths: int = 6,
    anchor: date | None = None,
    activity_days: int = 30,
    bad_records: int = 0,
) -> UdemyData:
    """Build the catalog and activity. Activity dates fall within `activity_days` before `anchor`
    (default: today, UTC). `bad_records` courses and activity rows are deliberately broken."""
    rng = random.Random(seed)
    anchor = anchor or datetime.now(UTC).date()
    courses = [_course(rng, cid) for cid in sorted(rng.sample(range(10_000, 9_000_000), n_courses))]
    paths = [_learning_path(rng, 4_000 + i, courses) for i in range(n_learning_paths)]
    activities = _activities(rng, courses, n_learners, n_activities, anchor, activity_days)
    _break(rng, courses, activities, bad_records)
    return UdemyData(courses=courses, learning_paths=paths, activities=activities)


def _course(rng: random.Random, cid: int) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    slug = f"{topic.lower().replace(' ', '-')}-{cid}"
    title = f"{rng.choice(('The Complete', 'Mastering', 'Practical', 'Intro to', 'Advanced'))} {topic} {cid % 997}"
    locale = rng.choices(_LOCALE_VALUES, cum_weights=_LOCALE_CUM)[0]
    length = rng.choice((0, rng.randint(15, 90), rng.randint(90, 600), rng.randint(600, 4000)))
    course: dict[str, Any] = {
        "_class": "course",
        "id": cid,
        "title": title,
        "headline": f"Learn {topic} step by step",
        "url": f"{HOST}/course/{slug}/",
        "estimated_content_length": length,
        "estimated_content_length_video": max(0, length - rng.randint(0, 30)),
        "num_lectures": rng.randint(5, 300),
        "is_practice_test_course": length == 0,
        "has_closed_caption": rng.random() < 0.7,
        "mobile_native_deeplink": f"udemy-business://course/{cid}",
        "last_update_date": f"20{rng.randint(18, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "xapi_activity_id": f"{HOST}/course/{cid}",
        "is_custom": rng.random() < 0.01,
        "is_imported": False,
        "level": rng.choice(LEVELS),
        "categories": rng.sample(CATEGORIES, rng.choice((1, 1, 1, 2))),
        "topics": [{"id": rng.randint(1, 9999), "title": topic, "url": f"/topic/{topic.lower()}/"}],
        "instructors": [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(rng.choice((1, 1, 2, 3)))],
        "locale": {"_class": "locale", "locale": locale} if locale else None,
    }
    if rng.random() < 0.9:
        course["description"] = f"<p>{title}: hands-on {topic} for busy professionals.</p>"
    if rng.random() < 0.95:
        course["images"] = {s: f"https://img-c.udemycdn.com/course/{s[5:]}/{cid}_a1b2.jpg" for s in rng.sample(IMAGE_SIZES, 3)}
    if rng.random() < 0.8:
        labels = rng.sample(("1080", "720", "480", "360"), 2)
        course["promo_video_url"] = [
            {"type": "video/mp4", "label": label, "file": f"https://mp4-c.udemycdn.com/{cid}_promo_{label}.mp4"}
            for label in labels
        ]
    return course


def _learning_path(rng: random.Random, pid: int, courses: list[dict[str, Any]]) -> dict[str, Any]:
    picked = rng.sample(courses, min(len(courses), rng.randint(2, 6)))
    half = len(picked) // 2 or 1
    sections = [
        {"id": pid * 10 + n, "title": title, "description": "", "order": n + 1,
         "items": [
             {"id": c["id"], "type": "course", "title": c["title"], "url": c["url"], "resource_url": c["url"],
              "duration": c["estimated_content_length"], "number_of_items": 1, "order": i + 1,
              "thumbnail": {"size_240x135": f"https://img-c.udemycdn.com/course/240x135/{c['id']}_a1b2.jpg"}}
             for i, c in enumerate(chunk)
         ]}
        for n, (title, chunk) in enumerate((("Foundations", picked[:half]), ("Going further", picked[half:])))
        if chunk
    ]
    path: dict[str, Any] = {
        "id": pid,
        "title": f"{rng.choice(TOPICS)} onboarding {pid}",
        "description": "<p>A curated path for new joiners.</p>" if rng.random() < 0.8 else "",
        "url": f"{HOST}/learning-paths/{pid}/",
        "created": "2025-03-10T09:12:44Z",
        "last_modified": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T16:01:05Z",
        "estimated_content_length": sum(int(c["estimated_content_length"]) for c in picked),
        "number_of_content_items": len(picked),
        "is_private_path": rng.random() < 0.2,  # the list endpoint only shows public paths
        "editors": [{"display_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                     "email": f"editor{pid}@acme.example", "lms_user_id": None}],
        "sections": sections,
    }
    if rng.random() < 0.7:
        path["thumbnail"] = {"size_240x135": f"https://img-c.udemycdn.com/lp/240x135/{pid}.jpg",
                             "size_480x270": f"https://img-c.udemycdn.com/lp/480x270/{pid}.jpg"}
    return path


def _activities(
    rng: random.Random, courses: list[dict[str, Any]], n_learners: int, n: int, anchor: date, days: int
) -> list[dict[str, Any]]:
    if not courses or n_learners < 1:
        return []
    end = datetime.combine(anchor, time(23, 59), tzinfo=UTC)
    pairs = rng.sample(range(n_learners * len(courses)), min(n, n_learners * len(courses)))
    rows = []
    for pair in pairs:
        learner, course = divmod(pair, len(courses))
        rows.append(_activity(rng, courses[course], learner + 1, end, days))
    return rows


def _activity(rng: random.Random, course: dict[str, Any], learner: int, end: datetime, days: int) -> dict[str, Any]:
    who = rng.random()
    if who < 0.03:
        email, name = ANONYMIZED, ANONYMIZED
    elif who < 0.06:
        email, name = f"ghost{learner}@example.com", f"Ghost{learner}"
    elif who < 0.10:
        email, name = f"Learner{learner}@Example.com", f"Learner{learner}"  # case varies in the wild
    else:
        email, name = f"learner{learner}@example.com", f"Learner{learner}"
    last = end - timedelta(seconds=rng.randint(0, days * 86_400))
    first = last - timedelta(seconds=rng.randint(0, 60 * 86_400))
    enroll = first - timedelta(seconds=rng.randint(0, 5 * 86_400))
    start: datetime | None = first
    roll = rng.random()
    completed: datetime | None = None
    if roll < 0.08:  # enrolled, never started
        ratio, start, last_seen = 0, None, None
        enroll = end - timedelta(seconds=rng.randint(0, days * 86_400))
    elif roll < 0.38:
        ratio, completed, last_seen = 100, last, last
    elif roll < 0.41:  # completed, then the course grew (docs: UDEMY-29, D-11)
        ratio, completed, last_seen = rng.randint(85, 99), last, last
    else:
        ratio, last_seen = rng.randint(1, 99), last
    if start is not None and rng.random() < 0.1:
        start = None  # the course_start_date fallback (docs: UDEMY-27)
    length = float(course["estimated_content_length"] or 30)
    minutes = round(length * ratio / 100 * rng.uniform(0.6, 1.1), 1)
    return {
        "user_name": name,
        "user_surname": "" if email == ANONYMIZED else rng.choice(LAST_NAMES),
        "user_email": email,
        "user_role": "Student",
        "user_external_id": None if email == ANONYMIZED else f"E-{learner:05d}",
        "lms_user_id": None,
        "user_is_deactivated": email == ANONYMIZED,
        "course_id": course["id"],
        "course_title": course["title"],
        "course_category": course["categories"][0],
        "course_duration": course["estimated_content_length"],
        "completion_ratio": ratio,
        "num_video_consumed_minutes": minutes,
        "course_enroll_date": _iso(enroll),
        "course_start_date": _iso(start),
        "course_completion_date": _iso(completed),
        "course_first_completion_date": _iso(completed),
        "course_last_accessed_date": _iso(last_seen),
        "is_assigned": rng.random() < 0.3,
        "assigned_by": None,
    }


def _break(rng: random.Random, courses: list[dict[str, Any]], activities: list[dict[str, Any]], n: int) -> None:
    """Data-level faults: records a connector must quarantine, not crash on."""
    for i, course in enumerate(rng.sample(courses, min(n, len(courses)))):
        course.update(({"title": None}, {"url": None}, {"title": "   ", "locale": "??"})[i % 3])
    for i, row in enumerate(rng.sample(activities, min(n, len(activities)))):
        row.update(({"user_email": None}, {"user_email": "not-an-email"}, {"completion_ratio": "n/a", "course_completion_date": None})[i % 3])


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def activity_day(row: dict[str, Any]) -> date | None:
    """The date from_date/to_date filter on: last access, else enrolment (never-started rows)."""
    stamp = row.get("course_last_accessed_date") or row.get("course_enroll_date")
    try:
        return date.fromisoformat(str(stamp)[:10]) if stamp else None
    except ValueError:
        return None


class UdemyStore:
    """The sandbox's live data; tests mutate it between runs. Thread-safe (served from a thread)."""

    def __init__(self, data: UdemyData) -> None:
        self._lock = threading.Lock()
        self._courses = {c["id"]: c for c in data.courses}
        self._paths = {p["id"]: p for p in data.learning_paths}
        self._activities = list(data.activities)
        self._course_list: list[dict[str, Any]] | None = None
        self._activity_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    # reads (what the API serves)
    def courses(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._course_list is None:
                self._course_list = [self._courses[k] for k in sorted(self._courses, key=_id_order)]
            return self._course_list

    def learning_paths(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._paths[k] for k in sorted(self._paths, key=_id_order) if not self._paths[k].get("is_private_path")]

    def activities(
        self, from_date: date | None, to_date: date | None, user_email: str | None = None, course_id: str | None = None
    ) -> list[dict[str, Any]]:
        key = (from_date, to_date, user_email, course_id)
        with self._lock:
            if key not in self._activity_cache:
                self._activity_cache[key] = [r for r in self._activities if _matches(r, *key)]
            return self._activity_cache[key]

    # mutations (tests)
    def remove_course(self, course_id: int) -> bool:
        with self._lock:
            self._course_list = None
            return self._courses.pop(course_id, None) is not None

    def set_course(self, course_id: int, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._course_list = None
            self._courses[course_id] = {**self._courses[course_id], **fields}
            return self._courses[course_id]

    def upsert_course(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self._course_list = None
            self._courses[raw["id"]] = dict(raw)

    def course(self, course_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._courses.get(course_id)

    def remove_learning_path(self, path_id: int) -> bool:
        with self._lock:
            return self._paths.pop(path_id, None) is not None

    def set_learning_path(self, path_id: int, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._paths[path_id] = {**self._paths[path_id], **fields}
            return self._paths[path_id]

    def upsert_learning_path(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self._paths[raw["id"]] = dict(raw)

    def add_activity(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self._activity_cache.clear()
            self._activities.append(dict(raw))

    def clear_activities(self) -> None:
        with self._lock:
            self._activity_cache.clear()
            self._activities.clear()

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "courses": len(self._courses),
                "learning_paths": len(self._paths),
                "public_learning_paths": sum(1 for p in self._paths.values() if not p.get("is_private_path")),
                "activities": len(self._activities),
                "anonymized_activities": sum(1 for r in self._activities if r.get("user_email") == ANONYMIZED),
            }


def _id_order(key: Any) -> tuple[int, Any]:
    # numeric ids first in order; odd ids (tests inject broken records) after them
    return (0, key) if isinstance(key, int) and not isinstance(key, bool) else (1, str(key))


def _matches(row: dict[str, Any], since: date | None, until: date | None, email: str | None, course: str | None) -> bool:
    if email is not None and str(row.get("user_email", "")).lower() != email.lower():
        return False
    if course is not None and str(row.get("course_id")) != course:
        return False
    if since is None and until is None:
        return True
    day = activity_day(row)
    return day is not None and (since is None or day >= since) and (until is None or day <= until)


def bench_activity(rows: int, seed: int) -> list[dict[str, Any]]:
    """`rows` learner activity items as this sandbox serves them (the stats transform benchmark's input)."""
    return generate(seed, max(500, rows // 40), 50, rows, n_learning_paths=0, anchor=date(2026, 6, 1)).activities
