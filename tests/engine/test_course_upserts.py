"""CourseUpserter bookkeeping: what the run's plan still has to send after the early sends."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_jobs_are_sized_to_fill_every_bulk_slot_in_each_wave():
    from learnsync.tasks.course_upserts import balanced_batch

    # 50,000 courses, 3 slots: 6 jobs of 8,334 (two full waves) rather than 5 of 10,000 (a slot idle)
    assert balanced_batch(50_000, 10_000, 3) == 8_334
    assert balanced_batch(20_000, 10_000, 3) == 6_667
    assert balanced_batch(30_000, 10_000, 3) == 10_000  # already full waves
    assert balanced_batch(5_000, 10_000, 3) == 2_500  # never below 2,000 items a job
    assert balanced_batch(1_500, 10_000, 3) == 10_000  # one small job
    assert balanced_batch(250, 100, 3) == 100  # as many jobs as needed anyway: full ones


@given(st.integers(0, 3_000_000), st.integers(1, 10_000), st.integers(1, 5))
def test_a_balanced_job_is_never_larger_than_allowed_and_never_adds_a_wave(items, largest, slots):
    from learnsync.tasks.course_upserts import balanced_batch

    size = balanced_batch(items, largest, slots)
    assert 1 <= size <= largest
    fewest = max(1, -(-items // largest))
    jobs = max(1, -(-items // size))
    assert -(-jobs // slots) == -(-fewest // slots)  # the same number of waves as with full jobs
