"""A run killed at any point, then rerun, leaves 360Learning as an uninterrupted run would:
no duplicate courses, no duplicate attempts, no lost statistics."""

from __future__ import annotations

import pytest

from tests.e2e.crash_scenario import UDEMY, history, separate_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

KILL_POINTS = {
    "provider-page": ("udemy", {"kind": "status", "status": 500, "path": r"/courses/list/$"}),
    "archive-submit": ("lms360", {"kind": "status", "status": 503, "path": r"/bulk/integrations/[^/]+/courses$", "method": "DELETE"}),
    "upsert-submit": ("lms360", {"kind": "status", "status": 500, "path": r"/bulk/integrations/[^/]+/courses$", "method": "PUT"}),
    "accepted-not-confirmed": ("lms360", {"kind": "status", "status": 500, "path": r"/bulk/operations/[^/]+$"}),
    "results-lost": ("lms360", {"kind": "drop", "path": r"/bulk/operations/[^/]+/results$"}),
    "tags": ("lms360", {"kind": "status", "status": 502, "path": r"/courses/[^/]+/tags$", "method": "PUT"}),
    "stats-submit": ("lms360", {"kind": "status", "status": 500, "path": r"/bulk/integrations/[^/]+/stats$"}),
}


@pytest.fixture(scope="module")
def reference_cache():
    return {}


@pytest.mark.parametrize("fleet", [UDEMY], indirect=True)
@pytest.mark.parametrize("point", list(KILL_POINTS))
@pytest.mark.rule("RUN-03", "RUN-04")
def test_run_killed_then_rerun_equals_uninterrupted_run(fleet, point, tmp_path, monkeypatch, reference_cache):
    killed = history(fleet, KILL_POINTS[point])
    if "reference" not in reference_cache:
        with separate_fleet(tmp_path, monkeypatch, UDEMY) as clean:
            reference_cache["reference"] = history(clean, None)
    reference = reference_cache["reference"]
    assert killed["faults_fired"] > 0, "the kill point was never reached"
    assert killed["integrations"] == ["Udemy (learnsync)"]  # no duplicate integration either
    assert len({c[0] for c in killed["courses"]}) == len(killed["courses"])
    assert killed["courses"] == reference["courses"]
    assert killed["attempts"] == reference["attempts"], "attempts differ: duplicated or lost statistics"
