"""Wire models of the 360Learning API v2 (request side), strict like the published OpenAPI.

Bulk items are validated one by one with these models so a bad item fails alone, with a
readable errorMessage, as the real bulk results do. Unknown properties are rejected
(assumption #7 of the contract notes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

# Section 2.1: the 80 course languages of ExternalCourseDTO.defaultLang ("el" is listed twice).
COURSE_LANGS: tuple[str, ...] = tuple(
    dict.fromkeys(
        "bg cs da de el en es fi fr hr ht_HT hu id it ja kar_MM ko lt mh_MH nl nl_BE no pl pt ro ru "
        "rw_RW sk sl so_SO sv sw_KE th ti_ET tr uk zh am_ET bn bs ca cy en_CA en_GB es_AR es_MX et "
        "fr_CA gu he_IL hy kk km lo lv mi mn_MN mr ms my_MM nn_NO or pa pt_BR pt_MZ rn_BI si ta te "
        "tl_PH ur uz yo_NG zh_tw el hi sr ar vi zh_HANT".split()
    )
)
CONTENT_TYPES = (
    "article", "assessment", "audiobook", "book", "certificate", "channel", "course", "curriculum",
    "interactive", "journey", "labs", "linkedContent", "mooc", "podcast", "program", "roleplay",
    "specialization", "topvoice", "video",
)  # fmt: skip
CATALOG_CONTENT_TYPES = ("course", "path-session")
LIBRARY_CONTENT_TYPES = ("course", "path")

Lang = Literal[COURSE_LANGS]  # type: ignore[valid-type]
ContentType = Literal[CONTENT_TYPES]  # type: ignore[valid-type]
Str1 = Annotated[StrictStr, Field(min_length=1)]
ObjectId = Annotated[StrictStr, Field(pattern=r"^[a-fA-F0-9]{24}$")]


def _number(value: Any) -> Any:
    # JSON numbers only: pydantic's lax mode would accept "50" or true.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return value


def _iso_datetime(value: Any) -> datetime:
    # ISO 8601 with an explicit offset (the spec's date-time format); naive values are refused.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be an ISO 8601 date-time string") from exc
    if parsed.tzinfo is None:
        raise ValueError("must carry a timezone (e.g. Z)")
    return parsed.astimezone(UTC)


Number = Annotated[float, BeforeValidator(_number)]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]


class _Dto(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Dto):
    name: Str1
    logoUrl: StrictStr | None = None


class TranslatedFields(_Dto):
    name: Str1 | None = None
    description: Str1 | None = None
    subjects: list[Str1] | None = None
    launchUrl: Str1 | None = None
    mobileLaunchUrl: StrictStr | None = None


class Translation(_Dto):
    lang: Lang
    translatedFields: TranslatedFields


class ExternalCourseDTO(_Dto):
    externalId: Str1
    name: Str1
    launchUrl: Str1
    defaultLang: Lang
    subjects: list[Str1]
    sources: list[Source]
    description: Str1 | None = None
    imageUrl: StrictStr | None = None
    duration: Annotated[StrictInt, Field(ge=1, le=100000)] | None = None
    contentType: ContentType | None = None
    difficultyLevel: Literal["beginner", "intermediate", "advanced"] | None = None
    mobileLaunchUrl: StrictStr | None = None
    authorId: ObjectId | None = None
    translations: list[Translation] | None = None


class ExternalIdRef(_Dto):
    externalId: Str1


class CourseIdentifier(_Dto):
    type: Literal["externalId", "internalId"]
    value: Str1


class UserIdentifier(_Dto):
    type: Literal["mail", "internalId"]
    value: Str1


class ImportExternalStatisticsDTO(_Dto):
    courseIdentifier: CourseIdentifier
    userIdentifier: UserIdentifier
    progress: Annotated[Number, Field(ge=0, le=100)]
    timeSpent: Annotated[Number, Field(ge=1)]
    firstActivityAt: IsoDateTime
    lastActivityAt: IsoDateTime
    score: Annotated[Number, Field(ge=0, le=100)] | None = None
    result: Literal["success", "failed"] | None = None
    lang: Lang | None = None
    forceNew: StrictBool = False


class CatalogItem(_Dto):
    groupId: ObjectId
    contentType: Literal[CATALOG_CONTENT_TYPES]  # type: ignore[valid-type]
    contentId: ObjectId


class LibraryItem(_Dto):
    groupId: ObjectId
    contentType: Literal[LIBRARY_CONTENT_TYPES]  # type: ignore[valid-type]
    contentId: ObjectId


SKILL_LANGS = (
    "bg", "cs", "de", "en", "es", "fr", "hu", "it", "ja", "nl", "pl", "pt", "ro", "ru", "sa", "tr", "uk", "vm", "zh",
)  # fmt: skip


class SkillTranslatedFields(_Dto):
    name: Str1 | None = None
    description: Str1 | None = None


class SkillTranslation(_Dto):
    lang: Literal[SKILL_LANGS]  # type: ignore[valid-type]
    translatedFields: SkillTranslatedFields


class SkillUpsertDTO(_Dto):
    externalId: Str1
    name: Str1
    description: Str1 | None = None
    parentExternalIds: Annotated[list[StrictStr], Field(max_length=10)]
    translations: list[SkillTranslation] | None = None
    libraryId: Str1 | None = None  # deprecated in the spec; accepted and ignored


class SkillDeleteDTO(_Dto):
    externalId: Str1


class IntegrationCreate(_Dto):
    externalPlatform: Str1
    groupId: ObjectId
    authorId: ObjectId
    defaultCompletion: StrictBool = False  # omitted-field defaults: assumption #9
    defaultProgress: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    noGroupPropagation: StrictBool = False
    externalPlatformLogoUrl: StrictStr | None = None
    externalPlatformUnicolorLogoUrl: StrictStr | None = None


class IntegrationPatch(_Dto):
    externalPlatform: Str1 | None = None
    groupId: ObjectId | None = None
    authorId: ObjectId | None = None
    defaultCompletion: StrictBool | None = None
    defaultProgress: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    noGroupPropagation: StrictBool | None = None
    externalPlatformLogoUrl: StrictStr | None = None
    externalPlatformUnicolorLogoUrl: StrictStr | None = None


class TagBody(_Dto):
    name: Str1
    isMain: StrictBool
    externalId: Str1 | None = None


class CourseTagsBody(_Dto):
    tagIds: Annotated[list[ObjectId], Field(max_length=100)]


class CourseSkillsBody(_Dto):
    skillIds: list[Str1]


class ArchiveBody(_Dto):
    archived: StrictBool


def describe(error: ValidationError) -> str:
    """One line per problem, 'field.path: message', without echoing input values."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "literal_error" and len(message) > 120:
            message = "Input should be one of the documented enum values"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
