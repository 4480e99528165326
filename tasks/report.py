"""The run report: counts per outcome and a capped error table, shared by flows, CLI and artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from learnsync.core.redaction import redact, redact_value

OUTCOMES = ("created", "updated", "unchanged", "archived", "restored", "ignored", "quarantined", "failed")
MAX_ERRORS_SHOWN = 50
MAX_ERRORS_KEPT = 1_000  # in memory, per table; every error also goes to the state store's run outcomes
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
STATUS_LABELS = {"completed": "Completed", "completed_with_errors": "Completed with errors", "failed": "Failed"}
QuarantineKey = tuple[str, str, str]  # external_id, field ('' when none), reason


def mask_emails(text: str) -> str:
    """learner@example.com -> l***@example.com: reports identify a row without exposing the learner."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def md_cell(value: Any) -> str:
    """A Markdown table cell: a `|` in an id or a reason must not start a new column."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _ignored_reason(reason: str) -> str:
    """Why an item was ignored, in words (360Learning's userNotFound: a learner without an account)."""
    return "learner unknown to 360Learning" if "userNotFound" in reason else reason


@dataclass
class RunReport:
    provider: str
    kind: str  # content | stats | backfill
    platform: str = "default"
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    errors: list[dict[str, str]] = field(default_factory=list)  # external_id, outcome, field, reason
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    error_count: int = 0  # every error reported, kept or not (ignored items included)
    ignored_count: int = 0  # of which items ignored (e.g. learners unknown to 360Learning)
    failure: str | None = None  # why the run failed, when it did
    flow_run_name: str | None = None
    attempt: int = 1
    # quarantine still open from an earlier run, for the same reason (docs: D-15)
    known_quarantine: frozenset[QuarantineKey] = frozenset()
    recurring_quarantine: int = 0  # quarantine entries of this run already open before it
    new_quarantine: int = 0
    _kept: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0}, repr=False)  # by "ignored"
    _still_open: set[int] = field(default_factory=set, repr=False)  # indexes in errors of recurring quarantine
    resumed: dict[str, str] = field(default_factory=dict)  # course -> outcome a resumed bulk job confirmed
    incomplete_reads: list[str] = field(default_factory=list)  # provider reads that disagreed with the announced total
    parked: int = 0  # activity rows kept in the state store for a later delivery (tasks/parked_stats.py)
    planned: list[dict[str, Any]] | None = None  # dry runs: the first planned items (tasks/plan_preview.py)
    planned_total: int = 0

    def add(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + int(n)

    def recall_quarantine(self, keys: Iterable[QuarantineKey]) -> None:
        """The quarantine open before this run (store.open_quarantine_keys), to tell recurring from new."""
        self.known_quarantine = frozenset((str(e), str(f or ""), str(r or "")) for e, f, r in keys)

    def error(self, external_id: str, outcome: str, reason: str, field_name: str | None = None) -> None:
        """Record an error; past MAX_ERRORS_KEPT only the count grows (a stats run with 30,000
        unknown learners must not hold 30,000 rows: memory stays flat with the rows read)."""
        self.error_count += 1
        ignored = outcome == "ignored"
        if ignored:
            self.ignored_count += 1
        recurring = outcome == "quarantined" and (str(external_id), field_name or "", str(reason)) in self.known_quarantine
        if recurring:
            self.recurring_quarantine += 1
        elif outcome == "quarantined":
            self.new_quarantine += 1
        if self._kept[ignored] >= MAX_ERRORS_KEPT:
            return
        self._kept[ignored] += 1
        if recurring:
            self._still_open.add(len(self.errors))
        self.errors.append(
            {"external_id": redact(mask_emails(str(external_id))), "outcome": outcome, "field": field_name or "", "reason": redact(mask_emails(str(reason)))}
        )

    @property
    def status(self) -> str:
        """completed | completed_with_errors | failed (as the state store keeps it)."""
        if self.failure:
            return "failed"
        # Quarantine known from an earlier run, unchanged, is still open but no longer news.
        quarantined = self.counts.get("quarantined", 0)
        fresh = quarantined and (self.new_quarantine or not self.recurring_quarantine)
        return "completed_with_errors" if self.counts.get("failed", 0) or fresh else "completed"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def error_rows(self) -> list[dict[str, str]]:
        """Failed and quarantined items; quarantine open since an earlier run reads "quarantined (still open)"."""
        return [
            {**e, "outcome": "quarantined (still open)"} if i in self._still_open else e
            for i, e in enumerate(self.errors)
            if e["outcome"] != "ignored"
        ]

    @property
    def ignored_rows(self) -> list[dict[str, str]]:
        return [{**e, "reason": _ignored_reason(e["reason"])} for e in self.errors if e["outcome"] == "ignored"]

    def summary_rows(self) -> list[dict[str, Any]]:
        return [{"outcome": o, "count": self.counts.get(o, 0)} for o in OUTCOMES]

    def markdown(self) -> str:
        title = f"learnsync {self.kind} sync: {self.provider} -> 360Learning ({self.platform})"
        run = f"Flow run {self.flow_run_name or 'outside Prefect'}, attempt {self.attempt}"
        lines = [f"# {title}", "", f"**Status:** {self.status_label}{' (dry run: nothing written)' if self.dry_run else ''}", ""]
        if self.failure:
            lines += [f"**Why:** {md_cell(self.failure)}", ""]
        lines += [run, ""]
        lines += ["| outcome | count |", "|---|---|"] + [f"| {r['outcome']} | {r['count']} |" for r in self.summary_rows()]
        if self.recurring_quarantine:
            lines += [
                "",
                f"{self.recurring_quarantine} quarantined entries were already open from an earlier run for the same "
                "reason: still open (below), not new errors.",
            ]
        if self.skipped:
            lines += ["", "Skipped rows: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))]
        if self.notes:
            lines += [""] + [f"- {redact(n)}" for n in self.notes]
        errors, n_errors = self.error_rows, self.error_count - self.ignored_count
        if errors:
            shown = errors[:MAX_ERRORS_SHOWN]
            lines += ["", f"## Errors ({n_errors}, first {len(shown)} shown)", "", "| id | outcome | field | reason |", "|---|---|---|---|"]
            lines += [f"| {md_cell(e['external_id'])} | {e['outcome']} | {md_cell(e['field'])} | {md_cell(e['reason'])} |" for e in shown]
        ignored = self.ignored_rows
        if ignored:
            shown = ignored[:MAX_ERRORS_SHOWN]
            lines += ["", f"## Ignored ({self.ignored_count}, first {len(shown)} shown)", "", "| id | field | reason |", "|---|---|---|"]
            lines += [f"| {md_cell(e['external_id'])} | {md_cell(e['field'])} | {md_cell(e['reason'])} |" for e in shown]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "platform": self.platform,
            "dry_run": self.dry_run,
            "status": self.status,
            "status_label": self.status_label,
            "failure": self.failure,
            "counts": dict(self.counts),
            "skipped": dict(self.skipped),
            "errors": self.errors[:MAX_ERRORS_SHOWN],
            "error_count": self.error_count,
            "ignored_count": self.ignored_count,
            "recurring_quarantine": self.recurring_quarantine,
            "parked": self.parked,
            "notes": redact_value(list(self.notes)),
            **({"planned": list(self.planned), "planned_total": self.planned_total} if self.planned is not None else {}),
        }
