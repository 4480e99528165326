"""`python -m learnsync.deployments.render [PLATFORM] > deployments/prefect.yaml`: the work-pool file."""

from __future__ import annotations

import sys

from learnsync.deployments.definitions import render_prefect_yaml

if __name__ == "__main__":
    sys.stdout.write(render_prefect_yaml(sys.argv[1] if len(sys.argv) > 1 else "default"))
