"""Every route of the 360Learning sandbox, driven directly (valid calls and the documented
errors), answers in the shapes of the published OpenAPI documents: routes learnsync does not
call today (course lists, course stats, users, groups) included.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from learnsync.sandboxes.lms360 import Lms360SandboxConfig, create_app
from learnsync.sandboxes.lms360.config import DEFAULT_AUTHORS, DEFAULT_GROUPS
from learnsync.sandboxes.server import SandboxServer
from tests.contract.conftest import judge

TOKEN = {"grant_type": "client_credentials", "client_id": "learnsync-client", "client_secret": "sandbox-secret"}


class Caller:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        token = self.http.post("/api/v2/oauth2/token", json=TOKEN).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}", "360-api-version": "v2.0"}

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def bulk(self, method: str, path: str, items: list[Any]) -> list[dict[str, Any]]:
        location = self(method, path, json={"input": items}).headers["location"]
        while self("GET", location).json()["status"] not in ("completed", "error"):
            time.sleep(0.01)
        return self("GET", location + "/results").json()


def _every_route(call: Caller, store: Any) -> None:
    group, other = DEFAULT_GROUPS[0], DEFAULT_GROUPS[1]
    call.http.post("/api/v2/oauth2/token", json={**TOKEN, "client_secret": "wrong"})
    call.http.post("/api/v2/oauth2/token", json={"grant_type": "password"})
    iid = call("POST", "/api/v2/integrations", json={"externalPlatform": "Contract Co", "groupId": group, "authorId": DEFAULT_AUTHORS[0]}).json()["_id"]
    call("POST", "/api/v2/integrations", json={"externalPlatform": "Contract Co", "groupId": group, "authorId": DEFAULT_AUTHORS[0]})
    call("POST", "/api/v2/integrations", json={"externalPlatform": "Udemy", "groupId": group, "authorId": DEFAULT_AUTHORS[0]})
    call("GET", "/api/v2/integrations?externalPlatform[eq]=Contract%20Co")
    call("PATCH", f"/api/v2/integrations/{iid}", json={"defaultProgress": 10})
    course = {"externalId": "x1", "name": "X", "launchUrl": "https://x.example/1", "defaultLang": "fr", "subjects": ["S"],
              "sources": [{"name": "Src"}], "translations": [{"lang": "en", "translatedFields": {"name": "X (en)"}}]}  # fmt: skip
    results = call.bulk("PUT", f"/api/v2/bulk/integrations/{iid}/courses", [course, {"externalId": "bad"}])
    cid = results[0]["resourceId"]
    call("GET", f"/api/v2/integrations/{iid}/courses/x1")
    call("GET", f"/api/v2/integrations/{iid}/courses/unknown")
    call("GET", f"/api/v2/integrations/{'a' * 24}/courses/x1")
    call("GET", f"/api/v2/courses/{cid}")
    call("GET", f"/api/v2/courses/{'b' * 24}")
    call("GET", f"/api/v2/courses?type[eq]=external&groupId[eq]={group}")
    call("PUT", f"/api/v2/courses/{cid}/archive", json={"archived": True})
    call("PUT", f"/api/v2/courses/{cid}/archive", json={"archived": False})
    tag = call("POST", "/api/v2/tags", json={"name": "Contract tag", "isMain": False}).json()["_id"]
    call("POST", "/api/v2/tags", json={"name": "contract TAG", "isMain": False})
    call("GET", "/api/v2/tags")
    call("GET", f"/api/v2/tags/{tag}")
    call("PUT", f"/api/v2/courses/{cid}/tags", json={"tagIds": [tag]})
    call("GET", f"/api/v2/courses/{cid}/tags")
    call("GET", f"/api/v2/courses/{'b' * 24}/tags")
    stat = {"courseIdentifier": {"type": "externalId", "value": "x1"}, "userIdentifier": {"type": "mail", "value": "learner1@example.com"},
            "progress": 100, "timeSpent": 1000, "firstActivityAt": "2025-01-01T00:00:00.000Z", "lastActivityAt": "2025-01-02T00:00:00.000Z",
            "score": 80.5}  # fmt: skip
    call.bulk("POST", f"/api/v2/bulk/integrations/{iid}/stats", [stat, {**stat, "userIdentifier": {"type": "mail", "value": "nobody@example.com"}}])
    call("GET", "/api/v2/courses/stats")
    call("GET", f"/api/v2/courses/stats?courseId[eq]={cid}")
    skills = call.bulk("PUT", "/api/v2/bulk/skills", [{"externalId": "sk1", "name": "Skill one", "parentExternalIds": []}])
    call("GET", "/api/v2/skills")
    store.archive_skill(skills[0]["resourceId"])
    call("GET", "/api/v2/skills?status[eq]=archived")
    call.bulk("DELETE", "/api/v2/bulk/skills", [{"externalId": "sk1"}])
    for shelf in ("catalog", "library"):
        item = {"groupId": other, "contentType": "course", "contentId": cid}
        call.bulk("POST", f"/api/v2/bulk/groups/{shelf}", [item])
        call("GET", f"/api/v2/groups/{other}/{shelf}/course-ids")
        call.bulk("DELETE", f"/api/v2/bulk/groups/{shelf}", [item])
    call("GET", "/api/v2/groups")
    call("GET", f"/api/v2/groups/{group}")
    users = call("GET", "/api/v2/users?mail[in][0]=learner1%40example.com&mail[in][1]=learner2%40example.com").json()
    call("GET", f"/api/v2/users/{users[0]['_id']}")
    call("GET", "/api/v2/users")
    call("GET", "/api/v2/bulk/operations")
    call("GET", "/api/v2/bulk/operations?status[eq]=completed")
    call("GET", f"/api/v2/bulk/operations/{'c' * 24}")
    store.force_next_bulk_error("forced")
    call.bulk("DELETE", f"/api/v2/bulk/integrations/{iid}/courses", [{"externalId": "x1"}])
    call.bulk("DELETE", f"/api/v2/bulk/integrations/{iid}/courses", [{"externalId": "x1"}])
    call("DELETE", f"/api/v2/tags/{tag}")
    call("DELETE", f"/api/v2/integrations/{iid}")
    call("GET", "/api/v2/integrations", headers={"Authorization": "Bearer expired"})


@pytest.fixture(scope="module")
def verdict(contract):
    app = create_app(Lms360SandboxConfig(record_traffic=True, rate_limits_enabled=False))
    with SandboxServer(app) as server:
        call = Caller(server.url)
        try:
            _every_route(call, app.state.store)
        finally:
            call.http.close()
    return judge(contract, app.state.traffic.exchanges())


def test_the_routes_were_all_driven(verdict):
    assert verdict.exchanges > 60 and len(verdict.endpoints) >= 30, sorted(verdict.endpoints)


def test_every_sandbox_answer_has_a_documented_status_and_shape(verdict):
    assert verdict.responses_invalid == [], "\n".join(f"{label}: {p[:3]}" for label, p in verdict.responses_invalid[:20])


def test_the_driving_requests_themselves_follow_the_spec(verdict):
    # The deliberately wrong ones (bad credentials, a body missing required fields) are the only exceptions.
    invalid = [label for label, _ in verdict.requests_invalid]
    assert all("/oauth2/token" in label or "/bulk/" in label or "expired" in label for label in invalid), invalid
