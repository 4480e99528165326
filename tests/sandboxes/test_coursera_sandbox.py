"""Coursera sandbox: deterministic generator and the HTTP contract basics (docs/providers/coursera.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from learnsync.sandboxes.coursera import CourseraSandboxConfig, create_app, generate
from learnsync.sandboxes.server import SandboxServer

ORG = "Xy12AbOrg"
API = f"/ent/api/businesses.v1/{ORG}"


class FakeClock:
    def __init__(self, now: float = 1_767_225_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(create_app(CourseraSandboxConfig(n_courses=250, n_activities=300))) as srv:
        yield srv


def token(base_url: str, key: str = "learnsync-client", secret: str = "sandbox-secret") -> httpx.Response:
    return httpx.post(f"{base_url}/oauth2/client_credentials/token", auth=(key, secret), data={"grant_type": "client_credentials"})


def bearer(base_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(base_url).json()['access_token']}"}


def refresh(base_url: str, refresh_token: str = "sandbox-refresh-token") -> httpx.Response:
    return httpx.post(f"{base_url}/oauth2/v1/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                                            "client_id": "learnsync-client", "client_secret": "sandbox-secret"})


# --- generator ------------------------------------------------------------------------------
def test_generator_is_deterministic() -> None:
    assert generate(42, 300, 20, 400) == generate(42, 300, 20, 400)
    assert generate(42, 300, 20, 400).contents != generate(43, 300, 20, 400).contents


def test_generator_builds_50000_courses_in_a_few_seconds() -> None:
    started = time.perf_counter()
    data = generate(1, 50_000, 50, 100)
    assert len(data.contents) == 50_000
    assert len({c["id"] for c in data.contents}) == 50_000
    assert time.perf_counter() - started < 10


def test_generator_has_realistic_variety() -> None:
    data = generate(3, 2000, 50, 3000)
    languages = {c.get("languageCode") for c in data.contents}
    assert {"en", "pt-BR", "fr_CA", None} <= languages and languages & {"xx", "tlh"}
    assert {c["contentType"] for c in data.contents} >= {"Course", "Specialization", "ProfessionalCertificate"}
    assert any(not c["programs"] for c in data.contents)  # no launch URL
    assert any("description" not in c for c in data.contents)
    assert all(c["id"] == f"{c['contentType']}~{c['contentId']}" for c in data.contents)  # docs/providers/coursera.md: Catalog
    emails = {e["email"] for e in data.enrollments}
    learners = {m for m in emails if m.startswith("learner")}
    assert learners <= {f"learner{i}@example.com" for i in range(1, 51)}
    assert any(m.startswith("ghost") for m in emails)
    assert any(e["isCompleted"] for e in data.enrollments) and any(not e["isCompleted"] for e in data.enrollments)
    assert any(e["overallProgress"] is None for e in data.enrollments)
    assert len({e["id"] for e in data.enrollments}) == len(data.enrollments)


# --- auth -----------------------------------------------------------------------------------
def test_client_credentials_token_shape(server: SandboxServer) -> None:
    body = token(server.url).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1799 and body["access_token"]


def test_bad_credentials_get_invalid_client(server: SandboxServer) -> None:
    response = token(server.url, secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_api_without_valid_token_is_401_in_coursera_error_shape(server: SandboxServer) -> None:
    response = httpx.get(f"{server.url}{API}/contents", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert set(response.json()) == {"errorCode", "details"}


def test_wrong_org_is_403_forbidden(server: SandboxServer) -> None:
    response = httpx.get(f"{server.url}/ent/api/businesses.v1/OtherOrg/contents", headers=bearer(server.url))
    assert response.status_code == 403
    assert response.json() == {"errorCode": "FORBIDDEN", "details": "app not authorized for business OtherOrg"}


def test_access_token_expires_after_its_lifetime() -> None:
    clock = FakeClock()
    app = create_app(CourseraSandboxConfig(n_courses=5, n_activities=5, clock=clock))
    with SandboxServer(app) as srv:
        headers = bearer(srv.url)
        assert httpx.get(f"{srv.url}{API}/contents", headers=headers).status_code == 200
        clock.now += 1800
        assert httpx.get(f"{srv.url}{API}/contents", headers=headers).status_code == 401


def test_refresh_token_grant_extends_its_life_and_expires_when_unused() -> None:
    clock = FakeClock()
    app = create_app(CourseraSandboxConfig(n_courses=5, n_activities=5, clock=clock, refresh_token_ttl_seconds=100))
    with SandboxServer(app) as srv:
        clock.now += 90
        assert refresh(srv.url).status_code == 200  # pushes expiry to now + 100
        clock.now += 90
        ok = refresh(srv.url)
        assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
        clock.now += 101
        expired = refresh(srv.url)
        assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
        new = app.state.auth.reissue_refresh_token("new-refresh")  # the human browser step
        assert refresh(srv.url, new).status_code == 200
        assert refresh(srv.url, "sandbox-refresh-token").status_code == 400


# --- paging and filters ----------------------------------------------------------------------
def test_contents_paging_uses_start_limit_and_next_offset_string(server: SandboxServer) -> None:
    headers = bearer(server.url)
    first = httpx.get(f"{server.url}{API}/contents", params={"start": 0, "limit": 100}, headers=headers).json()
    assert first["paging"] == {"next": "100", "total": 250} and len(first["elements"]) == 100
    last = httpx.get(f"{server.url}{API}/contents", params={"start": 200, "limit": 100}, headers=headers).json()
    assert "next" not in last["paging"] and len(last["elements"]) == 50
    assert httpx.get(f"{server.url}{API}/contents", params={"start": -1}, headers=headers).json()["errorCode"] == "BAD_REQUEST"


def test_programs_list_their_contents(server: SandboxServer) -> None:
    body = httpx.get(f"{server.url}{API}/programs", params={"excludeContent": "false"}, headers=bearer(server.url)).json()
    assert len(body["elements"]) == 3
    assert all({"contentId", "contentType"} <= set(ref) for p in body["elements"] for ref in p["contentIds"])


def test_enrollment_reports_by_program_with_last_activity_after(server: SandboxServer) -> None:
    headers = bearer(server.url)
    store = server.app.state.store
    program = store.programs[0]["id"]
    after = sorted(e["lastActivityAt"] for e in store.enrollments.values() if e["lastActivityAt"])[100]
    params: dict[str, Any] = {"q": "byProgramId", "programId": program, "lastActivityAfter": after, "limit": 1000}
    rows = httpx.get(f"{server.url}{API}/enrollmentReports", params=params, headers=headers).json()["elements"]
    expected = [e for e in store.enrollments.values() if e["programId"] == program and (e["lastActivityAt"] or 0) > after]
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(after // 1000))
    assert httpx.get(f"{server.url}{API}/enrollmentReports", params={**params, "lastActivityAfter": iso}, headers=headers).status_code == 200
    unknown = httpx.get(f"{server.url}{API}/enrollmentReports", params={"q": "byProgramId", "programId": "nope"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "NOT_FOUND"


def test_rate_limit_answers_429_with_retry_after() -> None:
    with SandboxServer(create_app(CourseraSandboxConfig(n_courses=5, n_activities=5, requests_per_second=1))) as srv:
        statuses = [token(srv.url) for _ in range(3)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["errorCode"] == "TOO_MANY_REQUESTS"


def test_store_mutations_and_state_summary() -> None:
    app = create_app(CourseraSandboxConfig(n_courses=10, n_activities=10))
    store = app.state.store
    first = next(iter(store.contents))
    store.set_course(first, name="Renamed")
    store.remove_course(first)
    store.upsert_course({"id": "Course~new", "contentId": "new", "contentType": "Course"})
    store.add_activity({"id": "x~y~new", "contentId": "new", "contentType": "Course", "lastActivityAt": 1})
    with SandboxServer(app) as srv:
        state = httpx.get(f"{srv.url}/_sandbox/state").json()
        assert state["contents"] == 10 and state["enrollments"] == 11 and state["version"] == 4
        ids = [c["id"] for c in httpx.get(f"{srv.url}{API}/contents", headers=bearer(srv.url)).json()["elements"]]
        assert first not in ids and "Course~new" in ids
    assert hasattr(app, "injector") and app.state.faults is app.injector  # wrapped with faults
