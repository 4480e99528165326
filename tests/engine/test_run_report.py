"""The run report: a bounded error table with complete counts, statuses in words, failures
that say why, Markdown that survives `|` in ids, ignored items apart from errors, and
quarantine already open from an earlier run that is no longer news (docs: D-15)."""

from __future__ import annotations

import re

import pytest

from learnsync.tasks.report import MAX_ERRORS_KEPT, MAX_ERRORS_SHOWN, RunReport


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """Cells of the table under `heading`, split the way a Markdown renderer splits them."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


@pytest.mark.rule("RUN-10")
def test_ignored_items_are_bounded_counted_and_kept_apart_from_errors() -> None:
    report = RunReport(provider="udemy", kind="stats")
    for i in range(MAX_ERRORS_KEPT + 500):
        report.error(f"c{i}|learner{i}@example.com", "ignored", "userNotFound: no such user")
    report.add("failed")
    report.error("c9|learner9@example.com", "failed", "internalError: item rejected")
    assert len(report.errors) == MAX_ERRORS_KEPT + 1  # the cap is per table: the failure is kept
    assert report.error_count == MAX_ERRORS_KEPT + 501 and report.ignored_count == MAX_ERRORS_KEPT + 500
    data = report.as_dict()
    assert data["error_count"] == MAX_ERRORS_KEPT + 501 and len(data["errors"]) == MAX_ERRORS_SHOWN
    assert data["errors"][0]["external_id"] == "c0|l***@example.com"  # e-mails masked
    md = report.markdown()
    assert "## Errors (1, first 1 shown)" in md and f"## Ignored ({MAX_ERRORS_KEPT + 500}, first {MAX_ERRORS_SHOWN} shown)" in md
    assert table_rows(md, "## Errors") == [["c9|l***@example.com", "failed", "", "internalError: item rejected"]]
    ignored = table_rows(md, "## Ignored")
    assert ignored[0] == ["c0|l***@example.com", "", "learner unknown to 360Learning"] and len(ignored) == MAX_ERRORS_SHOWN
    assert [e["outcome"] for e in report.error_rows] == ["failed"]


def test_pipes_in_ids_and_reasons_do_not_shift_the_columns() -> None:
    report = RunReport(provider="coursera", kind="content")
    report.add("quarantined")
    report.error("8558432|row0", "quarantined", "bad value | expected a number", "duration")
    rows = table_rows(report.markdown(), "## Errors")
    assert rows == [["8558432|row0", "quarantined", "duration", "bad value | expected a number"]]


def test_statuses_read_as_words_and_a_failed_run_says_why() -> None:
    report = RunReport(provider="udemy", kind="content")
    assert report.status_label == "Completed" and "**Status:** Completed\n" in report.markdown()
    report.add("failed")
    assert (report.status, report.status_label) == ("completed_with_errors", "Completed with errors")
    assert "**Status:** Completed with errors" in report.markdown()
    report.failure = "RefusingToArchive: refusing to archive 80% of the catalog"
    md = report.markdown()
    assert report.status == "failed" and "**Status:** Failed" in md
    assert "**Why:** RefusingToArchive: refusing to archive 80% of the catalog" in md
    assert report.as_dict()["status_label"] == "Failed" and "completed" not in md.split("\n\n")[1].lower()


@pytest.mark.rule("RUN-10")
def test_quarantine_still_open_for_the_same_reason_does_not_make_the_run_completed_with_errors() -> None:
    known = [("c1", "duration", "not a number"), ("c2", "", "no title")]
    again = RunReport(provider="coursera", kind="content")
    again.recall_quarantine(known)
    again.add("quarantined", 2)
    again.error("c1", "quarantined", "not a number", "duration")
    again.error("c2", "quarantined", "no title", "")
    assert again.status == "completed" and again.recurring_quarantine == 2
    md = again.markdown()
    assert "**Status:** Completed\n" in md and "already open from an earlier run" in md
    assert [r[1] for r in table_rows(md, "## Errors")] == ["quarantined (still open)"] * 2  # still listed

    # A new quarantine, or the same record quarantined for another reason, is news.
    for ext, reason in (("c3", "not a number"), ("c1", "negative duration")):
        news = RunReport(provider="coursera", kind="content")
        news.recall_quarantine(known)
        news.add("quarantined", 2)
        news.error("c2", "quarantined", "no title", "")
        news.error(ext, "quarantined", reason, "duration")
        assert news.status == "completed_with_errors", (ext, reason)
    # So is a failure beside the known quarantine.
    failing = RunReport(provider="coursera", kind="content")
    failing.recall_quarantine(known)
    failing.add("quarantined")
    failing.error("c2", "quarantined", "no title", "")
    failing.add("failed")
    assert failing.status == "completed_with_errors"
