"""Udemy sandbox: deterministic data and the REST contract basics (auth, DRF paging, 429, filters)."""

from __future__ import annotations

import time
from datetime import date

import httpx
import pytest

from learnsync.sandboxes.server import SandboxServer
from learnsync.sandboxes.udemy import UdemySandboxConfig, create_app, generate
from learnsync.sandboxes.udemy.data import ANONYMIZED, activity_day

ANCHOR = date(2025, 11, 7)
ROOT = "/api-2.0/organizations/100028"
AUTH = ("learnsync-client", "sandbox-secret")


@pytest.fixture(scope="module")
def server():
    app = create_app(UdemySandboxConfig(n_courses=45, n_activities=300, anchor=ANCHOR, bad_records=3))
    with SandboxServer(app) as srv:
        yield srv


def get(server, path: str, auth=AUTH, **params) -> httpx.Response:
    return httpx.get(server.url + path, params=params, auth=auth, timeout=10)


def test_generator_is_deterministic_for_a_seed():
    first = generate(7, 300, 20, 400, anchor=ANCHOR)
    second = generate(7, 300, 20, 400, anchor=ANCHOR)
    other = generate(8, 300, 20, 400, anchor=ANCHOR)
    assert first == second
    assert first.courses != other.courses


def test_generator_builds_a_large_catalog_quickly():
    started = time.perf_counter()
    data = generate(1, 50_000, 50, 5_000, anchor=ANCHOR)
    assert time.perf_counter() - started < 8
    assert len({c["id"] for c in data.courses}) == 50_000


def test_generator_has_realistic_variety():
    data = generate(3, 2_000, 50, 3_000, anchor=ANCHOR)
    locales = {(c.get("locale") or {}).get("locale") for c in data.courses}
    assert {"en_US", "pt_BR", "fr_CA", None, "sq_AL"} <= locales
    assert any("description" not in c for c in data.courses)
    assert any("promo_video_url" not in c for c in data.courses)
    emails = [a["user_email"] for a in data.activities]
    assert ANONYMIZED in emails
    assert any(e.startswith("ghost") for e in emails)
    learners = {e.lower() for e in emails if e.lower().startswith("learner")}
    assert learners <= {f"learner{i}@example.com" for i in range(1, 51)}
    assert any(a["course_start_date"] is None and a["course_enroll_date"] for a in data.activities)
    assert any(a["course_completion_date"] and a["completion_ratio"] < 100 for a in data.activities)


def test_missing_or_wrong_credentials_get_401_with_drf_detail(server):
    missing = get(server, ROOT + "/courses/list/", auth=None)
    wrong = get(server, ROOT + "/courses/list/", auth=("learnsync-client", "nope"))
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid username/password."}
    assert "detail" in missing.json()
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")


def test_other_organization_is_forbidden(server):
    assert get(server, "/api-2.0/organizations/999/courses/list/").status_code == 403


def test_courses_page_through_absolute_next_urls(server):
    seen, url, pages = [], server.url + ROOT + "/courses/list/?page_size=20&fields%5Bcourse%5D=%40all", 0
    while url:
        body = httpx.get(url, auth=AUTH, timeout=10).json()
        assert body["count"] == 45
        seen += [c["id"] for c in body["results"]]
        url, pages = body["next"], pages + 1
        if url:
            assert url.startswith("http://127.0.0.1") and "fields%5Bcourse%5D" in url
    assert pages == 3 and len(seen) == len(set(seen)) == 45


def test_page_past_the_end_is_404_invalid_page(server):
    response = get(server, ROOT + "/courses/list/", page=99, page_size=20)
    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


def test_only_public_learning_paths_are_listed(server):
    body = get(server, ROOT + "/learning-paths/list/", page_size=100).json()
    assert body["results"] and not any(p.get("is_private_path") for p in body["results"])
    assert body["count"] == server.app.state.store.summary()["public_learning_paths"]


def test_activity_is_filtered_by_inclusive_date_window(server):
    body = get(server, ROOT + "/analytics/user-course-activity/", from_date="2025-11-01", to_date="2025-11-03", page_size=1000).json()
    days = {activity_day(r) for r in body["results"]}
    assert body["results"] and days <= {date(2025, 11, d) for d in (1, 2, 3)}
    everything = get(server, ROOT + "/analytics/user-course-activity/", page_size=1000).json()
    assert everything["count"] == 300


def test_bad_date_format_is_400(server):
    response = get(server, ROOT + "/analytics/user-course-activity/", from_date="01/11/2025")
    assert response.status_code == 400 and "from_date" in response.json()


def test_store_mutations_show_in_the_api_and_state(server):
    store = server.app.state.store
    first = store.courses()[0]["id"]
    store.set_course(first, title="Renamed")
    assert get(server, ROOT + "/courses/list/", page_size=1).json()["results"][0]["title"] == "Renamed"
    store.upsert_course({"id": 1, "title": "New", "url": "https://acme.udemy.com/course/new/"})
    store.remove_course(first)
    store.add_activity({"user_email": "learner1@example.com", "course_id": 1, "course_last_accessed_date": "2025-11-06T10:00:00Z"})
    state = httpx.get(server.url + "/_sandbox/state", timeout=10).json()
    assert state["courses"] == 45 and state["activities"] == 301
    assert get(server, ROOT + "/courses/list/", page_size=1).json()["results"][0]["id"] == 1
    assert "sandbox-secret" not in str(state)


def test_rate_limit_answers_429_with_retry_after():
    app = create_app(UdemySandboxConfig(n_courses=5, n_activities=0, requests_per_second=0.5, burst=1, anchor=ANCHOR))
    with SandboxServer(app) as srv:
        assert get(srv, ROOT + "/courses/list/").status_code == 200
        throttled = get(srv, ROOT + "/courses/list/")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["detail"].startswith("Request was throttled")


def test_loop_flag_makes_next_point_back_to_the_same_page():
    app = create_app(UdemySandboxConfig(n_courses=30, n_activities=0, loop_on_page=2, anchor=ANCHOR))
    with SandboxServer(app) as srv:
        body = get(srv, ROOT + "/courses/list/", page=2, page_size=10).json()
    assert "page=2" in body["next"]


def test_latency_is_added_to_every_request():
    app = create_app(UdemySandboxConfig(n_courses=5, n_activities=0, latency_seconds=0.05, anchor=ANCHOR))
    with SandboxServer(app) as srv:
        started = time.perf_counter()
        assert get(srv, ROOT + "/courses/list/").status_code == 200
    assert time.perf_counter() - started >= 0.05
