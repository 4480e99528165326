"""Field types for provider records: JSON as the provider sent it, never silently re-typed.

pydantic's lax mode turns `true` into 1 (and 1.0) for number fields: a duration or a progress of
`true` would be sent as 1. These types refuse booleans, so such a record fails validation and
reaches the mapping as sent, which treats the value as missing or quarantines the record.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


Number = Annotated[float, BeforeValidator(_no_bool)]
Count = Annotated[int, BeforeValidator(_no_bool)]
Identifier = Annotated[int | str, BeforeValidator(_no_bool)]
