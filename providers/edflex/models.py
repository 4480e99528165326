"""Raw Edflex Connect API models (docs/providers/edflex.md) and record flattening.

The models are deliberately tolerant: every attribute is optional, unknown fields are kept,
and a record that still fails validation is flattened from the raw dict instead. Deciding
whether a record is usable is the mapping's job (it quarantines), never the client's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from learnsync.providers.kit.types import Identifier

Scalar = str | int | float | bool | None


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Named(_Tolerant):
    name: str | None = None


class Person(_Tolerant):
    fullName: str | None = None


class Image(_Tolerant):
    smallUrl: str | None = None
    mediumUrl: str | None = None
    bigUrl: str | None = None
    medium: str | None = None  # legacy API spelling


class Category(_Tolerant):
    id: Identifier | None = None
    name: str | None = None


class ResourceAttributes(_Tolerant):
    title: Scalar = None
    description: Scalar = None
    syllabus: Scalar = None
    language: Scalar = None
    type: Scalar = None
    difficulty: Scalar = None
    level: Scalar = None
    duration: Scalar = None
    status: Scalar = None
    url: Scalar = None
    author: Person | str | None = None
    creator: Named | str | None = None
    platform: Named | str | None = None
    image: Image | str | None = None
    categories: list[Category | str] | None = None


class Resource(_Tolerant):
    """One item of GET /connect/v1/resources `data` (JSON:API resource object, 6.11)."""

    id: Identifier
    type: str | None = None
    attributes: ResourceAttributes = Field(default_factory=ResourceAttributes)


class StatisticAttributes(_Tolerant):
    userEmail: Scalar = None
    resourceId: Scalar = None
    status: Scalar = None
    timeSpent: Scalar = None
    firstActivityAt: Scalar = None
    lastActivityAt: Scalar = None
    completedAt: Scalar = None


class Statistic(_Tolerant):
    """One item of GET /connect/v1/statistics `data` (ASSUMED shape, 6.14)."""

    id: Identifier | None = None
    type: str | None = None
    attributes: StatisticAttributes = Field(default_factory=StatisticAttributes)


class PageInfo(_Tolerant):
    number: int | None = None
    size: int | None = None
    total: int | None = None


class Meta(_Tolerant):
    page: PageInfo | None = None


class Links(_Tolerant):
    next: str | None = None


class ListEnvelope(_Tolerant):
    """A JSON:API list answer; items stay raw so one bad item cannot break the page."""

    data: list[Any] = Field(default_factory=list)
    meta: Meta | None = None
    links: Links | None = None


# Flat record keys handed to the mapping (one dict per resource / statistic).
RESOURCE_RECORD_KEYS = (
    "id",
    "title",
    "description",
    "syllabus",
    "language",
    "type",
    "difficulty",
    "duration",
    "status",
    "url",
    "author_name",
    "creator_name",
    "platform_name",
    "image_url",
    "image_big_url",
    "image_medium_url",
    "image_small_url",
    "categories",
    "category_ids",
)
STATISTIC_RECORD_KEYS = (
    "id",
    "userEmail",
    "resourceId",
    "status",
    "timeSpent",
    "firstActivityAt",
    "lastActivityAt",
    "completedAt",
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _name(value: Any, key: str) -> Any:
    # Edflex nests names ({"name": ...}); a bare string is accepted as the name itself.
    return value if isinstance(value, str) else _dict(value).get(key)


def _categories(value: Any) -> tuple[list[Any], list[Any]]:
    if not isinstance(value, list):
        return [], []
    names = [c if isinstance(c, str) else _dict(c).get("name") for c in value]
    ids = [_dict(c).get("id") for c in value if isinstance(c, dict)]
    return names, ids


def _validated(model: type[BaseModel], raw: Any) -> dict[str, Any]:
    """model_dump of the tolerant model, or the raw dict when even that fails."""
    try:
        return model.model_validate(raw).model_dump(exclude_none=True)
    except ValidationError:
        return _dict(raw)


def resource_record(raw: Any) -> dict[str, Any]:
    """Flatten one JSON:API resource into the record the mapping reads (RESOURCE_RECORD_KEYS)."""
    item = _validated(Resource, raw)
    attrs = _dict(item.get("attributes"))
    image = attrs.get("image")
    img = _dict(image)
    names, ids = _categories(attrs.get("categories"))
    difficulty = attrs.get("difficulty")
    return {
        "id": item.get("id"),
        "title": attrs.get("title"),
        "description": attrs.get("description"),
        "syllabus": attrs.get("syllabus"),
        "language": attrs.get("language"),
        "type": attrs.get("type"),
        # 360Learning's help page says "level", the Connect API says "difficulty"
        "difficulty": difficulty if difficulty is not None else attrs.get("level"),
        "duration": attrs.get("duration"),
        "status": attrs.get("status"),
        "url": attrs.get("url"),
        "author_name": _name(attrs.get("author"), "fullName"),
        "creator_name": _name(attrs.get("creator"), "name"),
        "platform_name": _name(attrs.get("platform"), "name"),
        "image_url": image if isinstance(image, str) else None,
        "image_big_url": img.get("bigUrl"),
        "image_medium_url": img.get("mediumUrl") or img.get("medium"),
        "image_small_url": img.get("smallUrl"),
        "categories": names,
        "category_ids": ids,
    }


def statistic_record(raw: Any) -> dict[str, Any]:
    """Flatten one statistics item into the record the mapping reads (STATISTIC_RECORD_KEYS)."""
    item = _validated(Statistic, raw)
    attrs = _dict(item.get("attributes"))
    record = {key: attrs.get(key) for key in STATISTIC_RECORD_KEYS}
    record["id"] = item.get("id")
    return record
