"""Quarantine labels of activity rows: `<course>|<learner>`, the same for one record in every run.

A label names the provider's record, never its position in a page or chunk (a position changes
from one run to the next, so open quarantine would hold one record twice). The learner part is
the provider's learner id; without one, a digest of the learner's e-mail (an e-mail is never
written into a label); without either, a digest of the raw record as the provider sent it. The same record twice in one
read is labelled `#2`, `#3` after its first label.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

NO_COURSE = "?"


def digest(value: str) -> str:
    """12 hexadecimal characters of the SHA-256 of `value`: stable, and not the value itself."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _record_text(record: dict[str, object]) -> str:
    return json.dumps(record, sort_keys=True, default=str, ensure_ascii=True)


def activity_labels(
    course: pd.Series,
    raw: pd.DataFrame,
    learner_id: pd.Series | None = None,
    email: pd.Series | None = None,
    *,
    hide_id: bool = False,
) -> pd.Series:
    """Labels of quarantined activity rows; every argument holds those rows only, on one index.

    `hide_id`: the provider's learner id carries personal data (Coursera's row ids start with
    the e-mail), so only its digest is written.
    """
    index = course.index
    label = pd.Series([None] * len(index), index=index, dtype=object)
    if learner_id is not None:
        ids = learner_id.astype(object).where(learner_id.notna(), None)
        label = ids.map(lambda v: None if v is None or v == "" else (digest(str(v)) if hide_id else str(v)))
    if email is not None:
        missing = label.isna() & email.notna()
        if missing.any():
            label[missing] = ["mail:" + digest(str(e).strip().lower()) for e in email[missing]]
    missing = label.isna()
    if missing.any():
        records = raw.loc[missing[missing].index].to_dict("records")
        label[missing] = ["row:" + digest(_record_text({k: v for k, v in r.items() if not _absent(v)})) for r in records]
    courses = course.astype(object).where(course.notna(), NO_COURSE).astype(str)
    labels = courses + "|" + label.astype(str)
    # The same record twice in one read is still two rows to account for: `#2`, `#3`... in order.
    repeat = labels.groupby(labels, sort=False).cumcount()
    return labels.where(repeat.eq(0), labels + "#" + (repeat + 1).astype(str)).astype(object)


def _absent(value: object) -> bool:
    """A cell the provider did not send (pandas fills absent keys of a page with NaN)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False  # a list or dict cell
