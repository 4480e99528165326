"""Every request learnsync sends to 360Learning and every answer of the 360Learning sandbox,
during real end-to-end runs of every provider, checked against the published OpenAPI documents.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from learnsync.sandboxes.fleet import start_fleet
from tests.contract.conftest import breakdown, judge
from tests.contract.scenario import PROVIDERS, SANDBOX_CONFIGS, run_all

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

# What the runs must exercise, so an empty or partial recording cannot pass.
EXPECTED_ENDPOINTS = {
    "POST /api/v2/oauth2/token",
    "GET /api/v2/integrations",
    "POST /api/v2/integrations",
    "PUT /api/v2/bulk/integrations/{integrationId}/courses",
    "DELETE /api/v2/bulk/integrations/{integrationId}/courses",
    "POST /api/v2/bulk/integrations/{integrationId}/stats",
    "GET /api/v2/bulk/operations/{bulkOperationId}",
    "GET /api/v2/bulk/operations/{bulkOperationId}/results",
    "PUT /api/v2/courses/{courseId}/archive",
    "GET /api/v2/courses/{courseId}/tags",
    "PUT /api/v2/courses/{courseId}/tags",
    "GET /api/v2/tags",
    "POST /api/v2/tags",
    "GET /api/v2/skills",
    "PUT /api/v2/bulk/skills",
    "POST /api/v2/bulk/groups/catalog",
    "POST /api/v2/bulk/groups/library",
    "GET /api/v2/bulk/operations",  # doctor
    "GET /api/v2/courses",  # reconcile
    "GET /api/v2/integrations/{integrationId}/courses/{externalId}",  # course ids, reconcile
}


@pytest.fixture(scope="module")
def verdict(contract, contract_env, prefect_harness):
    configs = {"lms360": {"record_traffic": True}, **SANDBOX_CONFIGS}
    fleet = start_fleet(list(PROVIDERS), configs)
    try:
        for key, value in fleet.env().items():
            contract_env.setenv(key, value)
        run_all(fleet)
        exchanges = fleet.app("lms360").state.traffic.exchanges()
    finally:
        fleet.close()
    result = judge(contract, exchanges)
    print("\ncontract:", result.summary(), f"({result.bulk_items} bulk items)")
    for line, n in sorted(breakdown(result.requests_invalid + result.responses_invalid).items()):
        print(f"  {n:4d}  {line}")
    for line, n in sorted(Counter(re.sub(r"[0-9a-f]{24}", "{id}", u) for u in result.undefined).items()):
        print(f"  {n:4d}  undefined: {line}")
    return result


def _show(found: list[tuple[str, list[str]]]) -> str:
    return "\n".join(f"{label}: {'; '.join(problems[:4])}" for label, problems in found[:15])


def test_runs_exercise_every_endpoint_learnsync_uses(verdict):
    assert verdict.exchanges > 200
    assert EXPECTED_ENDPOINTS <= verdict.endpoints, sorted(EXPECTED_ENDPOINTS - verdict.endpoints)


def test_every_request_matches_the_published_spec(verdict):
    assert verdict.requests_invalid == [], _show(verdict.requests_invalid)


def test_every_sandbox_answer_matches_the_published_spec(verdict):
    assert verdict.responses_invalid == [], _show(verdict.responses_invalid)


def test_default_configuration_calls_no_endpoint_the_spec_does_not_define(verdict):
    assert verdict.undefined == [], sorted(set(verdict.undefined))[:10]
