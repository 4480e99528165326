"""One full daily stats sync (or, with LEARNSYNC_BENCH_BACKFILL set, one backfill) in this
(fresh) process; prints its time and peak RSS as JSON.

Run by `python -m bench` with the environment pointing at the sandboxes and a copy of the state
DB; the peak resident memory is the process's own (bench/memory.py), so each measurement needs
its own process. LEARNSYNC_BENCH_BACKFILL is `<since>,<until>,<window days>` (ISO dates).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import date

from learnsync.bench.config import PROVIDER
from learnsync.bench.memory import peak_rss_mb


def main() -> None:
    from learnsync.flows.stats_sync import stats_backfill, stats_sync  # imports prefect, pandas, pyarrow, the clients...

    backfill = os.environ.get("LEARNSYNC_BENCH_BACKFILL")
    baseline = peak_rss_mb()
    started = time.perf_counter()
    if backfill:
        since, until, window_days = backfill.split(",")
        state = asyncio.run(stats_backfill(
            provider=PROVIDER, since=date.fromisoformat(since), until=date.fromisoformat(until), window_days=int(window_days),
        ))
    else:
        state = asyncio.run(stats_sync(provider=PROVIDER))
    seconds = time.perf_counter() - started
    report = state.result() if hasattr(state, "result") else state
    print(json.dumps({"seconds": seconds, "baseline_mb": baseline, "peak_mb": peak_rss_mb(), "counts": report["counts"]}))


if __name__ == "__main__":
    main()
