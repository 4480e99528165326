"""pydantic v2 models for every 360Learning API v2 body learnsync sends or reads.

Wire names are camelCase (and `_id`); Python attributes are snake_case via aliases.
Request models are `extra="forbid"` so an unknown field never reaches the API (an unknown property
probably fails the item: docs/lms360.md, Working assumptions). Response models are tolerant
(`extra="allow"`): a new server field must not break a sync.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

# --- enums from the contract (docs/lms360.md: Conventions, External courses) --------------------
# The external-course language enum (one table for all of learnsync: providers/kit/languages.py).
from learnsync.providers.kit.languages import V2_LANGUAGES as COURSE_LANGS  # noqa: E402

ContentType = Literal[
    "article", "assessment", "audiobook", "book", "certificate", "channel", "course", "curriculum",
    "interactive", "journey", "labs", "linkedContent", "mooc", "podcast", "program", "roleplay",
    "specialization", "topvoice", "video",
]  # fmt: skip
DifficultyLevel = Literal["beginner", "intermediate", "advanced"]
BulkState = Literal["pending", "queued", "running", "completed", "error"]
NonEmpty = Annotated[str, Field(min_length=1)]
ObjectId = Annotated[str, Field(pattern=r"^[a-fA-F0-9]{24}$")]


class _Request(BaseModel):
    """Outgoing body: snake_case in Python, camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class _Response(BaseModel):
    """Incoming body: tolerant of fields we do not know yet."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


def _check_lang(value: str | None) -> str | None:
    if value is not None and value not in COURSE_LANGS:
        raise ValueError(f"language {value!r} is not in the 360Learning course language enum")
    return value


# --- errors -----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str = ""


class ErrorEnvelope(BaseModel):
    """Both error shapes: `{"error": {"code", "message"}}` and `{"error": "code"}`."""

    model_config = ConfigDict(extra="allow")
    error: ErrorBody | str

    @property
    def code(self) -> str:
        return self.error if isinstance(self.error, str) else self.error.code


# --- integrations (docs/lms360.md: Integrations) ------------------------------------------------


class IntegrationCreate(_Request):
    external_platform: NonEmpty
    group_id: ObjectId
    author_id: ObjectId
    # Defaults are undocumented server-side (docs/lms360.md: Integrations): always send them explicitly.
    default_completion: bool = False
    default_progress: int = Field(default=0, ge=0, le=100)
    no_group_propagation: bool = False
    external_platform_logo_url: str | None = None
    external_platform_unicolor_logo_url: str | None = None


class IntegrationUpdate(_Request):
    """PATCH body: every field optional, omitted fields stay unchanged."""

    external_platform: NonEmpty | None = None
    group_id: ObjectId | None = None
    author_id: ObjectId | None = None
    default_completion: bool | None = None
    default_progress: int | None = Field(default=None, ge=0, le=100)
    no_group_propagation: bool | None = None
    external_platform_logo_url: str | None = None
    external_platform_unicolor_logo_url: str | None = None


class IntegrationFields(_Response):
    """`PATCH /integrations/{id}` answers the integration's fields without its `_id`."""

    external_platform: str
    group_id: str
    author_id: str
    default_completion: bool | None = None
    default_progress: int | None = None
    no_group_propagation: bool | None = None
    external_platform_logo_url: str | None = None
    external_platform_unicolor_logo_url: str | None = None


class Integration(_Response):
    id: str = Field(alias="_id")
    external_platform: str
    group_id: str
    author_id: str
    default_completion: bool | None = None
    default_progress: int | None = None
    no_group_propagation: bool | None = None
    external_platform_logo_url: str | None = None
    external_platform_unicolor_logo_url: str | None = None


# --- external courses (docs/lms360.md: External courses) ----------------------------------------


class CourseSource(_Request):
    name: NonEmpty
    logo_url: NonEmpty | None = None


class TranslatedFields(_Request):
    name: NonEmpty | None = None
    description: NonEmpty | None = None
    subjects: list[NonEmpty] | None = None
    launch_url: NonEmpty | None = None
    mobile_launch_url: NonEmpty | None = None


class Translation(_Request):
    lang: str
    translated_fields: TranslatedFields

    @field_validator("lang")
    @classmethod
    def _known_lang(cls, value: str) -> str | None:
        return _check_lang(value)


class ExternalCourse(_Request):
    """One item of `PUT /bulk/integrations/{id}/courses` (ExternalCourseDTO)."""

    external_id: NonEmpty
    name: NonEmpty
    launch_url: NonEmpty
    default_lang: str
    subjects: list[NonEmpty]
    sources: list[CourseSource]
    description: NonEmpty | None = None
    image_url: NonEmpty | None = None
    duration: int | None = Field(default=None, ge=1, le=100_000)  # minutes; 0 is rejected
    content_type: ContentType | None = None
    difficulty_level: DifficultyLevel | None = None
    mobile_launch_url: NonEmpty | None = None
    author_id: ObjectId | None = None
    translations: list[Translation] | None = None

    @field_validator("default_lang")
    @classmethod
    def _known_lang(cls, value: str) -> str | None:
        return _check_lang(value)


class ArchiveItem(_Request):
    external_id: NonEmpty


class ExternalCourseOut(_Response):
    """`GET /integrations/{id}/courses/{externalId}`: the upsert fields plus the internal courseId."""

    course_id: str
    external_id: str
    name: str | None = None
    launch_url: str | None = None
    default_lang: str | None = None
    subjects: list[str] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    description: str | None = None
    image_url: str | None = None
    duration: int | None = None
    content_type: str | None = None
    difficulty_level: str | None = None
    mobile_launch_url: str | None = None
    author_id: str | None = None
    translations: list[dict[str, Any]] = Field(default_factory=list)


