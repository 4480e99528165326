"""Deterministic Edflex data: resources (JSON:API objects) and statistics (docs/providers/edflex.md).

Same seed and sizes → same data. The variety is deliberate: every content type Edflex documents,
languages the 360Learning enum lacks or spells differently, missing optional attributes, closed
statuses, learners unknown to 360Learning (ghost{i}@example.com) and a share of bad records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_NOW = datetime(2026, 3, 1, tzinfo=UTC)

TYPES = (
    ("article", 30), ("video", 30), ("mooc", 15), ("podcast", 10), ("program", 4), ("role-play", 2),
    ("interactive", 3), ("top-voice", 2), ("assessment", 2), ("book", 2),
)  # fmt: skip
LANGUAGES = (
    ("fr", 35), ("en", 30), ("en_US", 3), ("en-US", 3), ("pt-BR", 2), ("fr_CA", 2), ("de", 5), ("es", 5),
    ("it", 2), ("zh", 1), ("he", 1), ("km", 1), ("xx", 1), (None, 4),
)  # fmt: skip
MOOC_STATUSES = (("open all year", 40), ("opened", 25), ("coming soon", 10), ("closed", 15), ("archived", 10))
OTHER_STATUSES = ((None, 85), ("opened", 5), ("closed", 5), ("unavailable", 5))
DIFFICULTIES = (("introductive", 35), ("intermediate", 35), ("advanced", 15), (None, 10), (2, 5))
CREATORS = ("CNAM", "HEC Paris", "Harvard Business Review", "TED", "France Culture", "Les Echos", "MIT")
PLATFORMS = ("YouTube", "Coursera", "FUN MOOC", "Spotify", "Medium", "edX")
AUTHORS = ("Claire Lefèvre", "Marc Dubois", "Sofia Rossi", "John Smith", "Aiko Tanaka", "Lena Müller")
CATEGORY_NAMES = (
    "Management", "Soft skills", "Leadership", "Data", "Digital", "Marketing", "Finance", "Sales",
    "Communication", "Well-being", "Project management", "Languages", "Innovation", "HR", "Security",
)  # fmt: skip
WORDS = (
    "manager", "distance", "hybrid", "team", "feedback", "negotiation", "data", "strategy", "agile",
    "culture", "leadership", "pitch", "budget", "customer", "innovation", "remote", "wellbeing", "sales",
)  # fmt: skip
STAT_STATUSES = (("completed", 40), ("in_progress", 35), ("in progress", 10), ("started", 5), (None, 10))


@dataclass
class EdflexDataset:
    resources: list[dict[str, Any]] = field(default_factory=list)
    statistics: list[dict[str, Any]] = field(default_factory=list)
    catalogs: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)


def resource_id(i: int) -> str:
    # A bijection on 32 bits: unique, stable, and not in insertion order (like real ids).
    return f"r-{(i * 2654435761) & 0xFFFFFFFF:08x}"


def _weighted(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    values, weights = zip(*table)
    return rng.choices(values, weights=weights, k=1)[0]


def _iso_duration(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else ("" if days else "T0M"))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_resource(rng: random.Random, i: int, org: str, categories: list[dict[str, str]], bad: bool) -> dict[str, Any]:
    """One resource object; `bad` ones miss a required attribute or carry a broken one."""
    rid = resource_id(i)
    kind = _weighted(rng, TYPES)
    lang = _weighted(rng, LANGUAGES)
    status = _weighted(rng, MOOC_STATUSES if kind == "mooc" else OTHER_STATUSES)
    minutes = {"article": rng.randint(3, 20), "video": rng.randint(2, 45), "podcast": rng.randint(10, 90)}.get(
        kind, rng.randint(60, 60 * 40)
    )
    attrs: dict[str, Any] = {
        "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize() + f" #{i}",
        "description": f"<p>{' '.join(rng.choice(WORDS) for _ in range(12))}.</p>" if rng.random() < 0.9 else None,
        "language": lang,
        "type": kind,
        "difficulty": _weighted(rng, DIFFICULTIES),
        "duration": _iso_duration(minutes) if rng.random() < 0.92 else None,
        "author": {"fullName": rng.choice(AUTHORS)} if rng.random() < 0.7 else None,
        "creator": {"name": rng.choice(CREATORS)} if rng.random() < 0.9 else None,
        "url": f"https://{org}.edflex.com/{(lang or 'en')[:2]}/resource/{rid}",
        "categories": [dict(c) for c in rng.sample(categories, rng.randint(0, 3))],
    }
    if status is not None:
        attrs["status"] = status
    if rng.random() < 0.3:
        attrs["syllabus"] = "<ul><li>" + "</li><li>".join(rng.choice(WORDS) for _ in range(3)) + "</li></ul>"
    if rng.random() < 0.4:
        attrs["platform"] = {"name": rng.choice(PLATFORMS)}
    image_kind = rng.random()
    if image_kind < 0.75:
        attrs["image"] = {s: f"https://cdn.edflex.com/{rid}/{s[0]}.jpg" for s in ("smallUrl", "mediumUrl", "bigUrl")}
    elif image_kind < 0.9:
        attrs["image"] = {"smallUrl": f"https://cdn.edflex.com/{rid}/s.jpg"}
    if bad:
        broken = rng.choice(("title", "url", "duration", "type", "language"))
        attrs[broken] = {"title": None, "url": "", "duration": "four hours", "type": None, "language": 42}[broken]
    attrs = {k: v for k, v in attrs.items() if v is not None}
    return {
        "id": rid,
        "type": "resources",
        "attributes": attrs,
        "links": {"downloadScormZip": f"https://api.edflex.com/connect/v1/resources/{rid}/scorm"},
    }


def make_statistic(
    rng: random.Random, i: int, resource_ids: list[str], n_learners: int, now: datetime, history_days: int, bad: bool
) -> dict[str, Any]:
    status = _weighted(rng, STAT_STATUSES)
    if rng.random() < 0.03 or n_learners < 1:
        email: str | None = f"ghost{rng.randint(1, 20)}@example.com"  # not a 360Learning user
    else:
        email = f"learner{rng.randint(1, n_learners)}@example.com"
    first = now - timedelta(days=rng.randint(0, history_days), minutes=rng.randint(0, 1439))
    last = min(now, first + timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 600)))
    spent = rng.randint(30, 6 * 3600)
    attrs: dict[str, Any] = {
        "userEmail": email,
        "resourceId": rng.choice(resource_ids) if resource_ids else "r-unknown",
        "status": status,
        # Edflex sends ISO-8601 or seconds (docs/providers/edflex.md: Statistics): both occur.
        "timeSpent": _iso_duration(spent // 60) if rng.random() < 0.7 else spent,
        "firstActivityAt": _iso(first) if rng.random() < 0.95 else None,
        "lastActivityAt": _iso(last),
        "completedAt": _iso(last) if status == "completed" else None,
    }
    if bad:
        broken = rng.choice(("userEmail", "userEmail-syntax", "resourceId"))
        if broken == "userEmail":
            attrs["userEmail"] = None
        elif broken == "userEmail-syntax":
            attrs["userEmail"] = "not-an-email"
        else:
            attrs["resourceId"] = None
    return {"id": f"st-{i + 1:07d}", "type": "statistics", "attributes": attrs}


def generate(
    seed: int,
    n_courses: int,
    n_learners: int,
    n_activities: int,
    *,
    org: str = "acme",
    now: datetime = DEFAULT_NOW,
    history_days: int = 540,
    bad_record_ratio: float = 0.01,
) -> EdflexDataset:
    """Build a dataset; 50,000 resources take about a second."""
    rng = random.Random(seed)
    categories = [{"id": f"c-{100 + i}", "name": name} for i, name in enumerate(CATEGORY_NAMES)]
    resources = [make_resource(rng, i, org, categories, rng.random() < bad_record_ratio) for i in range(n_courses)]
    ids = [r["id"] for r in resources]
    statistics = [
        make_statistic(rng, i, ids, n_learners, now, history_days, rng.random() < bad_record_ratio)
        for i in range(n_activities)
    ]
    catalogs = [{"id": f"cat-{org}-main", "name": f"{org.capitalize()} – catalogue principal"}]
    return EdflexDataset(resources=resources, statistics=statistics, catalogs=catalogs, categories=categories)


def bench_activity(rows: int, seed: int) -> list[dict[str, Any]]:
    """`rows` learner activity items as this sandbox serves them (the stats transform benchmark's input)."""
    return generate(seed, max(500, rows // 40), 50, rows).statistics
