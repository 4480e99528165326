"""Pydantic raw models of Udemy Business REST payloads (docs/providers/udemy.md).

Tolerant by design: every field is optional and unknown fields are kept, because the API adds
fields freely. The page envelope is strict (without `results` the page is unusable); records
that still fail validation are passed on raw so the mapping can quarantine them. The client
validates whole pages against the models' derived record schemas (providers/kit/records.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from learnsync.providers.kit.types import Count, Identifier, Number


class _Raw(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class UdemyLocale(_Raw):
    locale: str | None = None


class UdemyPromoVideo(_Raw):
    type: str | None = None
    label: Identifier | None = None
    file: str | None = None


class UdemyCourse(_Raw):
    id: Identifier
    title: str | None = None
    description: str | None = None
    url: str | None = None
    estimated_content_length: Number | None = None
    instructors: list[Any] | None = None
    locale: UdemyLocale | None = None
    images: dict[str, str | None] | None = None
    categories: list[str] | None = None
    promo_video_url: list[UdemyPromoVideo] | None = None
    last_update_date: str | None = None


class UdemyEditor(_Raw):
    display_name: str | None = None


class UdemyPathItem(_Raw):
    id: Identifier | None = None
    type: str | None = None
    title: str | None = None
    url: str | None = None
    resource_url: str | None = None
    order: Count | None = None


class UdemyPathSection(_Raw):
    id: Identifier | None = None
    title: str | None = None
    order: Count | None = None
    items: list[UdemyPathItem] | None = None


class UdemyLearningPath(_Raw):
    id: Identifier
    title: str | None = None
    description: str | None = None
    url: str | None = None
    last_modified: str | None = None
    estimated_content_length: Number | None = None
    editors: list[UdemyEditor] | None = None
    sections: list[UdemyPathSection] | None = None
    thumbnail: str | dict[str, str | None] | None = None


class UdemyCourseActivity(_Raw):
    course_id: Identifier | None = None
    user_email: str | None = None
    completion_ratio: Number | None = None
    num_video_consumed_minutes: Number | None = None
    course_enroll_date: str | None = None
    course_start_date: str | None = None
    course_completion_date: str | None = None
    course_last_accessed_date: str | None = None


class UdemyPage(_Raw):
    """DRF page envelope: `next` is an absolute URL or null."""

    count: int | None = None
    next: str | None = None
    previous: str | None = None
    results: list[Any]


RECORD_MODELS: dict[str, type[_Raw]] = {
    "courses": UdemyCourse,
    "learning_paths": UdemyLearningPath,
    "activity": UdemyCourseActivity,
}
