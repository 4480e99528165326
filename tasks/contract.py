"""The limits and cleaning 360Learning's v2 contract implies, applied to every mapped course and stat.

The provider mappings apply the provider's rules; this applies what any v2 ExternalCourse must be,
whichever provider it came from (one behaviour for all):

- text carries no control characters (NUL, ESC...: tabs and line breaks stay) and no
  surrounding blanks; a text left empty is missing (the spec's minLength 1);
- a text holding U+FFFD came from an unreadable value (an invalid UTF-8 byte, a lone surrogate:
  learnsync.core.http.decode_json): the course is quarantined, the rest goes through;
- sizes: the spec sets no maximum, but a 300,000-character title is no title and a
  megabyte-long description makes bulk jobs too large to be accepted. A name, id or launch URL
  past its limit quarantines the course; a description is cut at its limit (on a word, with an
  ellipsis); an optional URL past its limit is dropped. The limits are below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from learnsync.core.http import UNREADABLE
from learnsync.providers.kit import row_keys

# Longest accepted values (characters). Ids are stored in the state store (255 characters).
MAX_LENGTH = {"externalId": 255, "name": 512, "launchUrl": 2048, "mobileLaunchUrl": 2048, "imageUrl": 2048}
MAX_DESCRIPTION = 20_000
MAX_SUBJECT = 255
REQUIRED_TEXT = ("externalId", "name", "launchUrl")
OPTIONAL_TEXT = ("imageUrl", "mobileLaunchUrl", "description")
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_CONTROL_RE = re.compile(_CONTROL)


@dataclass
class ContractResult:
    courses: pd.DataFrame
    quarantine: pd.DataFrame  # external_id, field, reason
    truncated: int  # descriptions cut to MAX_DESCRIPTION


def clean_text(values: pd.Series) -> pd.Series:
    """Strings without control characters or surrounding blanks; empty, non-text -> None."""
    text = values.where(values.map(lambda v: isinstance(v, str)), None).astype(object)
    present = text.notna()
    if not present.any():
        return text
    cleaned = text[present].astype(str).str.replace(_CONTROL, "", regex=True).str.strip()
    out = text.copy()
    out[present] = cleaned.where(cleaned != "", None)
    return out


def _clean_one(value: str) -> str | None:
    """`clean_text` of one string (a list cell's item): the same rule without a Series per item."""
    cleaned = _CONTROL_RE.sub("", value).strip()
    return cleaned or None


def _clean_list(cell: object) -> object:
    if not isinstance(cell, list):
        return cell
    out: list[object] = []
    for item in cell:
        if isinstance(item, str):
            item = _clean_one(item)
            if item:
                out.append(item[:MAX_SUBJECT])
        elif isinstance(item, dict):
            out.append({k: (_clean_one(v) if isinstance(v, str) else v) for k, v in item.items()})
        else:
            out.append(item)
    return out


def _unreadable_in_list(cell: object) -> bool:
    if not isinstance(cell, list):
        return False
    return any(
        (isinstance(i, str) and UNREADABLE in i) or (isinstance(i, dict) and any(isinstance(v, str) and UNREADABLE in v for v in i.values()))
        for i in cell
    )


def _cut(text: str) -> str:
    head = text[: MAX_DESCRIPTION - 1]
    space = head.rfind(" ", MAX_DESCRIPTION - 200)
    return (head[:space] if space > 0 else head).rstrip() + "…"


def enforce_course_contract(courses: pd.DataFrame) -> ContractResult:
    """Clean and check mapped courses (providers.base.COURSE_FIELDS + meta); quarantine the
    ones that cannot be made valid. Vectorised: columns are cleaned, not rows."""
    if not len(courses):
        return ContractResult(courses, pd.DataFrame(columns=["external_id", "field", "reason"]), 0)
    out = courses.copy()
    ids = out["externalId"].astype(object).where(out["externalId"].notna(), None)
    label = ids.astype(str).where(ids.notna(), "<no id>")
    problems: list[pd.DataFrame] = []
    truncated = 0

    def hold(mask: np.ndarray, field: str, reason: str | pd.Series) -> None:
        if mask.any():
            why = reason[mask] if isinstance(reason, pd.Series) else reason
            problems.append(pd.DataFrame({"external_id": label[mask].to_numpy(), "field": field, "reason": np.asarray(why, dtype=object)}))

    for column in (*REQUIRED_TEXT, *OPTIONAL_TEXT):
        if column not in out.columns:
            continue
        raw = out[column]
        if column == "externalId" and not raw.map(lambda v: isinstance(v, str)).all():
            raw = raw.astype(object).where(raw.isna(), raw.astype(str))
        cleaned = clean_text(raw)
        if column in REQUIRED_TEXT:
            emptied = (cleaned.isna() & raw.map(lambda v: isinstance(v, str) and v != "")).to_numpy(bool)
            hold(emptied, column, "nothing left once control characters and blanks are removed")
        unreadable = cleaned.fillna("").str.contains(UNREADABLE, regex=False).to_numpy(bool)
        hold(unreadable, column, "unreadable characters (an invalid byte or a lone surrogate in the provider's data)")
        lengths = cleaned.fillna("").str.len()
        if column == "description":
            long = (lengths > MAX_DESCRIPTION).to_numpy(bool)
            cleaned[long] = cleaned[long].map(_cut)
            truncated = int(long.sum())
        elif column in MAX_LENGTH:
            long = (lengths > MAX_LENGTH[column]).to_numpy(bool)
            if column in REQUIRED_TEXT:
                hold(long, column, lengths.map(lambda n, c=column: f"{n:,} characters, more than the {MAX_LENGTH[c]:,} accepted"))
            else:
                cleaned[long] = None
        out[column] = cleaned
    for column in ("subjects", "sources"):
        if column in out.columns:
            hold(out[column].map(_unreadable_in_list).to_numpy(bool), column, "unreadable characters (an invalid byte or a lone surrogate in the provider's data)")
            out[column] = out[column].map(_clean_list)
    held = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(columns=["external_id", "field", "reason"])
    if len(held):
        out = out[~label.isin(set(held["external_id"])).to_numpy(bool)]
    return ContractResult(out, held, truncated)


STAT_TEXT = ("course_external_id", "user_email")


def unreadable_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows (external_id, field, reason) of mapped activity whose course id or learner
    e-mail holds an unreadable or a control character: such a learner or course matches nothing."""
    problems = []
    for column in STAT_TEXT:
        if column not in stats.columns or not len(stats):
            continue
        text = stats[column].astype(object).where(stats[column].notna(), "").astype(str)
        bad = (text.str.contains(UNREADABLE, regex=False) | text.str.contains(_CONTROL, regex=True)).to_numpy(bool)
        if bad.any():
            course = stats["course_external_id"].astype(str)[bad].str.replace(UNREADABLE, "?", regex=False)
            email = stats["user_email"] if "user_email" in stats.columns else None
            problems.append(pd.DataFrame({
                "external_id": row_keys.activity_labels(course, stats[bad], email=None if email is None else email[bad]).to_numpy(),
                "field": column, "reason": "unreadable characters (an invalid byte or a lone surrogate in the provider's data)",
                "_row": np.flatnonzero(bad),
            }))
    return pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(columns=["external_id", "field", "reason", "_row"])
