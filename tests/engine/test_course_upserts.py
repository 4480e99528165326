"""CourseUpserter bookkeeping: what the run's plan still has to send after the early sends."""

from __future__ import annotations

import pandas as pd
import pytest

from learnsync.tasks.course_upserts import CourseUpserter
from learnsync.tasks.report import RunReport


class NoLms:
    max_upsert_batch = 1000  # nothing reaches a full job in these tests: nothing is submitted


def upserter() -> CourseUpserter:
    report = RunReport(provider="p", kind="content", platform="default")
    return CourseUpserter(lms=NoLms(), store=None, integration={"id": 1, "integration_id": "i"}, run_pk=None, report=report, outcomes=[], now=None)


def rows(pairs: list[tuple[str, str]], outcome: str = "created") -> pd.DataFrame:
    return pd.DataFrame({"external_id": [e for e, _ in pairs], "payload_hash": [h for _, h in pairs], "outcome": outcome})


@pytest.mark.rule("RUN-09")
def test_rule_plan_rows_already_queued_with_the_same_payload_are_not_sent_twice() -> None:
    up = upserter()
    up.add(rows([("a", "h1"), ("b", "h2")]))
    fresh, stale = up.pending(rows([("a", "h1"), ("b", "h2-changed"), ("c", "h3")]))
    assert fresh["external_id"].tolist() == ["c"]  # never queued
    assert stale["external_id"].tolist() == ["b"]  # queued from another copy of the record: the plan's copy wins
    assert up.queued == 2 and up.sent_hash == {"a": "h1", "b": "h2"}
