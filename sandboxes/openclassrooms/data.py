"""Deterministic OpenClassrooms data: catalog courses and learner progress rows, plus the live store.

Records use the wire shape of docs/providers/openclassrooms.md. Same seed, same data. Learners are
learner{i}@example.com (i from 1, matching the 360Learning sandbox users); about 3 % of rows use
unknown ghost{i}@example.com learners. Optional `bad_ratio` adds malformed records (missing
title/url/e-mail, out-of-range progress...) for quarantine tests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

ACTIVITY_END = datetime(2025, 11, 30, 18, 0, tzinfo=UTC)  # fixed clock: deterministic data

_TOPICS_FR = ["Python", "JavaScript", "SQL", "Git", "Java", "React", "Docker", "Linux", "Excel", "Figma",
              "Scrum", "SEO", "Power BI", "Cybersécurité", "Machine Learning", "UX Design"]  # fmt: skip
_VERBS_FR = ["Apprenez", "Initiez-vous à", "Maîtrisez", "Découvrez", "Perfectionnez-vous en", "Pilotez un projet avec"]
_VERBS_EN = ["Learn", "Get started with", "Master", "Discover", "Improve your skills in", "Run a project with"]
_CATEGORIES = ["Développement", "Gestion de projet", "Data", "Design", "Marketing", "Entrepreneuriat",
               "Systèmes & Réseaux", "Soft skills", "Cybersécurité"]  # fmt: skip
# (value, weight): mostly French, some English, a few regional locales, unmapped and missing ones.
_LANGUAGES = [("fr", 68), ("en", 20), ("en-US", 2), ("en_GB", 1), ("fr_CA", 1), ("pt-BR", 1),
              ("es", 2), ("xx", 2), ("klingon", 1), (None, 2)]  # fmt: skip
_STATUSES = [("active", 74), ("coming-soon", 6), ("pre-registration", 4), ("archived", 10), ("draft", 3),
             ("unpublished", 2), ("closed", 1)]  # fmt: skip
_DIFFICULTIES = [("easy", 40), ("medium", 35), ("hard", 15), (None, 10)]


def _pick(rng: random.Random, table: list[tuple[Any, int]]) -> Any:
    values, weights = zip(*table)
    return rng.choices(values, weights)[0]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_course(rng: random.Random, course_id: int) -> dict[str, Any]:
    """One catalog item, optional fields sometimes missing."""
    lang = _pick(rng, _LANGUAGES)
    topic = rng.choice(_TOPICS_FR)
    french = lang in (None, "fr", "fr_CA", "xx", "klingon")
    title = f"{rng.choice(_VERBS_FR if french else _VERBS_EN)} {topic}"
    prefix = "fr" if french else "en"
    course: dict[str, Any] = {
        "id": course_id,
        "title": title,
        "description": None if rng.random() < 0.05 else f"{title} : cours n°{course_id}. Objectifs, exercices et quiz.",
        "language": lang,
        "status": _pick(rng, _STATUSES),
        "url": f"https://openclassrooms.com/{prefix}/courses/{course_id}",
        "illustration": None if rng.random() < 0.15 else f"https://user.oc-static.com/courses/{course_id}/illu.png",
        "duration": None if rng.random() < 0.05 else (0.5 if rng.random() < 0.05 else rng.randint(1, 60)),
        "difficulty": _pick(rng, _DIFFICULTIES),
        "categories": [] if rng.random() < 0.05 else rng.sample(_CATEGORIES, rng.randint(1, 2)),
    }
    if rng.random() < 0.03:
        del course["categories"]
    if rng.random() < 0.02:
        del course["difficulty"]
    return course


def _break_course(rng: random.Random, course: dict[str, Any]) -> None:
    """Make one course malformed the way a real feed can be."""
    kind = rng.randrange(4)
    if kind == 0:
        course["title"] = None
    elif kind == 1:
        course.pop("url", None)
    elif kind == 2:
        course["duration"] = "ten hours"
    else:
        course["categories"] = "Data"  # a string where a list is expected


def make_activity(rng: random.Random, email: str, course: dict[str, Any]) -> dict[str, Any]:
    """One progress row; timeSpent = theoretical minutes x progress."""
    started = ACTIVITY_END - timedelta(seconds=rng.randint(3600, 180 * 86400))
    last = started + timedelta(seconds=rng.randint(0, int((ACTIVITY_END - started).total_seconds())))
    roll = rng.random()
    progress = 100 if roll < 0.25 else 0 if roll < 0.30 else rng.randint(1, 99)
    hours = course.get("duration")
    spent = round(hours * 60 * progress / 100) if isinstance(hours, (int, float)) else None
    return {
        "userEmail": email,
        "courseId": course["id"],
        "progress": progress,
        "timeSpent": spent,
        "startedAt": None if rng.random() < 0.03 else _iso(started),
        "lastActivityAt": _iso(last),
        "completedAt": _iso(last) if progress == 100 else None,
    }


def _break_activity(rng: random.Random, row: dict[str, Any]) -> None:
    kind = rng.randrange(4)
    if kind == 0:
        row["userEmail"] = None
    elif kind == 1:
        row["userEmail"] = "not-an-email"
    elif kind == 2:
        row["progress"] = rng.choice([130, -5])
    else:
        row["lastActivityAt"] = "yesterday-ish"


@dataclass
class OpenClassroomsData:
    courses: list[dict[str, Any]]
    activities: list[dict[str, Any]]


def generate(
    seed: int = 42,
    n_courses: int = 250,
    n_learners: int = 50,
    n_activities: int = 500,
    *,
    ghost_ratio: float = 0.03,
    bad_ratio: float = 0.0,
) -> OpenClassroomsData:
    """Deterministic catalog + progress rows (50,000 courses take well under a few seconds)."""
    rng = random.Random(seed)
    courses = [make_course(rng, 4_000_000 + i * 17 + rng.randrange(17)) for i in range(n_courses)]
    for course in courses:
        if bad_ratio and rng.random() < bad_ratio:
            _break_course(rng, course)
    activities: list[dict[str, Any]] = []
    if courses and n_learners > 0:
        wanted = min(n_activities, n_courses * n_learners)
        seen: set[tuple[str, int]] = set()
        ghosts = 0
        while len(activities) < wanted:
            if rng.random() < ghost_ratio:
                ghosts += 1
                email = f"ghost{ghosts}@example.com"
            else:
                email = f"learner{rng.randint(1, n_learners)}@example.com"
            course = rng.choice(courses)
            if (email, course["id"]) in seen:
                continue
            seen.add((email, course["id"]))
            row = make_activity(rng, email, course)
            if rng.random() < 0.03:
                row["userEmail"] = email.capitalize()  # learners type their e-mail in any case
            if bad_ratio and rng.random() < bad_ratio:
                _break_activity(rng, row)
            activities.append(row)
    return OpenClassroomsData(courses=courses, activities=activities)


def _activity_day(row: dict[str, Any]) -> date | None:
    """The day a progress row counts in for `from`/`to`: last activity, else completion, else start."""
    for key in ("lastActivityAt", "completedAt", "startedAt"):
        value = row.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date()
            except ValueError:
                continue
    return None


@dataclass
class OpenClassroomsStore:
    """The sandbox's live data. Tests mutate it between runs through these methods (thread-safe)."""

    courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _version: int = 0
    _course_cache: tuple[int, list[dict[str, Any]]] | None = field(default=None, repr=False)
    _activity_cache: dict[tuple[int, date | None, date | None], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_data(cls, data: OpenClassroomsData) -> OpenClassroomsStore:
        return cls(courses={str(c["id"]): c for c in data.courses}, activities=list(data.activities))

    def _changed(self) -> None:
        self._version += 1
        self._activity_cache.clear()

    # --- catalog -----------------------------------------------------------------------------
    def course(self, course_id: int | str) -> dict[str, Any] | None:
        return self.courses.get(str(course_id))

    def upsert_course(self, raw: dict[str, Any]) -> None:
        with self._lock:
            key = str(raw["id"])
            if key in self.courses:
                self.courses[key] = {**self.courses[key], **raw}
            else:
                self.courses[key] = dict(raw)
            self._changed()

    def set_course(self, course_id: int | str, **fields: Any) -> None:
        with self._lock:
            self.courses[str(course_id)].update(fields)
            self._changed()

    def remove_course(self, course_id: int | str) -> None:
        with self._lock:
            self.courses.pop(str(course_id), None)
            self._changed()

    def course_list(self) -> list[dict[str, Any]]:
        """Catalog in a stable order (cached until the next change) so ranges stay consistent."""
        with self._lock:
            if self._course_cache is None or self._course_cache[0] != self._version:
                self._course_cache = (self._version, list(self.courses.values()))
            return self._course_cache[1]

    # --- learner progress --------------------------------------------------------------------------
    def add_activity(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self.activities.append(dict(raw))
            self._changed()

    def activity_list(self, since: date | None, until: date | None) -> list[dict[str, Any]]:
        """Rows whose activity day is within [since, until] (inclusive); no bound = everything."""
        with self._lock:
            key = (self._version, since, until)
            if key not in self._activity_cache:
                rows = self.activities
                if since or until:
                    days = [(_activity_day(r), r) for r in rows]
                    rows = [
                        r for d, r in days
                        if d is not None and (since is None or d >= since) and (until is None or d <= until)
                    ]
                self._activity_cache[key] = list(rows)
            return self._activity_cache[key]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            by_status: dict[str, int] = {}
            for course in self.courses.values():
                status = str(course.get("status"))
                by_status[status] = by_status.get(status, 0) + 1
            return {"courses": len(self.courses), "courses_by_status": by_status, "activities": len(self.activities)}


def bench_activity(rows: int, seed: int) -> list[dict[str, Any]]:
    """`rows` learner activity items as this sandbox serves them (the stats transform benchmark's input)."""
    return generate(seed, max(500, rows // 40), 50, rows).activities
