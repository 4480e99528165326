"""Pictures where a person would rather look than read (matplotlib, Agg: no display needed).

`sync_history_chart`: outcome counts per run over time for each provider and platform, and the
open quarantine by reason. `bench_chart`: each benchmark figure's measured time against its floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OUTCOME_COLORS = {
    "created": "#2e7d32", "updated": "#1565c0", "unchanged": "#b0bec5", "archived": "#6d4c41",
    "restored": "#00838f", "ignored": "#9e9e9e", "quarantined": "#f9a825", "failed": "#c62828",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sync_history_chart(data: dict[str, Any], path: str | Path) -> Path:
    """One panel per provider and platform (stacked outcome counts per run, failed runs marked),
    and one of open quarantine by provider and reason. `data`: `status_view.collect_status`."""
    from datetime import datetime

    plt = _pyplot()
    pairs = data["integrations"] or []
    panels = max(1, len(pairs)) + 1
    fig, axes = plt.subplots(panels, 1, figsize=(10, 3.2 * panels), squeeze=False)
    for ax, pair in zip(axes[:, 0], pairs):
        runs = sorted(pair["runs"], key=lambda r: r["started_at"] or "")
        labels = [f"{(r['started_at'] or '')[5:16].replace('T', ' ')}\n{r['kind']}" for r in runs]
        bottom = [0] * len(runs)
        for outcome, color in OUTCOME_COLORS.items():
            values = [int(r["counts"].get(outcome, 0)) for r in runs]
            if any(values):
                ax.bar(range(len(runs)), values, bottom=bottom, color=color, label=outcome)
                bottom = [b + v for b, v in zip(bottom, values)]
        for i, r in enumerate(runs):
            if r["status"] == "failed":
                ax.annotate("failed", (i, bottom[i]), ha="center", va="bottom", color=OUTCOME_COLORS["failed"], fontsize=8)
        ax.set_xticks(range(len(runs)), labels, fontsize=7)
        ax.set_ylabel("items")
        ax.set_title(f"{pair['provider']} on {pair['platform']}: last {len(runs)} runs (UTC)")
        if runs:
            ax.legend(fontsize=7, loc="upper left", ncols=4)
        else:
            ax.text(0.5, 0.5, "no sync run yet", ha="center", va="center", transform=ax.transAxes)
    ax = axes[-1, 0]
    by_reason: dict[str, int] = {}
    for q in data["quarantine"]:
        label = f"{q['provider']}/{q['kind']}: {str(q['reason'] or '')[:40]}"
        by_reason[label] = by_reason.get(label, 0) + 1
    if by_reason:
        names = sorted(by_reason, key=by_reason.get, reverse=True)[:15]  # type: ignore[arg-type]
        ax.barh(range(len(names)), [by_reason[n] for n in names], color=OUTCOME_COLORS["quarantined"])
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("items")
    else:
        ax.text(0.5, 0.5, "no open quarantine", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(f"open quarantine ({len(data['quarantine'])} items) — drawn {datetime.now():%Y-%m-%d %H:%M}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out


def bench_chart(rows: list[tuple[str, list[float], float | None]], path: str | Path, title: str = "learnsync benchmark") -> Path:
    """Horizontal bars: each figure's median seconds, each run as a dot, and its floor (the time
    the APIs' limits or the target rate allow at best) as a red mark.
    `rows`: (figure, seconds of each run, floor seconds or None)."""
    import statistics

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 0.6 * max(3, len(rows)) + 1.4))
    medians = [statistics.median(r[1]) if r[1] else 0.0 for r in rows]
    ax.barh(range(len(rows)), medians, color="#90caf9", label="measured (median)")
    for i, r in enumerate(rows):
        ax.scatter(r[1], [i] * len(r[1]), color="#1565c0", s=14, zorder=3, label="each run" if i == 0 else None)
    floors = [(i, r[2]) for i, r in enumerate(rows) if r[2]]
    if floors:
        ax.scatter([f for _, f in floors], [i for i, _ in floors], marker="|", s=500, color="#c62828", label="floor", zorder=4)
    for i, (r, m) in enumerate(zip(rows, medians)):
        ratio = f"  {m / r[2]:.2f} x floor" if r[2] else ""
        ax.text(max(m, r[2] or 0), i, f" {m:.2f} s{ratio}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out
