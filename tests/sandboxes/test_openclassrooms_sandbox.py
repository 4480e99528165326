"""OpenClassrooms sandbox: deterministic data, and the HTTP contract's auth and paging basics."""

from __future__ import annotations

import time

import httpx
import pytest

from learnsync.sandboxes.openclassrooms import OpenClassroomsSandboxConfig, create_app, generate
from learnsync.sandboxes.server import SandboxServer

CATALOG = "/partners/org-4242/courses"
PROGRESS = "/partners/org-4242/learners/progress"


def test_generator_is_deterministic():
    assert generate(7, 300, 20, 400) == generate(7, 300, 20, 400)
    assert generate(7, 300, 20, 400) != generate(8, 300, 20, 400)


def test_generator_builds_a_large_catalog_fast():
    started = time.perf_counter()
    data = generate(1, 50_000, 50, 1_000)
    assert len(data.courses) == 50_000 and len({c["id"] for c in data.courses}) == 50_000
    assert time.perf_counter() - started < 5


def test_generator_has_realistic_variety():
    data = generate(3, 2_000, 50, 3_000)
    languages = {c.get("language") for c in data.courses}
    statuses = {c["status"] for c in data.courses}
    assert {"fr", "en", None, "xx"} <= languages  # incl. unmapped and missing
    assert {"active", "coming-soon", "pre-registration", "archived"} <= statuses
    assert any(c.get("illustration") is None for c in data.courses) and any("categories" not in c for c in data.courses)
    emails = {a["userEmail"].lower() for a in data.activities}
    learners = {e for e in emails if e.startswith("learner")}
    assert learners <= {f"learner{i}@example.com" for i in range(1, 51)} and len(learners) == 50
    assert any(e.startswith("ghost") and e.endswith("@example.com") for e in emails)
    pairs = [(a["userEmail"].lower(), a["courseId"]) for a in data.activities]
    assert len(pairs) == len(set(pairs)) == 3_000


def test_time_spent_is_theoretical_time_times_progress():
    data = generate(5, 100, 10, 200)
    hours = {c["id"]: c.get("duration") for c in data.courses}
    for row in data.activities:
        h = hours[row["courseId"]]
        expected = round(h * 60 * row["progress"] / 100) if isinstance(h, (int, float)) else None
        assert row["timeSpent"] == expected


@pytest.fixture(scope="module")
def served():
    app = create_app(OpenClassroomsSandboxConfig(n_courses=120, n_activities=80))
    with SandboxServer(app) as srv, httpx.Client(base_url=srv.url, timeout=5) as http:
        yield app, http


def token(http: httpx.Client) -> dict[str, str]:
    answer = http.post("/oauth2/token", auth=("learnsync-client", "sandbox-secret"), data={"grant_type": "client_credentials"})
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] == 3600
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_wrong_credentials_get_the_oauth_error_shape(served):
    _, http = served
    answer = http.post("/oauth2/token", auth=("learnsync-client", "nope"), data={"grant_type": "client_credentials"})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client" and "error_description" in answer.json()
    wrong_grant = http.post("/oauth2/token", auth=("learnsync-client", "sandbox-secret"), data={"grant_type": "password"})
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"


def test_api_needs_a_bearer_token_for_the_right_partner(served):
    _, http = served
    assert http.get(CATALOG).json()["error"] == "invalid_token"
    assert http.get(CATALOG, headers={"Authorization": "Bearer forged"}).status_code == 401
    other = http.get("/partners/other/courses", headers=token(http))
    assert other.status_code == 403 and other.json()["error"] == "access_denied"


def test_range_paging_answers_206_with_content_range(served):
    _, http = served
    headers = token(http)
    first = http.get(CATALOG, headers={**headers, "Range": "items=0-49"})
    assert first.status_code == 206 and first.headers["Content-Range"] == "items 0-49/120" and len(first.json()) == 50
    last = http.get(CATALOG, headers={**headers, "Range": "items=100-149"})
    assert last.headers["Content-Range"] == "items 100-119/120" and len(last.json()) == 20
    whole = http.get(CATALOG, headers=headers)
    assert whole.status_code == 200 and len(whole.json()) == 120
    past = http.get(CATALOG, headers={**headers, "Range": "items=500-549"})
    assert past.status_code == 416 and past.headers["Content-Range"] == "items */120"
    ids = [c["id"] for c in first.json() + http.get(CATALOG, headers={**headers, "Range": "items=50-119"}).json()]
    assert ids == [c["id"] for c in whole.json()]


def test_progress_filters_on_from_and_to(served):
    app, http = served
    headers = token(http)
    rows = http.get(PROGRESS, headers=headers, params={"from": "2025-11-01", "to": "2025-11-30"}).json()
    assert rows and all("2025-11-01" <= r["lastActivityAt"][:10] <= "2025-11-30" for r in rows)
    assert http.get(PROGRESS, headers=headers, params={"from": "soon"}).json()["error"] == "invalid_request"


def test_store_mutations_show_in_the_api_and_state(served):
    app, http = served
    store = app.state.store
    headers = token(http)
    first_id = next(iter(store.courses))
    store.remove_course(first_id)
    store.upsert_course({"id": 1, "title": "New", "status": "active", "url": "https://oc.example/1"})
    second_id = next(iter(store.courses))
    store.set_course(second_id, status="archived")
    store.add_activity({"userEmail": "learner1@example.com", "courseId": 1, "progress": 5})
    courses = {str(c["id"]): c for c in http.get(CATALOG, headers=headers).json()}
    assert first_id not in courses and courses["1"]["title"] == "New" and courses[second_id]["status"] == "archived"
    state = http.get("/_sandbox/state").json()
    assert state["courses"] == 120 and state["activities"] == 81 and state["partner_id"] == "org-4242"


def test_rate_limit_answers_429():
    app = create_app(OpenClassroomsSandboxConfig(n_courses=5, n_activities=0, requests_per_second=1, retry_after_on_429=1))
    with SandboxServer(app) as srv, httpx.Client(base_url=srv.url) as http:
        codes = [http.get(CATALOG).status_code for _ in range(3)]
        assert 429 in codes
        limited = next(r for r in (http.get(CATALOG) for _ in range(3)) if r.status_code == 429)
        assert limited.headers["Retry-After"] == "1" and limited.json()["error"] == "rate_limit_exceeded"


def test_app_is_wrapped_with_fault_injection(served):
    app, http = served
    app.state.faults.add("status", status=503, path="/courses", times=1)
    assert http.get(CATALOG).status_code == 503
    app.state.faults.clear()
