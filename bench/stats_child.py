"""One full daily stats sync in this (fresh) process; prints its time and peak RSS as JSON.

Run by `python -m bench` with the environment pointing at the sandboxes and a copy of the state
DB; ru_maxrss is the process's peak resident memory, so each measurement needs its own process.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

from learnsync.bench.config import PROVIDER


def _rss_mb() -> float:
    """This process's peak resident set size, in MB.

    Linux: VmHWM of /proc/self/status, the high-water mark of this program's own memory map
    (ru_maxrss would also count the parent's pages copied at fork, before exec).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main() -> None:
    from learnsync.flows.stats_sync import stats_sync  # imports prefect, pandas, pyarrow, the clients...

    baseline = _rss_mb()
    started = time.perf_counter()
    state = asyncio.run(stats_sync(provider=PROVIDER))
    seconds = time.perf_counter() - started
    report = state.result() if hasattr(state, "result") else state
    print(json.dumps({"seconds": seconds, "baseline_mb": baseline, "peak_mb": _rss_mb(), "counts": report["counts"]}))


if __name__ == "__main__":
    main()
