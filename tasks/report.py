"""The run report: counts per outcome and a capped error table, shared by flows, CLI and artifacts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from learnsync.redaction import redact, redact_value

OUTCOMES = ("created", "updated", "unchanged", "archived", "restored", "ignored", "quarantined", "failed")
MAX_ERRORS_SHOWN = 50
MAX_ERRORS_KEPT = 1_000  # in memory; every error also goes to the state store's run outcomes
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")


def mask_emails(text: str) -> str:
    """learner@example.com -> l***@example.com: reports identify a row without exposing the learner."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


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
    error_count: int = 0  # every error reported, kept or not
    resumed: dict[str, str] = field(default_factory=dict)  # course -> outcome a resumed bulk job confirmed
    incomplete_reads: list[str] = field(default_factory=list)  # provider reads that disagreed with the announced total
    parked: int = 0  # activity rows kept in the state store for a later delivery (tasks/parked_stats.py)
    planned: list[dict[str, Any]] | None = None  # dry runs: the first planned items (tasks/plan_preview.py)
    planned_total: int = 0

    def add(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + int(n)

    def error(self, external_id: str, outcome: str, reason: str, field_name: str | None = None) -> None:
        """Record an error; past MAX_ERRORS_KEPT only the count grows (a stats run with 30,000
        unknown learners must not hold 30,000 rows: memory stays flat with the rows read)."""
        self.error_count += 1
        if len(self.errors) >= MAX_ERRORS_KEPT:
            return
        self.errors.append(
            {"external_id": redact(mask_emails(str(external_id))), "outcome": outcome, "field": field_name or "", "reason": redact(mask_emails(str(reason)))}
        )

    @property
    def status(self) -> str:
        return "completed_with_errors" if self.counts.get("failed", 0) or self.counts.get("quarantined", 0) else "completed"

    def summary_rows(self) -> list[dict[str, Any]]:
        return [{"outcome": o, "count": self.counts.get(o, 0)} for o in OUTCOMES]

    def markdown(self) -> str:
        title = f"learnsync {self.kind} sync: {self.provider} -> 360Learning ({self.platform})"
        lines = [f"# {title}", "", f"**Status:** {self.status}{' (dry run: nothing written)' if self.dry_run else ''}", ""]
        lines += ["| outcome | count |", "|---|---|"] + [f"| {r['outcome']} | {r['count']} |" for r in self.summary_rows()]
        if self.skipped:
            lines += ["", "Skipped rows: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))]
        if self.notes:
            lines += [""] + [f"- {redact(n)}" for n in self.notes]
        if self.errors:
            shown = self.errors[:MAX_ERRORS_SHOWN]
            lines += ["", f"## Errors ({self.error_count}, first {len(shown)} shown)", "", "| id | outcome | field | reason |", "|---|---|---|---|"]
            lines += [f"| {e['external_id']} | {e['outcome']} | {e['field']} | {e['reason']} |" for e in shown]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "platform": self.platform,
            "dry_run": self.dry_run,
            "status": self.status,
            "counts": dict(self.counts),
            "skipped": dict(self.skipped),
            "errors": self.errors[:MAX_ERRORS_SHOWN],
            "error_count": self.error_count,
            "parked": self.parked,
            "notes": redact_value(list(self.notes)),
            **({"planned": list(self.planned), "planned_total": self.planned_total} if self.planned is not None else {}),
        }
