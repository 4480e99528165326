"""Deterministic Coursera data: programs, contents and enrollment reports (docs/providers/coursera.md).

`generate(seed, ...)` gives the same data for the same arguments (no wall clock, own RNG) and
stays fast at 50,000 contents. `CourseraStore` holds the live data a sandbox serves; tests
mutate it between runs with its methods.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Any

BASE_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: generated activity happens before this
DAY_MS = 86_400_000

# (code, weight): mostly mappable locales, some regional, some unmapped ("xx", "tlh") or missing.
_LANGUAGES = [
    ("en", 50), ("fr", 8), ("es", 8), ("de", 5), ("pt-BR", 4), ("zh-CN", 3), ("ja", 3), ("ar", 2),
    ("ru", 2), ("en-US", 3), ("fr_CA", 2), ("zh-TW", 1), ("he", 1), ("xx", 1), ("tlh", 1), (None, 2),
]
_TYPES = [("Course", 70), ("Specialization", 12), ("ProfessionalCertificate", 5), ("Project", 5), ("GuidedProject", 5), ("Video", 3)]
_LEVELS = [("BEGINNER", 35), ("INTERMEDIATE", 30), ("ADVANCED", 15), ("MIXED", 8), (None, 12)]
_PARTNERS = [
    ("DeepLearning.AI", "dlai"), ("Stanford University", "stanford"), ("Google", "google"), ("IBM", "ibm"),
    ("University of Michigan", "umich"), ("HEC Paris", "hec"), ("Meta", "meta"), ("Duke University", "duke"),
]
_SKILLS = ["Regression Analysis", "Python Programming", "Leadership", "SQL", "Project Management", "Data Visualization",
           "Machine Learning", "Negotiation", "Cloud Computing", "Statistics", "Communication", "Excel"]
_TOPICS = ["Machine Learning", "Data Analysis", "Leadership", "Cloud Architecture", "Marketing", "Finance",
           "Python", "Negotiation", "Cybersecurity", "UX Design", "Public Health", "Project Management"]
_CUMULATIVE = {id(t): ([v for v, _ in t], list(itertools.accumulate(w for _, w in t))) for t in (_LANGUAGES, _TYPES, _LEVELS)}


def _weighted(rng: random.Random, table: list[tuple[Any, int]]) -> Any:
    values, cumulative = _CUMULATIVE[id(table)]
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def _opaque_id(rng: random.Random) -> str:
    # 22 url-safe base64 characters, like Coursera's ids (e.g. r0GnHOZaEees-Q6jQMxlrg)
    return base64.urlsafe_b64encode(rng.getrandbits(132).to_bytes(17, "big")).decode()[:22]


@dataclass
class CourseraData:
    programs: list[dict[str, Any]]
    contents: list[dict[str, Any]]
    enrollments: list[dict[str, Any]]


def _program(rng: random.Random, i: int) -> dict[str, Any]:
    slug = f"acme-academy-{i + 1}-{rng.randrange(10**5):05d}"
    return {"id": _opaque_id(rng), "name": f"Acme Academy {i + 1}", "tagline": "Upskill", "slug": slug,
            "url": f"https://www.coursera.org/programs/{slug}", "contentIds": []}


def _content(rng: random.Random, i: int, programs: list[dict[str, Any]]) -> dict[str, Any]:
    content_id = _opaque_id(rng)
    ctype = _weighted(rng, _TYPES)
    name = f"{rng.choice(_TOPICS)} {ctype} {i + 1}"
    slug = f"{name.lower().replace(' ', '-')}"
    chosen = rng.sample(programs, k=min(len(programs), 1 + (rng.random() < 0.2)))
    if rng.random() < 0.01:
        chosen = []  # no program -> no launch URL (quarantined by the mapping)
    record: dict[str, Any] = {
        "id": f"{ctype}~{content_id}",
        "contentId": content_id,
        "contentType": ctype,
        "name": name if rng.random() > 0.005 else None,
        "slug": slug,
        "languageCode": _weighted(rng, _LANGUAGES),
        "subtitleLanguageCodes": rng.sample(["en", "fr", "es", "de", "pt", "ar"], k=rng.randrange(0, 4)),
        "lastUpdatedAt": BASE_TIME_MS // 1000 - rng.randrange(0, 400) * 86_400,
        "instructors": [{"name": f"Instructor {rng.randrange(500)}", "title": "Professor"} for _ in range(rng.randrange(0, 3))],
        "partners": [{"name": n, "logoUrl": f"https://coursera-university-assets.example/{k}.png"}
                     for n, k in rng.sample(_PARTNERS, k=rng.choice([0, 1, 1, 1, 2, 3]))],
        "programs": [{"programId": p["id"], "contentUrl": f"{p['url']}/learn/{slug}"} for p in chosen],
    }
    if rng.random() < 0.85:
        record["description"] = f"Learn {name.lower()} with hands-on exercises."
    level = _weighted(rng, _LEVELS)
    if level is not None:
        record["difficultyLevel"] = level
    definition: dict[str, Any] = {}
    if rng.random() < 0.9:
        definition["estimatedLearningTime"] = rng.randrange(20, 200) * 1800  # seconds
    if rng.random() < 0.9:
        definition["promoPhoto"] = f"https://d3njjcbhbojbot.cloudfront.example/{content_id}.png"
    definition["skills"] = [{"skillName": s, "skillId": s.lower().replace(" ", "-")} for s in rng.sample(_SKILLS, k=rng.randrange(0, 4))]
    record["extraMetadata"] = {"typeName": f"{ctype[0].lower()}{ctype[1:]}Metadata", "definition": definition}
    if rng.random() < 0.01:
        record["isArchived"] = True  # ASSUMED flag: Coursera-side archiving, never mirrored (docs: D-06)
    for p in chosen:
        p["contentIds"].append({"contentId": content_id, "contentType": ctype})
    return record


def _enrollment(rng: random.Random, learner: int, content: dict[str, Any], ghost: bool) -> dict[str, Any]:
    email = f"ghost{learner}@example.com" if ghost else f"learner{learner}@example.com"
    program_id = content["programs"][0]["programId"] if content["programs"] else "noProgram"
    enrolled = BASE_TIME_MS - rng.randrange(5, 200) * DAY_MS - rng.randrange(DAY_MS)
    last = min(BASE_TIME_MS - 1, enrolled + rng.randrange(0, 120) * DAY_MS + rng.randrange(DAY_MS))
    completed = rng.random() < 0.3
    progress: float | None = 100 if completed else rng.choice([0, 5, 12, 37, 50, 64, 88, 99])
    if not completed and rng.random() < 0.05:
        progress = None
    record: dict[str, Any] = {
        "id": f"{email}~{program_id}~{content['contentId']}",
        "externalId": email.upper() if rng.random() < 0.03 else email,
        "email": email,
        "fullName": f"Learner {learner}",
        "programId": program_id,
        "contentId": content["contentId"],
        "contentType": content["contentType"],
        "contentName": content["name"],
        "partnerNames": [p["name"] for p in content["partners"]],
        "membershipState": "MEMBER",
        "isCompleted": completed,
        "overallProgress": progress,
        "grade": round(rng.random(), 4),
        "approxTotalCourseHrs": round(rng.uniform(0, 40), 2) if rng.random() < 0.9 else None,
        "enrolledAt": enrolled if rng.random() < 0.95 else None,
        "lastActivityAt": last if rng.random() < 0.95 else None,
        "completedAt": (last + rng.randrange(0, 3_600_000)) if completed else None,
        "updatedAt": last,
        "deletedAt": None,
    }
    if rng.random() < 0.02:
        del record["externalId"]  # mapping falls back to `email`
    return record


def generate(seed: int, n_courses: int = 250, n_learners: int = 50, n_activities: int = 500, n_programs: int = 3,
             ghost_share: float = 0.03) -> CourseraData:
    """Build a deterministic dataset. Learners are learner1..learnerN@example.com; about
    `ghost_share` of activity rows belong to unknown learners ghost{i}@example.com."""
    rng = random.Random(seed)
    programs = [_program(rng, i) for i in range(max(1, n_programs))]
    contents = [_content(rng, i, programs) for i in range(n_courses)]
    enrollments: list[dict[str, Any]] = []
    seen: set[str] = set()
    candidates = [c for c in contents if c["programs"]]
    attempts = 0
    while candidates and len(enrollments) < n_activities and attempts < n_activities * 5:
        attempts += 1
        ghost = rng.random() < ghost_share
        learner = rng.randrange(1, max(1, n_learners) + 1)
        record = _enrollment(rng, learner, rng.choice(candidates), ghost)
        if record["id"] not in seen:  # one row per learner x program x content
            seen.add(record["id"])
            enrollments.append(record)
    return CourseraData(programs, contents, enrollments)


@dataclass
class CourseraStore:
    """The live data a sandbox serves. Thread-safe: the server thread reads, tests write."""

    programs: list[dict[str, Any]] = field(default_factory=list)
    contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _content_list: list[dict[str, Any]] | None = field(default=None, repr=False)
    _report_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_data(cls, data: CourseraData) -> CourseraStore:
        return cls(programs=list(data.programs), contents={c["id"]: c for c in data.contents},
                   enrollments={e["id"]: e for e in data.enrollments})

    def _changed(self) -> None:
        self.version += 1
        self._content_list = None
        self._report_cache.clear()

    # --- mutations (tests) -------------------------------------------------------------
    def upsert_course(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self.contents[raw["id"]] = raw
            self._changed()

    def set_course(self, content_id: str, **fields: Any) -> None:
        with self._lock:
            self.contents[content_id] = {**self.contents[content_id], **fields}
            self._changed()

    def remove_course(self, content_id: str) -> None:
        with self._lock:
            self.contents.pop(content_id, None)
            self._changed()

    def add_activity(self, raw: dict[str, Any]) -> None:
        with self._lock:
            key = raw.get("id") or f"row-{len(self.enrollments)}"
            self.enrollments[key] = raw
            self._changed()

    def set_activity(self, row_id: str, **fields: Any) -> None:
        with self._lock:
            self.enrollments[row_id] = {**self.enrollments[row_id], **fields}
            self._changed()

    def remove_activity(self, row_id: str) -> None:
        with self._lock:
            self.enrollments.pop(row_id, None)
            self._changed()

    # --- reads (routes) ----------------------------------------------------------------
    def content_page(self, start: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        with self._lock:
            if self._content_list is None:
                self._content_list = list(self.contents.values())
            items = self._content_list
            return items[start : start + limit], len(items)

    def program_ids(self) -> set[str]:
        with self._lock:
            return {p["id"] for p in self.programs}

    def reports(self, program_id: str | None, external_id: str | None, after_ms: int | None) -> list[dict[str, Any]]:
        """Rows of one program (or the whole org) with lastActivityAt strictly after `after_ms`."""
        key = (program_id, external_id, after_ms)
        with self._lock:
            cached = self._report_cache.get(key)
            if cached is None:
                cached = [
                    e for e in self.enrollments.values()
                    if (program_id is None or e.get("programId") == program_id)
                    and (external_id is None or e.get("externalId") == external_id)
                    and (after_ms is None or (isinstance(e.get("lastActivityAt"), (int, float)) and e["lastActivityAt"] > after_ms))
                ]
                self._report_cache[key] = cached
            return cached

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"programs": len(self.programs), "contents": len(self.contents),
                    "enrollments": len(self.enrollments), "version": self.version}


def bench_activity(rows: int, seed: int) -> list[dict[str, Any]]:
    """`rows` learner activity items as this sandbox serves them (the stats transform benchmark's input)."""
    return generate(seed, max(500, rows // 40), 50, rows).enrollments
