"""The OpenClassrooms wire shape: pydantic models for every body (Range paging: providers/kit/paging.py).

The B2B API is not public (docs/providers/openclassrooms.md ASSUMES its shape): this module and the
paths in `settings.py` are the only places that know wire names, so a real tenant's shape is a
change here. Records are read *tolerantly*: every field optional, extra fields kept, and each is
dumped under a stable Python name (`title`, `image_url`, `duration_hours`...), so the mapping never
sees wire names. A record whose values do not fit the types is still renamed and passed on raw:
the mapping quarantines what is wrong, the page goes on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from learnsync.providers.kit.types import Identifier, Number


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- records -------------------------------------------------------------------------------------
class RawCourse(_Tolerant):
    """One catalog item (docs/providers/openclassrooms.md: Catalog)."""

    id: Identifier | None = None
    title: str | None = None
    description: str | None = None
    language: str | None = None
    status: str | None = None
    url: str | None = None
    image_url: str | None = Field(default=None, validation_alias=AliasChoices("image_url", "illustration", "image"))
    duration_hours: Number | None = Field(default=None, validation_alias=AliasChoices("duration_hours", "duration"))
    difficulty: str | None = None
    categories: list[str] | None = Field(default=None, validation_alias=AliasChoices("categories", "topics"))


class RawProgress(_Tolerant):
    """One learner x course progress row (docs/providers/openclassrooms.md: Progress).

    `timeSpent` is OpenClassrooms' *theoretical* time in minutes: the course's theoretical
    duration already multiplied by the progress (sample: 10 h course, 65 % -> 390 min).
    """

    user_email: str | None = Field(default=None, validation_alias=AliasChoices("user_email", "userEmail"))
    course_id: Identifier | None = Field(default=None, validation_alias=AliasChoices("course_id", "courseId"))
    progress: Number | None = None
    time_spent_minutes: Number | None = Field(
        default=None, validation_alias=AliasChoices("time_spent_minutes", "timeSpent")
    )
    started_at: datetime | None = Field(default=None, validation_alias=AliasChoices("started_at", "startedAt"))
    last_activity_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("last_activity_at", "lastActivityAt")
    )
    completed_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("completed_at", "completedAt")
    )


def _aliases(model: type[BaseModel]) -> dict[str, str]:
    """wire name -> Python name, for every aliased field of `model`."""
    table: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        for choice in choices:
            if isinstance(choice, str) and choice != name:
                table.setdefault(choice, name)
    return table


def to_record(model: type[BaseModel], raw: Any) -> dict[str, Any]:
    """A JSON-safe dict under Python names; never raises (bad values travel on for quarantine)."""
    if not isinstance(raw, dict):
        return {"_raw": raw}
    try:
        return model.model_validate(raw).model_dump(mode="json")
    except ValidationError:
        renamed: dict[str, Any] = {}
        wire = _aliases(model)
        for key, value in raw.items():
            name = wire[key] if key in wire else key
            # The first alias wins (e.g. "illustration" over "image"), like validation does.
            if name not in renamed or renamed[name] is None:
                renamed[name] = value
        return renamed


def canonical_frame(raw: pd.DataFrame, model: type[BaseModel]) -> pd.DataFrame:
    """`raw` with wire-named columns renamed and every model field present (missing -> None)."""
    wire = _aliases(model)
    renames = {c: wire[c] for c in raw.columns if c in wire and wire[c] not in raw.columns}
    df = raw.rename(columns=renames).reset_index(drop=True)
    for name in model.model_fields:
        if name not in df.columns:
            df[name] = pd.Series([None] * len(df), index=df.index, dtype=object)
    return df
