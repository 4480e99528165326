"""Pydantic models for what crosses the Coursera HTTP boundary.

Envelopes and token answers are validated strictly enough to page safely. Records are
validated tolerantly (extra fields kept, every field optional) and a record that still
fails goes to the page as the raw dict: the mapping quarantines it, the page goes on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from learnsync.providers.kit.types import Number


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- envelopes -----------------------------------------------------------------------------
class Paging(_Tolerant):
    next: str | None = None  # next offset as a decimal string; absent on the last page
    total: int | None = None


class Envelope(_Tolerant):
    """`{"elements": [...], "paging": {...}, "linked": {}}` (docs/providers/coursera.md: Paging)."""

    elements: list[Any] = Field(default_factory=list)  # validated one by one, see validate_records
    paging: Paging = Field(default_factory=Paging)


# --- records -------------------------------------------------------------------------------
class RawContentRef(_Tolerant):
    contentId: str | None = None
    contentType: str | None = None


class RawProgram(_Tolerant):
    id: str
    name: str | None = None
    contentIds: list[RawContentRef] | None = None


class RawPartner(_Tolerant):
    name: str | None = None
    logoUrl: str | None = None


class RawProgramLink(_Tolerant):
    programId: str | None = None
    contentUrl: str | None = None


class RawSkill(_Tolerant):
    skillName: str | None = None
    skillId: str | None = None


class RawDefinition(_Tolerant):
    skills: list[RawSkill] | None = None
    estimatedLearningTime: Number | None = None  # seconds (docs: D-08)
    promoPhoto: str | None = None


class RawExtraMetadata(_Tolerant):
    typeName: str | None = None
    definition: RawDefinition | None = None


class RawContent(_Tolerant):
    """One element of `/contents` (docs/providers/coursera.md: Catalog)."""

    id: str | None = None
    contentId: str | None = None
    contentType: str | None = None
    name: str | None = None
    description: str | None = None
    languageCode: str | None = None
    difficultyLevel: str | None = None
    partners: list[RawPartner] | None = None
    programs: list[RawProgramLink] | None = None
    extraMetadata: RawExtraMetadata | None = None


Timestamp = int | float | datetime | str  # epoch ms; some fixtures use ISO strings


class RawEnrollment(_Tolerant):
    """One element of `/enrollmentReports` (docs/providers/coursera.md: Statistics)."""

    id: str | None = None
    externalId: str | None = None
    email: str | None = None
    programId: str | None = None
    contentId: str | None = None
    contentType: str | None = None
    isCompleted: bool | None = None
    overallProgress: Number | None = None
    approxTotalCourseHrs: Number | None = None
    enrolledAt: Timestamp | None = None
    lastActivityAt: Timestamp | None = None
    completedAt: Timestamp | None = None


def validate_records(model: type[_Tolerant], elements: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Tolerant per-record validation: valid records are normalised, invalid ones kept raw.

    Returns (records, number_invalid). Non-dict elements are dropped (nothing to map) and counted.
    """
    records: list[dict[str, Any]] = []
    invalid = 0
    for element in elements:
        if not isinstance(element, dict):
            invalid += 1
            continue
        try:
            records.append(model.model_validate(element).model_dump(exclude_unset=True))
        except ValidationError:
            invalid += 1
            records.append(element)  # the mapping quarantines what it cannot use
    return records, invalid


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from an epoch-ms number, a numeric string or an ISO string; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value == value else None  # NaN check
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000) if value.tzinfo else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int(parsed.timestamp() * 1000) if parsed.tzinfo else None
    return None
