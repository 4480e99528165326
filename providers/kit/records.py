"""Provider records validated tolerantly by one pydantic model, a whole page at a time.

A record model is tolerant by design (every field optional but the id, unknown fields kept).
A page is validated at once against `list[<the model's record schema>]`: a TypedDict derived
from the model, field by field, so the records come out as plain dicts holding what
`model_validate(raw).model_dump(exclude_unset=True)` gives, without building and dumping a model
per record (about 2 to 4 times faster on a 1,000-record page). When some record fails, the page
is validated record by record: a record that still fails travels on as the provider sent it
(a non-record as `{"_raw": value}`, or dropped), for the mapping to quarantine.
"""

from __future__ import annotations

import functools
import logging
import types
import typing
from collections.abc import Callable
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic rejects typing.TypedDict before 3.12
)

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

log = logging.getLogger("learnsync.providers")

RecordReader = Callable[[list[Any]], tuple[list[dict[str, Any]], int]]  # raw items -> (records, invalid)


@functools.cache
def record_schema(model: type[BaseModel]) -> Any:
    """The TypedDict twin of `model`, derived from its fields (nested models become their twins)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.alias or info.validation_alias:
            raise TypeError(f"{model.__name__}.{name} has an alias: validate it with the model itself")
        annotation = _twin(info.annotation)
        if info.metadata:
            annotation = typing.Annotated[(annotation, *info.metadata)]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    schema = TypedDict(f"{model.__name__}Record", fields)  # type: ignore[misc]
    return with_config(ConfigDict(extra=model.model_config.get("extra") or "ignore"))(schema)


def _twin(annotation: Any) -> Any:
    """`annotation` with every BaseModel in it replaced by its record schema."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return record_schema(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if not args:
        return annotation
    twins = tuple(_twin(a) for a in args)
    if origin is typing.Annotated:
        return typing.Annotated[(twins[0], *args[1:])]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[twins]  # noqa: UP007 - built from a tuple at run time
    return origin[twins] if origin is not None else annotation


class TolerantRecords:
    """`RecordReader` of one model: valid records as dicts, invalid ones as sent (see module docstring)."""

    def __init__(self, model: type[BaseModel], label: str, *, non_records: Literal["wrap", "drop"] = "wrap") -> None:
        schema = record_schema(model)
        self.model = model
        self.label = label  # "udemy courses": names the stream in the log line about invalid records
        self._page = TypeAdapter(list[schema])  # type: ignore[valid-type]
        self._one = TypeAdapter(schema)
        self._non_records = non_records

    def __call__(self, items: list[Any]) -> tuple[list[dict[str, Any]], int]:
        try:
            return self._page.validate_python(items), 0
        except ValidationError:
            pass  # some record is invalid: sort them out one by one
        records: list[dict[str, Any]] = []
        invalid = 0
        for raw in items:
            try:
                records.append(self._one.validate_python(raw))
                continue
            except ValidationError:
                invalid += 1
            if isinstance(raw, dict):
                records.append(raw)
            elif self._non_records == "wrap":
                records.append({"_raw": raw})
        if invalid:
            log.info("%s: %d of %d records failed validation (left to the mapping)", self.label, invalid, len(items))
        return records, invalid
