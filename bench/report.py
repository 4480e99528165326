"""Figures (medians of the runs) with their targets and ratios, printed as one table."""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from learnsync.bench.config import PROVIDER, BenchConfig
from learnsync.bench.floor import FORMULA, STATS_FORMULA, catalog_floor, stats_floor, window_pages

MEMORY_LIMIT_MB = 500.0
STATS_RATIO = 1.3  # a stats sync or backfill against its floor
BACKFILL_MB = 600.0
# The performance targets: time against the floor, memory of a catalog sync.
CATALOG_RATIO = 1.10
RESYNC_RATIO = 1.15  # of the provider's paging floor
CATALOG_MB_AT_50K, CATALOG_MB_AT_200K = 400.0, 800.0
FLEET_RATIO = 1.3  # N platforms at once against one alone (360Learning's limits are per platform)


def catalog_memory_target(courses: int) -> float:
    """<= 400 MB at 50,000 courses, <= 800 MB at 200,000, on the line through them."""
    slope = (CATALOG_MB_AT_200K - CATALOG_MB_AT_50K) / 150_000
    return CATALOG_MB_AT_50K + slope * (courses - 50_000)


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def catalog_figures(cfg: BenchConfig, runs: list[Any]) -> dict[str, Any]:
    from learnsync.providers.settings import load_settings

    provider = load_settings().provider(PROVIDER)
    concurrency, rate = provider.max_concurrent_pages, provider.requests_per_second
    configured = catalog_floor(cfg, concurrency, rate)
    calibrated = [catalog_floor(cfg, concurrency, rate, r.job_seconds) for r in runs]
    full = [r.full_seconds for r in runs]
    out: dict[str, Any] = {
        "runs": len(runs),
        "full_seconds": full,
        "full_median": _median(full),
        "created": runs[0].full_counts.get("created", 0),
        "floor_formula": FORMULA,
        "floor_configured": configured.total,
        "floor_configured_detail": configured.detail,
        "floor_calibrated": _median([f.total for f in calibrated]),
        "floor_calibrated_detail": calibrated[len(calibrated) // 2].detail,
        "job_seconds": [r.job_seconds for r in runs],
        "resync_seconds": [r.resync_seconds for r in runs],
        "resync_median": _median([r.resync_seconds for r in runs]),
        "resync_writes": [r.resync_writes for r in runs],
        "resync_unchanged": runs[0].resync_counts.get("unchanged", 0),
        "resync_share": _median([r.resync_seconds / r.full_seconds for r in runs]),
        "resync_unmapped_seconds": [r.resync_unmapped_seconds for r in runs],
        "resync_unmapped_median": _median([r.resync_unmapped_seconds for r in runs]),
        "resync_unmapped_writes": [r.resync_unmapped_writes for r in runs],
        "resync_unmapped_share": _median([r.resync_unmapped_seconds / r.full_seconds for r in runs]),
        "concurrency": concurrency,
        "provider_rate": rate,
        "paging_floor": configured.paging,
        "rss_before_mb": [r.rss_before_mb for r in runs],
        "rss_peak_mb": [r.rss_peak_mb for r in runs],
    }
    out["resync_ratio"] = out["resync_median"] / configured.paging if configured.paging else float("nan")
    out["rss_peak_median"] = _median(out["rss_peak_mb"])
    out["rss_growth_per_1000"] = _median([(r.rss_peak_mb - r.rss_before_mb) / max(1, cfg.courses) * 1000 for r in runs])
    out["ratio_configured"] = out["full_median"] / configured.total
    out["ratio_calibrated"] = out["full_median"] / out["floor_calibrated"]
    naive = [r.naive_seconds for r in runs if r.naive_seconds is not None]
    if naive:
        out["naive_seconds"] = naive
        out["naive_median"] = _median(naive)
        out["naive_ratio"] = _median([r.naive_seconds / r.full_seconds for r in runs if r.naive_seconds is not None])
    return out


def transform_figures(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per provider: the transform's timings (`bench.stats.TransformResult`)."""
    return {
        provider: {
            "rows": result.rows,
            "seconds": result.seconds,
            "median_seconds": _median(result.seconds),
            "rows_per_second": result.rows_per_second,
            "cold_seconds": result.cold_seconds,
            "cold_rows_per_second": result.rows / result.cold_seconds,
            "map_seconds": result.map_seconds,
            "plan_seconds": result.plan_seconds,
            "items": result.items,
            "replan_seconds": result.replan_seconds,
        }
        for provider, result in results.items()
    }


def _stats_figure(cfg: BenchConfig, mine: list[Any], concurrency: int, rate: float) -> dict[str, Any]:
    """One stats figure (a sync or a backfill, its runs `mine`): time, memory and floor."""
    first = mine[0]
    cfg = replace(cfg, stats_bulk_item_ms=first.item_ms)
    pages = window_pages(cfg, first.window_rows) if first.window_rows else None
    items = int(first.counts.get("created", 0)) + int(first.counts.get("updated", 0))
    configured = stats_floor(cfg, first.rows, items, concurrency, rate, pages=pages)
    calibrated = [stats_floor(cfg, r.rows, items, concurrency, rate, r.job_seconds or None, pages=pages) for r in mine]
    seconds = _median([r.seconds for r in mine])
    floor = _median([f.total for f in calibrated])
    return {
        "rows": first.rows,
        "item_ms": first.item_ms,
        "windows": len(first.window_rows),
        "peak_mb": _median([r.peak_mb for r in mine]),
        "peak_mb_runs": [r.peak_mb for r in mine],
        "baseline_mb": _median([r.baseline_mb for r in mine]),
        "seconds": seconds,
        "seconds_runs": [r.seconds for r in mine],
        "counts": first.counts,
        "floor_configured": configured.total,
        "floor_calibrated": floor,
        "floor_detail": calibrated[len(calibrated) // 2].detail,
        "ratio_calibrated": seconds / floor if floor else float("nan"),
    }


def memory_figures(cfg: BenchConfig, results: list[Any]) -> dict[str, Any]:
    from learnsync.providers.settings import load_settings

    provider = load_settings().provider(PROVIDER)
    concurrency, rate = provider.max_concurrent_pages, provider.requests_per_second
    out: dict[str, Any] = {}
    for label in ("small", "full", "full_delayed"):
        mine = [r for r in results if r.label == label]
        if mine:
            out[label] = _stats_figure(cfg, mine, concurrency, rate)
    if "small" in out and "full" in out:
        extra_rows = out["full"]["rows"] - out["small"]["rows"]
        extra_mb = out["full"]["peak_mb"] - out["small"]["peak_mb"]
        out["growth_mb"] = extra_mb
        out["growth_mb_per_100k_rows"] = extra_mb / extra_rows * 100_000 if extra_rows else float("nan")
    return out


def backfill_figures(cfg: BenchConfig, results: list[Any]) -> dict[str, Any]:
    from learnsync.providers.settings import load_settings

    provider = load_settings().provider(PROVIDER)
    out = _stats_figure(cfg, results, provider.max_concurrent_pages, provider.requests_per_second)
    out["days"], out["window_days"] = cfg.backfill_days, cfg.backfill_window_days
    return out


def _row(name: str, measured: str, target: str, ratio: str, ok: bool | None) -> tuple[str, str, str, str, str]:
    return name, measured, target, ratio, "" if ok is None else ("yes" if ok else "NO")


def _stats_time_row(name: str, figure: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """A stats sync's or backfill's time against its calibrated floor (`_stats_figure`)."""
    return _row(
        name,
        f"{figure['seconds']:.1f} s",
        f"<= {STATS_RATIO} x floor ({figure['floor_calibrated']:.1f} s)",
        f"{figure['ratio_calibrated']:.2f} x floor",
        figure["ratio_calibrated"] <= STATS_RATIO,
    )


TRANSFORM_TARGET_ROWS_PER_SECOND = 1_000_000


def chart_rows(figures: dict[str, Any]) -> list[tuple[str, list[float], float | None]]:
    """(figure, seconds of each run, floor seconds) for the chart: the catalog figures against
    the floor 360Learning's limits set, each stats transform against its target rate."""
    rows: list[tuple[str, list[float], float | None]] = []
    c = figures.get("catalog")
    if c:
        floor = c["floor_configured"]
        rows.append(("full catalog sync", list(c["full_seconds"]), floor))
        if "naive_seconds" in c:
            rows.append(("naive full sync", list(c["naive_seconds"]), floor))
        rows.append(("no-change re-sync", list(c["resync_seconds"]), None))
        rows.append(("re-sync, mapping cache off", list(c["resync_unmapped_seconds"]), None))
    for provider, t in (figures.get("transform") or {}).items():
        rows.append((f"stats transform, {provider}", list(t["seconds"]), t["rows"] / TRANSFORM_TARGET_ROWS_PER_SECOND))
    m = figures.get("memory") or {}
    for label in ("full", "full_delayed"):
        if label in m:
            rows.append((f"stats sync, 360 {m[label]['item_ms']:g} ms/item", list(m[label]["seconds_runs"]), m[label]["floor_calibrated"]))
    b = figures.get("backfill")
    if b:
        rows.append((f"backfill, {b['rows']:,} rows", list(b["seconds_runs"]), b["floor_calibrated"]))
    return rows


def print_figures(cfg: BenchConfig, figures: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    notes: list[str] = []
    c = figures.get("catalog")
    if c:
        n = cfg.courses
        rows.append(_row(
            f"full catalog sync, {n:,} courses",
            f"{c['full_median']:.1f} s",
            f"<= {CATALOG_RATIO} x floor ({c['floor_configured']:.1f} s)",
            f"{c['ratio_configured']:.2f} x floor",
            c["ratio_configured"] <= CATALOG_RATIO,
        ))
        rows.append(_row(
            "  same, vs floor from measured 360 job times",
            f"{c['full_median']:.1f} s",
            f"<= {CATALOG_RATIO} x floor ({c['floor_calibrated']:.1f} s)",
            f"{c['ratio_calibrated']:.2f} x floor",
            c["ratio_calibrated"] <= CATALOG_RATIO,
        ))
        if c.get("rss_peak_mb"):
            limit = catalog_memory_target(n)
            rows.append(_row(
                f"  its peak RSS (learnsync's process), {n:,} courses",
                f"{c['rss_peak_median']:.0f} MB, +{c['rss_growth_per_1000']:.1f} MB per 1,000 courses",
                f"<= {limit:.0f} MB",
                f"{c['rss_peak_median'] / limit:.2f} x limit",
                c["rss_peak_median"] <= limit,
            ))
        writes = max(c["resync_writes"])
        rows.append(_row(
            f"no-change re-sync, {n:,} courses",
            f"{c['resync_median']:.1f} s, {writes} writes",
            f"0 writes, <= {RESYNC_RATIO} x paging floor ({c['paging_floor']:.2f} s)",
            f"{c['resync_ratio']:.2f} x paging floor ({c['resync_share'] * 100:.1f}% of full)",
            writes == 0 and c["resync_ratio"] <= RESYNC_RATIO,
        ))
        rows.append(_row(
            "  same, mapping cache off (every page parsed and mapped)",
            f"{c['resync_unmapped_median']:.1f} s, {max(c['resync_unmapped_writes'])} writes",
            "for reference",
            f"{c['resync_unmapped_share'] * 100:.1f}% of full",
            None,
        ))
        if "naive_median" in c:
            rows.append(_row(
                "naive full sync (sequential pages, 1 bulk job at a time, no diff)",
                f"{c['naive_median']:.1f} s",
                "slower than the full sync",
                f"{c['naive_ratio']:.2f} x the full sync",
                None,
            ))
        notes.append(f"floor: {c['floor_formula']}")
        notes.append(f"  configured: {c['floor_configured_detail']}")
        notes.append(f"  calibrated: {c['floor_calibrated_detail']}")
        notes.append("runs (s): full " + ", ".join(f"{v:.1f}" for v in c["full_seconds"])
                     + " | re-sync " + ", ".join(f"{v:.2f}" for v in c["resync_seconds"])
                     + " | re-sync, cache off " + ", ".join(f"{v:.2f}" for v in c["resync_unmapped_seconds"])
                     + " | peak RSS MB " + ", ".join(f"{v:.0f}" for v in c.get("rss_peak_mb", []))
                     + (" | naive " + ", ".join(f"{v:.1f}" for v in c["naive_seconds"]) if "naive_seconds" in c else ""))
    for provider, t in (figures.get("transform") or {}).items():
        rps = t["rows_per_second"]
        rows.append(_row(
            f"stats transform (map_stats + plan_stats), {t['rows']:,} rows, {provider}",
            f"{rps:,.0f} rows/s",
            ">= 1,000,000 rows/s",
            f"{rps / 1_000_000:.2f} x target",
            rps >= 1_000_000,
        ))
        notes.append(
            f"transform {provider}: median {t['median_seconds']:.2f} s (map {t['map_seconds']:.2f} s + plan {t['plan_seconds']:.2f} s), "
            f"cold first pass {t['cold_seconds']:.2f} s ({t['cold_rows_per_second']:,.0f} rows/s), "
            f"re-plan with every attempt stored {t['replan_seconds']:.2f} s"
        )
    m = figures.get("memory")
    if m and "full" in m:
        full = m["full"]
        rows.append(_row(
            f"full stats sync, {full['rows']:,} rows: peak RSS",
            f"{full['peak_mb']:.0f} MB",
            f"< {MEMORY_LIMIT_MB:.0f} MB",
            f"{full['peak_mb'] / MEMORY_LIMIT_MB:.2f} x limit",
            full["peak_mb"] < MEMORY_LIMIT_MB,
        ))
        if "small" in m:
            small = m["small"]
            rows.append(_row(
                f"  same with {small['rows']:,} rows: peak RSS",
                f"{small['peak_mb']:.0f} MB",
                "no growth with rows",
                f"{m['growth_mb']:+.0f} MB for +{full['rows'] - small['rows']:,} rows",
                m["growth_mb_per_100k_rows"] < 5.0,
            ))
        for label in ("full", "full_delayed"):
            if label in m:
                x = m[label]
                rows.append(_stats_time_row(f"full stats sync, {x['rows']:,} rows, 360 {x['item_ms']:g} ms/item: time", x))
        notes.append(f"stats floor: {STATS_FORMULA}")
        for label in ("small", "full", "full_delayed"):
            if label in m:
                x = m[label]
                notes.append(
                    f"stats sync {label} (360 {x['item_ms']:g} ms/item): {x['rows']:,} rows in {x['seconds']:.1f} s "
                    f"({x['rows'] / x['seconds']:,.0f} rows/s), RSS after imports {x['baseline_mb']:.0f} MB, peak {x['peak_mb']:.0f} MB; "
                    f"counts {x['counts']}; runs (s) " + ", ".join(f"{v:.1f}" for v in x["seconds_runs"])
                )
                notes.append(f"  calibrated floor: {x['floor_detail']}")
    b = figures.get("backfill")
    if b:
        rows.append(_stats_time_row(f"backfill of {b['days']} days, {b['rows']:,} rows, windows of {b['window_days']} days: time", b))
        rows.append(_row(
            "  its peak RSS (learnsync's process)",
            f"{b['peak_mb']:.0f} MB",
            f"<= {BACKFILL_MB:.0f} MB",
            f"{b['peak_mb'] / BACKFILL_MB:.2f} x limit",
            b["peak_mb"] <= BACKFILL_MB,
        ))
        notes.append(
            f"backfill: {b['rows']:,} rows in {b['windows']} windows, {b['seconds']:.1f} s ({b['rows'] / b['seconds']:,.0f} rows/s), "
            f"360 {b['item_ms']:g} ms/item, RSS after imports {b['baseline_mb']:.0f} MB; counts {b['counts']}; runs (s) "
            + ", ".join(f"{v:.1f}" for v in b["seconds_runs"]) + " | peak RSS MB " + ", ".join(f"{v:.0f}" for v in b["peak_mb_runs"])
        )
        notes.append(f"  calibrated floor: {b['floor_detail']}")
    f = figures.get("fleet")
    if f:
        rows.append(_row(
            f"fleet-sync of {f['platforms']} platforms, {f['courses']:,} courses each ({f['runner']})",
            f"{f['fleet_seconds']:.1f} s (one platform alone {f['one_seconds']:.1f} s)",
            f"<= {FLEET_RATIO} x one platform",
            f"{f['ratio']:.2f} x one platform",
            f["ratio"] <= FLEET_RATIO,
        ))
        notes.append(f"fleet: {f['cpus']} CPU cores; courses synced per platform {f['created']}")
    widths = [max(len(r[i]) for r in rows + [("figure", "measured", "target", "ratio", "met")]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(f"learnsync benchmark — provider {PROVIDER} (stats transform: every provider), latency {cfg.latency * 1000:.0f} ms/request, "
          f"page size {cfg.page_size}, 360 bulk {cfg.bulk_item_ms:g} ms/item, state DB {cfg.state_db}, medians of {cfg.runs} run(s)")
    if c:
        from learnsync.flows.stats_sync import STATS_CHUNK_ROWS

        print(f"learnsync settings: max_concurrent_pages={c['concurrency']}, provider requests/s={c['provider_rate']:g}, "
              f"bulk poll {cfg.poll_interval:g} s backing off to {cfg.poll_max_interval:g} s, "
              f"stats chunk {STATS_CHUNK_ROWS:,} rows; sandboxes in child processes")
    print(line.format("figure", "measured", "target", "ratio", "met"))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    print()
    for note in notes:
        print(note)
    print(f"benchmark wall time {figures.get('bench_seconds', 0):.0f} s")
