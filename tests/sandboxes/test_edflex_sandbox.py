"""Edflex sandbox: deterministic generator and the Connect API contract basics (docs/providers/edflex.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from learnsync.sandboxes.edflex import EdflexSandboxConfig, create_app
from learnsync.sandboxes.edflex.data import generate
from learnsync.sandboxes.server import SandboxServer

UNAUTHORIZED = {"errors": [{"code": "401", "title": "Unauthorized", "detail": "Invalid or expired access token"}]}


def test_generator_is_deterministic() -> None:
    first, again = generate(3, 200, 20, 300), generate(3, 200, 20, 300)
    assert first == again
    assert generate(4, 200, 20, 300).resources != first.resources


def test_generator_builds_50000_courses_in_a_few_seconds() -> None:
    started = time.perf_counter()
    data = generate(1, 50_000, 50, 0)
    assert time.perf_counter() - started < 5
    assert len({r["id"] for r in data.resources}) == 50_000


def test_generator_has_realistic_variety() -> None:
    data = generate(5, 2000, 50, 3000)
    attrs = [r["attributes"] for r in data.resources]
    assert {"article", "video", "mooc", "podcast", "program"} <= {a.get("type") for a in attrs}
    languages = {a.get("language") for a in attrs}
    assert {"fr", "en_US", "pt-BR", "xx", None} <= languages
    assert {"closed", "open all year", None} <= {a.get("status") for a in attrs}
    assert any("image" not in a for a in attrs) and any("syllabus" in a for a in attrs)
    emails = [s["attributes"]["userEmail"] for s in data.statistics]
    learners = {e for e in emails if e and e.startswith("learner")}
    assert learners <= {f"learner{i}@example.com" for i in range(1, 51)} and len(learners) > 40
    assert any(e and e.startswith("ghost") for e in emails)
    assert {"completed", "in_progress", "in progress"} <= {s["attributes"]["status"] for s in data.statistics}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Any, str]]:
    app = create_app(EdflexSandboxConfig(n_courses=120, n_activities=80, seed=9))
    with SandboxServer(app) as srv:
        yield app, srv.url


@pytest.fixture()
def http(server: tuple[Any, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=5) as client:
        yield client


def bearer(http: httpx.Client) -> dict[str, str]:
    answer = http.post("/connect/v1/auth/token", data={"grant_type": "client_credentials",
                                                        "client_id": "learnsync-client", "client_secret": "sandbox-secret"})  # fmt: skip
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_token_with_wrong_credentials_answers_401_errors_array(http: httpx.Client) -> None:
    answer = http.post("/connect/v1/auth/token", data={"grant_type": "client_credentials",
                                                        "client_id": "learnsync-client", "client_secret": "nope"})  # fmt: skip
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "401"


def test_resources_need_a_valid_bearer_token(server: tuple[Any, str], http: httpx.Client) -> None:
    assert http.get("/connect/v1/resources").json() == UNAUTHORIZED
    headers = bearer(http)
    assert http.get("/connect/v1/resources", headers=headers).status_code == 200
    server[0].state.tokens.expire_all()
    answer = http.get("/connect/v1/resources", headers=headers)
    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)


def test_resources_page_number_and_size_with_meta_and_next_link(http: httpx.Client) -> None:
    headers = bearer(http)
    first = http.get("/connect/v1/resources", params={"page[number]": 1, "page[size]": 50}, headers=headers).json()
    assert len(first["data"]) == 50 and first["meta"]["page"] == {"number": 1, "size": 50, "total": 120}
    assert "page%5Bnumber%5D=2" in first["links"]["next"]
    last = http.get("/connect/v1/resources", params={"page[number]": 3, "page[size]": 50}, headers=headers).json()
    assert len(last["data"]) == 20 and "next" not in last["links"]
    item = first["data"][0]
    assert item["type"] == "resources" and {"title", "type", "url"} <= set(item["attributes"])
    default = http.get("/connect/v1/resources", headers=headers).json()
    assert default["meta"]["page"]["size"] == 50
    bad = http.get("/connect/v1/resources", params={"page[number]": 0}, headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "400"


def test_resources_filters(http: httpx.Client) -> None:
    headers = bearer(http)
    french = http.get("/connect/v1/resources", params={"filter[language]": "fr", "page[size]": 500}, headers=headers)
    assert {r["attributes"]["language"] for r in french.json()["data"]} == {"fr"}
    ids = [r["id"] for r in http.get("/connect/v1/resources", headers=headers).json()["data"][:3]]
    picked = http.get("/connect/v1/resources", params={"filter[contentIds]": ",".join(ids)}, headers=headers).json()
    assert sorted(r["id"] for r in picked["data"]) == sorted(ids)
    too_many = http.get("/connect/v1/resources", params={"filter[contentIds]": ",".join(map(str, range(51)))}, headers=headers)
    assert too_many.status_code == 400


def test_catalogs_and_their_categories(http: httpx.Client) -> None:
    headers = bearer(http)
    catalogs = http.get("/connect/v1/catalogs", headers=headers).json()["data"]
    assert catalogs == [{"id": "cat-acme-main", "name": "Acme – catalogue principal"}]
    categories = http.get("/connect/v1/catalogs/cat-acme-main/categories", headers=headers).json()["data"]
    assert {"id": "c-100", "name": "Management"} in categories
    assert http.get("/connect/v1/catalogs/nope/categories", headers=headers).status_code == 404


def test_statistics_filter_by_inclusive_activity_days(server: tuple[Any, str], http: httpx.Client) -> None:
    store = server[0].state.store
    store.add_activity({"id": "st-day", "userEmail": "learner2@example.com", "resourceId": "r-1",
                        "status": "in_progress", "lastActivityAt": "2031-05-05T10:00:00Z"})  # fmt: skip
    headers = bearer(http)
    params = {"filter[from]": "2031-05-05", "filter[to]": "2031-05-05"}
    body = http.get("/connect/v1/statistics", params=params, headers=headers).json()
    assert [s["id"] for s in body["data"]] == ["st-day"]
    assert body["data"][0]["attributes"]["status"] == "in_progress"
    assert http.get("/connect/v1/statistics", params={"filter[from]": "May 5"}, headers=headers).status_code == 400
    everything = http.get("/connect/v1/statistics", params={"page[size]": 500}, headers=headers).json()
    assert everything["meta"]["page"]["total"] == 81


def test_store_mutations_show_in_the_api_and_state(server: tuple[Any, str], http: httpx.Client) -> None:
    app = server[0]
    store = app.state.store
    headers = bearer(http)
    victim = next(iter(store.resources))
    store.remove_course(victim)
    store.upsert_course({"id": "r-new", "title": "New", "type": "video", "url": "https://acme.edflex.com/r-new"})
    store.set_course("r-new", status="closed", title=None)
    data = http.get("/connect/v1/resources", params={"page[size]": 500}, headers=headers).json()["data"]
    by_id = {r["id"]: r for r in data}
    assert victim not in by_id
    assert by_id["r-new"]["attributes"] == {"type": "video", "url": "https://acme.edflex.com/r-new", "status": "closed"}
    state = http.get("/_sandbox/state").json()
    assert state["resources"] == 120 and state["tokens_issued"] >= 1


def test_rate_limit_answers_429_with_retry_after() -> None:
    app = create_app(EdflexSandboxConfig(n_courses=5, n_activities=0, requests_per_second=1))
    with SandboxServer(app) as srv, httpx.Client(base_url=srv.url, timeout=5) as http:
        answers = [http.get("/connect/v1/catalogs") for _ in range(3)]
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled and throttled[0].headers["Retry-After"] == "1"
    assert throttled[0].json()["errors"][0]["code"] == "429"


def test_faults_can_be_injected(server: tuple[Any, str], http: httpx.Client) -> None:
    server[0].state.faults.add("status", status=503, path="/connect/v1/catalogs", times=1)
    headers = bearer(http)
    assert http.get("/connect/v1/catalogs", headers=headers).status_code == 503
    assert http.get("/connect/v1/catalogs", headers=headers).status_code == 200
