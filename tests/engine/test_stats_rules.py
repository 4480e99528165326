"""The shared v2 statistics rules (tasks/stats_rules.py; docs: V2-25..V2-32, D-02, D-04; docs/lms360.md: Statistics)."""

from __future__ import annotations

import pandas as pd
import pytest

from learnsync.tasks.stats_rules import plan_stats, stat_payloads

T = pd.Timestamp
NAT = pd.NaT
EMPTY = pd.DataFrame(columns=["course_external_id", "user_email", "first_activity_at", "attempt_no", "completed", "payload_hash"])


def rows(*items):
    cols = ["course_external_id", "user_email", "progress", "time_spent_ms", "first_activity_at", "last_activity_at", "completed_at"]
    df = pd.DataFrame([dict(zip(cols, it)) for it in items], columns=cols)
    for c in cols[4:]:
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def confirmed(plan):
    """What the state store holds after 360Learning confirmed every planned item."""
    it = plan.items
    return pd.DataFrame({"course_external_id": it["course_external_id"], "user_email": it["user_email"],
                         "first_activity_at": it["first"], "attempt_no": it["attempt_no"], "completed": it["completed"],
                         "payload_hash": it["payload_hash"]})


@pytest.mark.rule("V2-25")
def test_rule_completion_is_progress_100_with_last_activity_at_completion_date():
    plan = plan_stats(rows(("c1", "a@x.io", 40, 1000, "2026-01-01", "2026-01-05", "2026-01-04T10:00:00Z")), EMPTY)
    p = stat_payloads(plan.items)[0]
    assert p["progress"] == 100 and p["lastActivityAt"] == "2026-01-04T10:00:00.000Z"


@pytest.mark.rule("V2-26")
def test_rule_missing_first_activity_falls_back_to_last_activity():
    plan = plan_stats(rows(("c1", "a@x.io", 30, 1000, None, "2026-01-05T08:00:00Z", None)), EMPTY)
    p = stat_payloads(plan.items)[0]
    assert p["firstActivityAt"] == p["lastActivityAt"] == "2026-01-05T08:00:00.000Z"


@pytest.mark.rule("V2-27")
def test_rule_first_activity_stays_stable_for_an_open_attempt():
    first = plan_stats(rows(("c1", "a@x.io", 30, 1000, None, "2026-01-05", None)), EMPTY)
    # next day the provider still has no start date: the fallback would move firstActivityAt
    later = plan_stats(rows(("c1", "a@x.io", 60, 2000, None, "2026-01-08", None)), confirmed(first))
    p = stat_payloads(later.items)[0]
    assert p["firstActivityAt"].startswith("2026-01-05") and p["lastActivityAt"].startswith("2026-01-08")
    assert later.items.iloc[0]["attempt_no"] == 1 and bool(later.items.iloc[0]["existing"])


@pytest.mark.rule("V2-28")
def test_rule_open_attempt_closes_when_a_later_sync_sees_completion():
    first = plan_stats(rows(("c1", "a@x.io", 30, 1000, "2026-01-01", "2026-01-05", None)), EMPTY)
    done = plan_stats(rows(("c1", "a@x.io", 100, 3000, "2026-01-01", "2026-01-09", "2026-01-09")), confirmed(first))
    assert done.items.iloc[0]["completed"] and done.items.iloc[0]["attempt_no"] == 1
    assert stat_payloads(done.items)[0]["firstActivityAt"].startswith("2026-01-01")


@pytest.mark.rule("V2-29")
def test_rule_time_spent_only_on_first_recorded_attempt():
    first = plan_stats(rows(("c1", "a@x.io", 100, 5000, "2026-01-01", "2026-01-05", "2026-01-05")), EMPTY)
    assert stat_payloads(first.items)[0]["timeSpent"] == 5000
    retake = plan_stats(rows(("c1", "a@x.io", 20, 9000, "2026-03-01", "2026-03-02", None)), confirmed(first))
    assert retake.items.iloc[0]["attempt_no"] == 2
    assert stat_payloads(retake.items)[0]["timeSpent"] == 1


@pytest.mark.rule("V2-30")
def test_rule_time_spent_is_at_least_one_ms():
    plan = plan_stats(rows(("c1", "a@x.io", 10, 0, "2026-01-01", "2026-01-02", None)), EMPTY)
    assert stat_payloads(plan.items)[0]["timeSpent"] == 1


@pytest.mark.rule("V2-31")
def test_identical_stats_are_not_resent():
    first = plan_stats(rows(("c1", "a@x.io", 30, 1000, "2026-01-01", "2026-01-05", None)), EMPTY)
    again = plan_stats(rows(("c1", "a@x.io", 30, 1000, "2026-01-01", "2026-01-05", None)), confirmed(first))
    assert again.items.empty and again.unchanged == 1


@pytest.mark.rule("V2-32")
def test_row_without_any_date_is_quarantined_not_raised():
    plan = plan_stats(rows(("c1", "a@x.io", 10, 0, None, None, None), ("c2", "b@x.io", 10, 0, "2026-01-01", None, None)), EMPTY)
    assert len(plan.items) == 1 and len(plan.quarantine) == 1
    assert plan.quarantine.iloc[0]["field"] == "firstActivityAt"


@pytest.mark.rule("V2-33")
def test_payload_hashes_and_dates_are_written_as_before() -> None:
    # Stored hashes are compared with the next run's: these values come from the earlier
    # implementation (digit tables), and a new one must give them byte for byte.
    import numpy as np

    from learnsync.tasks.stats_rules import _iso_from_ms, payload_hashes

    hashes = payload_hashes(np.array([100, 0]), np.array([5000, 1]), np.array([1767225600000, 631152000000]), np.array([1767312000000, 631152000001]))
    assert list(hashes)[0] == "h2:733b458b454a01f8" and len(set(hashes)) == 2
    assert list(_iso_from_ms(np.array([1767520800000, 631152000001, 4102444799999]))) == [
        "2026-01-04T10:00:00.000Z", "1990-01-01T00:00:00.001Z", "2099-12-31T23:59:59.999Z",
    ]  # fmt: skip
    plan = plan_stats(rows(("c1", "a@x.io", 50, 60_000, T("2026-01-04T10:00:00Z"), T("2026-01-05T10:00:00.5Z"), NAT)), EMPTY)
    payload = stat_payloads(plan.items)[0]
    assert (payload["firstActivityAt"], payload["lastActivityAt"]) == ("2026-01-04T10:00:00.000Z", "2026-01-05T10:00:00.500Z")


@pytest.mark.parametrize("provider", ["udemy", "coursera", "edflex", "openclassrooms"])
def test_stat_payloads_are_already_what_the_360_model_would_send(provider):
    """The stats push sends `stat_payloads` as they are (validated, not dumped again): for every
    provider's rows, each payload equals StatItem's own wire form of it."""
    from datetime import UTC, datetime

    from learnsync.bench.stats import activity_frame
    from learnsync.lms360.models import StatItem
    from learnsync.providers.base import MappingContext
    from learnsync.providers.registry import get_provider

    ctx = MappingContext(owner_lang="en", now=datetime(2026, 6, 2, tzinfo=UTC))
    mapped = get_provider(provider).map_stats(activity_frame(3000, provider=provider), ctx)
    payloads = stat_payloads(plan_stats(mapped.stats, EMPTY).items)
    assert len(payloads) > 1000
    for payload in payloads:
        assert StatItem.model_validate(payload).wire() == payload
