"""This process's resident memory (Linux /proc; ru_maxrss elsewhere), for the memory figures."""

from __future__ import annotations

import os
import resource


def current_rss_mb() -> float:
    """Resident set size now, in MB."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def reset_peak_rss() -> None:
    """Linux: the peak (VmHWM) starts again from the current size (`echo 5 > clear_refs`)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass  # the peak then covers the process's whole life


def peak_rss_mb() -> float:
    """Peak resident set size, in MB.

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
