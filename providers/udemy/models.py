"""Pydantic raw models of Udemy Business REST payloads (docs/providers/udemy.md).

Tolerant by design: every field is optional and unknown fields are kept, because the API adds
fields freely. The page envelope is strict (without `results` the page is unusable); records
that still fail validation are passed on raw so the mapping can quarantine them.

Each record model has a TypedDict twin (`RECORD_SCHEMAS`) with the same fields and types: the
client validates whole pages with it straight to dicts, which gives what
`model_validate(...).model_dump(exclude_unset=True)` gives without building and dumping a model
per record (tests/providers/test_udemy_client.py holds the twins to the models).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, with_config

from learnsync.providers.kit.types import Count, Identifier, Number
from typing_extensions import NotRequired, TypedDict  # pydantic rejects typing.TypedDict before 3.12


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


# --------------------------------------------------------------------------- TypedDict twins
# total=False: a key the payload lacks stays absent (the models' exclude_unset dump).
_EXTRA = ConfigDict(extra="allow")


@with_config(_EXTRA)
class UdemyLocaleRecord(TypedDict, total=False):
    locale: str | None


@with_config(_EXTRA)
class UdemyPromoVideoRecord(TypedDict, total=False):
    type: str | None
    label: Identifier | None
    file: str | None


@with_config(_EXTRA)
class UdemyCourseRecord(TypedDict):
    id: Identifier
    title: NotRequired[str | None]
    description: NotRequired[str | None]
    url: NotRequired[str | None]
    estimated_content_length: NotRequired[Number | None]
    instructors: NotRequired[list[Any] | None]
    locale: NotRequired[UdemyLocaleRecord | None]
    images: NotRequired[dict[str, str | None] | None]
    categories: NotRequired[list[str] | None]
    promo_video_url: NotRequired[list[UdemyPromoVideoRecord] | None]
    last_update_date: NotRequired[str | None]


@with_config(_EXTRA)
class UdemyEditorRecord(TypedDict, total=False):
    display_name: str | None


@with_config(_EXTRA)
class UdemyPathItemRecord(TypedDict, total=False):
    id: Identifier | None
    type: str | None
    title: str | None
    url: str | None
    resource_url: str | None
    order: Count | None


@with_config(_EXTRA)
class UdemyPathSectionRecord(TypedDict, total=False):
    id: Identifier | None
    title: str | None
    order: Count | None
    items: list[UdemyPathItemRecord] | None


@with_config(_EXTRA)
class UdemyLearningPathRecord(TypedDict):
    id: Identifier
    title: NotRequired[str | None]
    description: NotRequired[str | None]
    url: NotRequired[str | None]
    last_modified: NotRequired[str | None]
    estimated_content_length: NotRequired[Number | None]
    editors: NotRequired[list[UdemyEditorRecord] | None]
    sections: NotRequired[list[UdemyPathSectionRecord] | None]
    thumbnail: NotRequired[str | dict[str, str | None] | None]


@with_config(_EXTRA)
class UdemyCourseActivityRecord(TypedDict, total=False):
    course_id: Identifier | None
    user_email: str | None
    completion_ratio: Number | None
    num_video_consumed_minutes: Number | None
    course_enroll_date: str | None
    course_start_date: str | None
    course_completion_date: str | None
    course_last_accessed_date: str | None


RECORD_SCHEMAS: dict[str, type] = {
    "courses": UdemyCourseRecord,
    "learning_paths": UdemyLearningPathRecord,
    "activity": UdemyCourseActivityRecord,
}
