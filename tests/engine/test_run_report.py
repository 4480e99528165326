"""The run report keeps a bounded error table but counts every error."""

from __future__ import annotations

import pytest

from tasks.report import MAX_ERRORS_KEPT, MAX_ERRORS_SHOWN, RunReport


@pytest.mark.rule("RUN-10")
def test_rule_error_table_is_bounded_and_the_count_complete() -> None:
    report = RunReport(provider="udemy", kind="stats")
    for i in range(MAX_ERRORS_KEPT + 500):
        report.error(f"c{i}|learner{i}@example.com", "ignored", "userNotFound")
    assert len(report.errors) == MAX_ERRORS_KEPT and report.error_count == MAX_ERRORS_KEPT + 500
    data = report.as_dict()
    assert data["error_count"] == MAX_ERRORS_KEPT + 500 and len(data["errors"]) == MAX_ERRORS_SHOWN
    assert data["errors"][0]["external_id"] == "c0|l***@example.com"  # e-mails masked
    assert f"## Errors ({MAX_ERRORS_KEPT + 500}, first {MAX_ERRORS_SHOWN} shown)" in report.markdown()