class Course(_Response):
    id: str = Field(alias="_id")
    name: str | None = None
    status: Literal["published", "archived", "deleted"] | str
    type: str | None = None
    external_platform: str | None = None

    @property
    def archived(self) -> bool:
        return self.status == "archived"


# --- statistics (docs/lms360.md: Statistics) ----------------------------------------------------


class CourseIdentifier(_Request):
    type: Literal["externalId", "internalId"] = "externalId"
    value: NonEmpty


class UserIdentifier(_Request):
    type: Literal["mail", "internalId"] = "mail"
    value: NonEmpty = Field(repr=False)  # an e-mail: never in reprs/logs


def _iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class StatItem(_Request):
    """One item of `POST /bulk/integrations/{id}/stats` (ImportExternalStatisticsDTO)."""

    course_identifier: CourseIdentifier
    user_identifier: UserIdentifier
    progress: float = Field(ge=0, le=100)
    time_spent: float = Field(ge=1)  # milliseconds; 0 is rejected by the schema
    first_activity_at: datetime
    last_activity_at: datetime  # the completion date when progress == 100
    score: float | None = Field(default=None, ge=0, le=100)
    result: Literal["success", "failed"] | None = None
    lang: str | None = None
    force_new: bool | None = None

    @field_validator("lang")
    @classmethod
    def _known_lang(cls, value: str | None) -> str | None:
        return _check_lang(value)

    @field_serializer("first_activity_at", "last_activity_at")
    def _ser_dt(self, value: datetime) -> str:
        return _iso_utc(value)

    @field_serializer("progress", "time_spent", "score")
    def _ser_num(self, value: float | None) -> float | int | None:
        # Whole numbers go out as ints ("integer percent", milliseconds).
        if value is None or not math.isfinite(value):
            return value
        return int(value) if float(value).is_integer() else value


# --- bulk framework (docs/lms360.md: Bulk operations) -------------------------------------------


class BulkProgress(_Response):
    index: int
    updated_at: datetime | None = None


class BulkStatus(_Response):
    id: str = Field(alias="_id")
    type: str | None = None
    status: BulkState
    created_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    progress: BulkProgress | None = None
    error_message: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "error")


class _BulkItemBase(_Response):
    input: dict[str, Any] = Field(default_factory=dict)
    # Set by the client (not on the wire): which operation produced this result, None if the
    # item was refused locally before being sent.
    bulk_operation_id: str | None = Field(
        default=None, validation_alias=AliasChoices("bulk_operation_id", "bulkOperationId")
    )


class BulkItemSuccess(_BulkItemBase):
    status: Literal["success"] = "success"
    resource_id: str | None = None  # the spec gives it no meaning: never read as a course id unchecked
    # Set by the client for course upserts: the course's id as the external-course get names it.
    course_id: str | None = Field(default=None, validation_alias=AliasChoices("course_id"))

    @property
    def ok(self) -> bool:
        return True


class BulkItemError(_BulkItemBase):
    status: Literal["error"] = "error"
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return False


BulkItemResult = Annotated[BulkItemSuccess | BulkItemError, Field(discriminator="status")]
BULK_ITEM_RESULT: TypeAdapter[BulkItemSuccess | BulkItemError] = TypeAdapter(BulkItemResult)
BULK_ITEM_RESULTS: TypeAdapter[list[BulkItemSuccess | BulkItemError]] = TypeAdapter(list[BulkItemResult])


# --- sharing (docs/lms360.md: Sharing) ----------------------------------------------------------


class ShareItem(_Request):
    """Catalog items use contentType course|path-session, library items course|path."""

    group_id: ObjectId
    content_id: ObjectId
    content_type: Literal["course", "path", "path-session"] = "course"


# --- tags, skills (docs/lms360.md: Tags and skills) ---------------------------------------------


class TagCreate(_Request):
    name: NonEmpty
    is_main: bool = False
    external_id: NonEmpty | None = None


class Tag(_Response):
    id: str = Field(alias="_id")
    name: str
    is_main: bool | None = None
    external_id: str | None = None
    source: str | None = None


class CourseTag(_Response):
    tag_id: str
    source: str | None = None


class CourseTagsReplace(_Request):
    tag_ids: list[ObjectId] = Field(max_length=100)


class SkillUpsert(_Request):
    """One item of `PUT /bulk/skills` (upsert keyed by externalId)."""

    external_id: NonEmpty
    name: NonEmpty
    description: NonEmpty | None = None
    parent_external_ids: list[str] = Field(default_factory=list, max_length=10)


class SkillDelete(_Request):
    """One item of `DELETE /bulk/skills`."""

    external_id: NonEmpty


class Skill(_Response):
    id: str = Field(alias="_id")
    name: str
    external_id: str | None = None
    status: Literal["published", "archived"] | str | None = None


class CourseSkill(_Response):
    skill_id: str = Field(validation_alias=AliasChoices("skillId", "_id", "skill_id", "id"))
    name: str | None = None


class CourseSkillsReplace(_Request):
    skill_ids: list[str]


# --- users (docs/lms360.md: Users) --------------------------------------------------------------


class User(_Response):
    id: str = Field(alias="_id")
    mail: str | None = Field(default=None, repr=False)  # learner e-mails never in reprs/logs
    username: str | None = Field(default=None, repr=False)
    status: str | None = None
    lang: str | None = None
    first_name: str | None = Field(default=None, repr=False)
    last_name: str | None = Field(default=None, repr=False)
    primary_group_id: str | None = None
