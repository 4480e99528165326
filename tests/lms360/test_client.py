"""Lms360Client against the 360Learning sandbox over real HTTP (plus a few MockTransport edge cases).

Each test names the rule it checks (docs/rules/360learning.md; the contract: docs/lms360.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest

from learnsync.core.http import FAST_RETRY, ApiError, PagingLoopError, ServerBusy
from learnsync.core.settings import Lms360Settings
from learnsync.lms360 import (
    BulkItemError,
    BulkItemSuccess,
    IntegrationCreate,
    Lms360Client,
    ShareItem,
)
from learnsync.sandboxes.lms360 import Lms360SandboxConfig, create_app
from learnsync.sandboxes.server import SandboxServer

GROUP = "62be0535045424d93edaad7b"
OTHER_GROUP = "62be0535045424d93edaad7c"
AUTHOR = "62bdbc00293a604543f44386"
SECRET = "sandbox-secret"


class Sandbox:
    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url
        self.store = app.state.store
        self.faults = app.state.faults


@pytest.fixture
def sandbox_factory() -> Iterator[Any]:
    servers: list[SandboxServer] = []

    def start(**config: Any) -> Sandbox:
        app = create_app(Lms360SandboxConfig(**config))
        server = SandboxServer(app)
        # Without TCP_NODELAY every loopback request costs ~44 ms (Nagle + delayed ACK); until
        # SandboxServer sets it itself, set it on its listening socket (inherited on accept).
        sock = getattr(server, "_sock", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.start()
        servers.append(server)
        return Sandbox(app, server.url)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Any) -> Sandbox:
    return sandbox_factory(rate_limits_enabled=False)


def make_settings(url: str, **overrides: Any) -> Lms360Settings:
    values: dict[str, Any] = dict(
        base_url=url,
        client_secret=SECRET,
        retry=FAST_RETRY,
        poll_interval_seconds=0.01,
        poll_max_interval_seconds=0.05,
        reads_per_second=500.0,
        writes_per_second=500.0,
    )
    values.update(overrides)
    return Lms360Settings(**values)


def client_for(sb: Sandbox, **overrides: Any) -> Lms360Client:
    kwargs = {k: overrides.pop(k) for k in list(overrides) if (k.startswith("max_") and k != "max_concurrent_bulk") or k == "bulk_submit_patience"}
    return Lms360Client(make_settings(sb.url, **overrides), **kwargs)


async def new_integration(client: Lms360Client, name: str = "Coursera (test)") -> str:
    integration = await client.create_integration(
        IntegrationCreate(external_platform=name, group_id=GROUP, author_id=AUTHOR, default_completion=True)
    )
    return integration.id


def course(external_id: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "externalId": external_id,
        "name": f"Course {external_id}",
        "launchUrl": f"https://provider.example/launch/{external_id}",
        "defaultLang": "en",
        "subjects": ["IT"],
        "sources": [{"name": "Stanford"}],
    }
    item.update(extra)
    return item


def stat(external_id: str, mail: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "courseIdentifier": {"type": "externalId", "value": external_id},
        "userIdentifier": {"type": "mail", "value": mail},
        "progress": 40,
        "timeSpent": 60_000,
        "firstActivityAt": "2025-03-01T09:00:00Z",
        "lastActivityAt": "2025-03-02T10:00:00Z",
    }
    item.update(extra)
    return item


FULL_COURSE = course(
    "l3ssup3rh3r0s",
    name="Machine Learning Crash Course",
    subjects=["Machine Learning", "IT"],
    sources=[{"name": "Stanford", "logoUrl": "https://provider.example/stanford.png"}],
    description="Learn the basics of machine learning.",
    imageUrl="https://provider.example/cover.jpg",
    duration=45,
    contentType="mooc",
    difficultyLevel="beginner",
    mobileLaunchUrl="https://m.provider.example/launch/l3ssup3rh3r0s",
    authorId=AUTHOR,
    translations=[{"lang": "fr", "translatedFields": {"name": "Cours intensif", "launchUrl": "https://provider.example/fr"}}],
)


# --- courses ----------------------------------------------------------------------------------


@pytest.mark.rule("V2-04")
async def test_rule_upserted_course_lands_with_every_field(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        [result] = await client.upsert_courses(iid, [FULL_COURSE])
        assert isinstance(result, BulkItemSuccess) and result.resource_id
        out = await client.get_external_course(iid, FULL_COURSE["externalId"])
        course_ = await client.get_course(out.course_id)
    assert out.course_id == result.resource_id
    sent = out.model_dump(by_alias=True, exclude_none=True)
    for field, value in FULL_COURSE.items():
        assert sent[field] == value, field
    assert course_.status == "published" and not course_.archived
    stored = [c for c in _rows(sandbox.store.courses()) if _get(c, "externalId", "external_id") == "l3ssup3rh3r0s"]
    assert len(stored) == 1


@pytest.mark.rule("V2-39")
async def test_rule_upsert_over_10000_items_is_split_into_batches(sandbox: Sandbox) -> None:
    items = [course(f"c{i:05d}") for i in range(10_001)]
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        results = await client.upsert_courses(iid, items)
        assert client.bulk_submissions["upsert"] == 2
    assert len(results) == 10_001 and all(r.ok for r in results)
    assert [r.input["externalId"] for r in results] == [i["externalId"] for i in items]  # input order
    assert len({r.bulk_operation_id for r in results}) == 2
    assert _bulk_submits(sandbox, "PUT") == 2
    assert [op["type"] for op in sandbox.store.bulk_operations()] == ["importExternalCourses"] * 2


@pytest.mark.rule("V2-39")
async def test_rule_bulk_429_is_retried_then_succeeds(sandbox: Sandbox) -> None:
    sandbox.faults.add("status", status=429, path="/api/v2/bulk", times=2)
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        results = await client.upsert_courses(iid, [course("a"), course("b")])
        assert (client.retry_stats.by_reason or {}).get("http429") == 2
    assert all(r.ok for r in results)
    assert len(sandbox.store.bulk_operations()) == 1


@pytest.mark.rule("V2-39")
async def test_rule_bulk_concurrency_limit_reached_is_retryable(sandbox_factory: Any) -> None:
    sb = sandbox_factory(rate_limits_enabled=False, bulk_item_delay_seconds=0.02, max_concurrent_bulk_operations=1)
    items = [course(f"k{i}") for i in range(12)]
    # The client allows 4 concurrent operations, the platform only 1: the extra submits get
    # 429 bulkOperationsConcurrencyLimitReached and must be resubmitted, not fail.
    async with client_for(sb, max_concurrent_bulk=4, max_upsert_batch=3) as client:
        iid = await new_integration(client)
        results = await client.upsert_courses(iid, items)
        assert client.bulk_submissions["upsert"] == 4
        assert (client.retry_stats.by_reason or {}).get("http429", 0) >= 1
    assert all(r.ok for r in results)
    assert _bulk_submits(sb, "PUT") > 4  # the platform refused some submits with its 429
    assert len(sb.store.bulk_operations()) == 4


@pytest.mark.rule("V2-39")
async def test_rule_a_bulk_submit_still_busy_after_the_retries_is_resubmitted_within_the_patience(sandbox: Sandbox) -> None:
    """The shared layer says "busy" (ServerBusy) once its own retries are spent; the client's one
    patience loop submits again; an exhausted 500 is no "busy" and fails at once."""
    busy_for = FAST_RETRY.attempts + 2  # more 429s than send() retries on its own
    sandbox.faults.add("status", status=429, path="/api/v2/bulk", times=busy_for)
    async with client_for(sandbox, bulk_submit_patience=5.0) as client:
        iid = await new_integration(client)
        results = await client.upsert_courses(iid, [course("a")])
        assert (client.retry_stats.by_reason or {}).get("http429") == busy_for - 1  # the last of each round is not retried by send()
    assert all(r.ok for r in results) and len(sandbox.store.bulk_operations()) == 1
    sandbox.faults.add("status", status=500, path="/api/v2/bulk", times=FAST_RETRY.attempts)
    async with client_for(sandbox, bulk_submit_patience=5.0) as client:
        with pytest.raises(ApiError) as failed:
            await client.upsert_courses(iid, [course("b")])
    assert not isinstance(failed.value, ServerBusy) and failed.value.code == "retriesExhausted"
    sandbox.faults.add("status", status=503, path="/api/v2/bulk", times=None)
    async with client_for(sandbox, bulk_submit_patience=0.05) as client:
        with pytest.raises(ServerBusy) as busy:
            await client.upsert_courses(iid, [course("c")])
    assert busy.value.last_status == 503 and busy.value.status == 0


@pytest.mark.rule("V2-44", "RUN-04")
async def test_rule_on_submitted_is_called_before_waiting_and_jobs_can_resume(sandbox: Sandbox) -> None:
    seen: list[tuple[str, int]] = []
    async with client_for(sandbox, max_upsert_batch=2) as client:
        iid = await new_integration(client)

        async def record(op_id: str, batch: list[dict[str, Any]]) -> None:
            seen.append((op_id, len(batch)))

        results = await client.upsert_courses(iid, [course("a"), course("b"), course("c")], on_submitted=record)
        # Resume path after a crash: status + results by operation id only.
        status = await client.wait_bulk(seen[0][0])
        resumed = await client.bulk_results(seen[0][0])
    assert sorted(n for _, n in seen) == [1, 2]
    assert status.status == "completed"
    assert {r.bulk_operation_id for r in results} == {op for op, _ in seen}
    assert all(r.ok for r in resumed)


@pytest.mark.rule("V2-08")
async def test_rule_invalid_item_is_refused_locally_and_others_go_through(sandbox: Sandbox) -> None:
    items = [course("ok1"), course("bad", duration=0, title="not a v2 field"), course("ok2")]
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        results = await client.upsert_courses(iid, items)
    assert [r.ok for r in results] == [True, False, True]
    bad = results[1]
    assert isinstance(bad, BulkItemError) and bad.bulk_operation_id is None
    assert "duration" in bad.error_message and "title" in bad.error_message


@pytest.mark.rule("V2-04")
async def test_rule_missing_values_from_dataframes_are_not_sent(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        [result] = await client.upsert_courses(iid, [course("na", description=None, duration=float("nan"))])
    assert result.ok


@pytest.mark.rule("V2-42")
async def test_rule_whole_operation_error_becomes_error_results_for_that_batch_only(sandbox: Sandbox) -> None:
    async with client_for(sandbox, max_upsert_batch=2, max_concurrent_bulk=1) as client:
        iid = await new_integration(client)
        sandbox.store.force_next_bulk_error("storage unavailable")
        results = await client.upsert_courses(iid, [course("a"), course("b"), course("c")])
    failed = [r for r in results if not r.ok]
    assert len(failed) == 2 and all("storage unavailable" in r.error_message for r in failed)  # type: ignore[union-attr]
    assert sum(r.ok for r in results) == 1


@pytest.mark.rule("V2-19")
async def test_rule_archive_then_restore_course(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a"), course("b")])
        results = await client.archive_courses(iid, ["a"])
        course_id = (await client.get_external_course(iid, "a")).course_id
        archived = await client.get_course(course_id)
        restored = await client.set_course_archived(course_id, False)
    assert [r.ok for r in results] == [True]
    assert archived.status == "archived" and restored.status == "published"


# --- stats ------------------------------------------------------------------------------------


@pytest.mark.rule("V2-36")
async def test_rule_stat_for_unknown_learner_is_an_item_error_while_others_succeed(sandbox: Sandbox) -> None:
    items = [stat("a", "learner1@example.com"), stat("a", "nobody@example.com"), stat("a", "learner2@example.com", progress=100)]
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        results = await client.import_stats(iid, items)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].input["userIdentifier"]["value"] == "nobody@example.com"  # correlated by (course, user)
    assert len(_rows(sandbox.store.attempts())) == 2


@pytest.mark.rule("V2-33")
async def test_rule_stat_dates_are_sent_as_iso_utc_with_milliseconds(sandbox: Sandbox) -> None:
    from datetime import datetime

    item = stat(
        "a",
        "learner3@example.com",
        firstActivityAt=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        lastActivityAt=datetime(2025, 3, 2, 10, 0, 0, 123000, tzinfo=UTC),
    )
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        [result] = await client.import_stats(iid, [item])
    assert result.ok
    assert result.input["lastActivityAt"] == "2025-03-02T10:00:00.123Z"


async def test_wire_ready_stats_are_still_validated_and_an_invalid_one_is_refused_locally(sandbox: Sandbox) -> None:
    """Items already in wire form skip the model's dump, never its validation."""
    good = {
        "courseIdentifier": {"type": "externalId", "value": "a"}, "userIdentifier": {"type": "mail", "value": "learner1@example.com"},
        "progress": 40, "timeSpent": 1000, "firstActivityAt": "2025-03-01T09:00:00.000Z", "lastActivityAt": "2025-03-02T10:00:00.123Z",
    }
    bad = {**good, "userIdentifier": {"type": "mail", "value": "learner2@example.com"}, "progress": 140}
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        results = await client.import_stats(iid, [good, bad], wire_ready=True)
    assert [r.ok for r in results] == [True, False]
    assert "progress" in results[1].error_message and results[1].bulk_operation_id is None  # never sent
    assert results[0].input == good
    assert len(_rows(sandbox.store.attempts())) == 1


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.rule("V2-41")
async def test_rule_expired_token_is_renewed_once_on_401(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        await client.list_integrations()
        sandbox.store.expire_tokens()
        await client.list_integrations()
        assert client.token_fetches == 2
        assert (client.retry_stats.by_reason or {}).get("unauthorized") == 1


@pytest.mark.rule("V2-41")
async def test_rule_token_is_renewed_proactively_before_expiry(sandbox_factory: Any) -> None:
    sb = sandbox_factory(rate_limits_enabled=False, token_ttl_seconds=1.0, expires_in_as_string=True)
    async with client_for(sb) as client:
        await client.list_integrations()
        await client.list_integrations()
        assert client.token_fetches == 1  # reused while valid ("expires_in" given as a string)
        await asyncio.sleep(0.6)  # past the reuse window (ttl - min(60, ttl/2) = 0.5 s)
        await client.list_integrations()
        assert client.token_fetches == 2
        assert not (client.retry_stats.by_reason or {}).get("unauthorized")


@pytest.mark.rule("RUN-13")
async def test_rule_secrets_never_in_repr_errors_or_logs(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        await client.import_stats(iid, [stat("a", "learner1@example.com")])
        await client.find_users_by_mail(["learner1@example.com"])
        token = await client._tokens.token()
        shown = repr(client) + str(client) + repr(client._tokens) + repr(client.settings)
    bad_settings = make_settings(sandbox.url, client_secret="wrong-" + SECRET)
    async with Lms360Client(bad_settings) as bad:
        with pytest.raises(ApiError) as err:
            await bad.list_integrations()
    assert err.value.status == 401 and err.value.code == "invalid_client"
    everything = shown + str(err.value) + repr(err.value) + caplog.text
    assert SECRET not in everything and token not in everything
    assert "learner1@example.com" not in caplog.text


@pytest.mark.rule("V2-40")
async def test_rule_writes_are_throttled_under_the_platform_limit(sandbox_factory: Any) -> None:
    sb = sandbox_factory(write_requests_per_second=5.0)  # platform: 5 writes/s, burst 5
    async with client_for(sb, writes_per_second=4.0) as client:
        for i in range(9):
            await client.create_tag(f"tag {i}")
        assert client.retry_stats.retries == 0  # the client-side limiter kept us under the limit


# --- errors, pagination -----------------------------------------------------------------------


@pytest.mark.rule("V2-42")
async def test_rule_4xx_raises_api_error_with_its_code(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        await new_integration(client, "Udemy (test)")
        with pytest.raises(ApiError) as dup:
            await new_integration(client, "Udemy (test)")
        with pytest.raises(ApiError) as missing:
            await client.get_external_course("0123456789abcdef01234567", "x")
        with pytest.raises(ApiError) as systemic:  # every batch would fail the same way: raise
            await client.upsert_courses("0123456789abcdef01234567", [course("a")])
    assert dup.value.status == 400 and dup.value.code == "duplicateExternalPlatform"
    assert missing.value.status == 404 and missing.value.code == "integrationNotFound"
    assert systemic.value.status == 404 and systemic.value.code == "integrationNotFound"


@pytest.mark.rule("V2-43")
async def test_rule_link_pagination_over_more_than_100_integrations(sandbox_factory: Any) -> None:
    sb = sandbox_factory(rate_limits_enabled=False, max_integrations=150)
    async with client_for(sb) as client:
        for i in range(101):
            await new_integration(client, f"Provider {i:03d}")
        gets_before = client.request_counts["GET"]
        listed = await client.list_integrations()
        pages = client.request_counts["GET"] - gets_before
        only = await client.list_integrations("Provider 042")
    assert len(listed) == 101 and len({i.id for i in listed}) == 101
    assert pages == 2  # 100 per page
    assert [i.external_platform for i in only] == ["Provider 042"]


@pytest.mark.rule("V2-01")
async def test_rule_integration_update_and_delete(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        updated = await client.update_integration(iid, default_progress=50, noGroupPropagation=True)
        await client.delete_integration(iid)
        remaining = await client.list_integrations()
    assert updated.default_progress == 50 and updated.no_group_propagation is True
    assert updated.id == iid  # the PATCH answer has no _id (BaseIntegrationDTO): the client keeps the one it patched
    assert remaining == []


@pytest.mark.parametrize("kind", ["course", "opaque"])
@pytest.mark.rule("V2-22")
async def test_rule_course_ids_come_from_the_external_course_get_checked_once(sandbox_factory: Any, kind: str) -> None:
    sb = sandbox_factory(rate_limits_enabled=False, course_resource_ids=kind)
    async with client_for(sb) as client:
        iid = await new_integration(client)
        results = await client.upsert_courses(iid, [course(f"c{i}") for i in range(6)])
        more = await client.upsert_courses(iid, [course(f"d{i}") for i in range(3)])
    truth = {c["externalId"]: c["courseId"] for c in sb.store.courses(iid)}
    assert {r.input["externalId"]: r.course_id for r in results + more} == truth
    gets = sb.store.request_counts().get("GET /api/v2/integrations/{integrationId}/courses/{externalId}", 0)
    # resourceIds that are course ids: one check for the whole client; otherwise each id is read.
    assert gets == (1 if kind == "course" else len(truth))


# --- tags, skills, sharing, users -------------------------------------------------------------


@pytest.mark.rule("V2-20")
async def test_rule_ensure_tags_creates_missing_once_and_replace_course_tags(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        course_id = (await client.get_external_course(iid, "a")).course_id
        await client.create_tag("Existing")
        ids = await client.ensure_tags(["Existing", "Data", "Data"])
        again = await client.ensure_tags(["Data", "AI"])
        posts = client.request_counts["POST"]
        await client.replace_course_tags(course_id, [ids["Existing"], ids["Data"]])
        tags = await client.get_course_tags(course_id)
    assert set(ids) == {"Existing", "Data"} and again["Data"] == ids["Data"]
    assert len({t.name for t in await _list_tags(sandbox)}) == 3
    assert {t.tag_id for t in tags} == {ids["Existing"], ids["Data"]}
    assert posts >= 1


@pytest.mark.rule("V2-20")
async def test_rule_manual_tags_are_visible_to_the_engine(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        course_id = (await client.get_external_course(iid, "a")).course_id
        sandbox.store.add_manual_tag(course_id, "Admin pick")
        tags = await client.get_course_tags(course_id)
    assert len(tags) == 1


@pytest.mark.rule("V2-21")
async def test_rule_skills_are_ensured_in_the_library_and_linked_where_the_platform_can(sandbox_factory: Any) -> None:
    linking = sandbox_factory(rate_limits_enabled=False, course_skills_endpoint=True)
    async with client_for(linking, course_skills_path="/api/v2/courses/{courseId}/skills") as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        course_id = (await client.get_external_course(iid, "a")).course_id
        ids = await client.ensure_skills(["Python", "SQL"], "edflex")
        same = await client.ensure_skills(["Python"], "edflex")
        assert await client.course_skill_link_available(course_id)
        await client.replace_course_skills(course_id, list(ids.values()))
        linked = await client.get_course_skills(course_id)
    assert same["Python"] == ids["Python"]
    assert {s.skill_id for s in linked} == set(ids.values())
    assert {s.name for s in linked} == {"Python", "SQL"}
    # Skills we create are keyed in the provider's namespace, never "learnsync:".
    assert sorted(s["externalId"] for s in linking.store.skills()) == ["edflex:Python", "edflex:SQL"]


@pytest.mark.rule("V2-21")
async def test_rule_no_course_skill_link_is_detected_without_a_call_by_default(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        course_id = (await client.get_external_course(iid, "a")).course_id
        before = sandbox.store.request_counts()
        assert not await client.course_skill_link_available(course_id)
        assert not await client.course_skill_link_available(course_id)
    assert sandbox.store.request_counts() == before


@pytest.mark.rule("V2-21")
async def test_rule_a_configured_link_path_the_platform_lacks_is_detected_once(sandbox: Sandbox) -> None:
    async with client_for(sandbox, course_skills_path="/api/v2/courses/{courseId}/skills") as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        course_id = (await client.get_external_course(iid, "a")).course_id
        assert not await client.course_skill_link_available(course_id)
        assert not await client.course_skill_link_available(course_id)
    assert sandbox.app.state.faults.requests_matching(r"/courses/[^/]+/skills$") == 1


@pytest.mark.rule("V2-21")
async def test_rule_skills_of_an_earlier_version_are_re_keyed_out_of_the_learnsync_prefix(sandbox: Sandbox) -> None:
    from learnsync.sandboxes.lms360.schemas import SkillUpsertDTO

    sandbox.store.upsert_skill(SkillUpsertDTO(externalId="learnsync:Python", name="Python", parentExternalIds=[]))
    sandbox.store.upsert_skill(SkillUpsertDTO(externalId="learnsync:Old", name="Old", parentExternalIds=[]))
    sandbox.store.upsert_skill(SkillUpsertDTO(externalId="HR-42", name="Negotiation", parentExternalIds=[]))
    async with client_for(sandbox) as client:
        ids = await client.ensure_skills(["Python", "negotiation"], "edflex")
        notes = list(client.notes)
    by_key = {s["externalId"]: s for s in sandbox.store.skills()}
    assert not [k for k in by_key if k.startswith("learnsync:")]
    assert {"edflex:Python", "edflex:Old", "HR-42"} == set(by_key)
    assert ids == {"Python": by_key["edflex:Python"]["_id"], "negotiation": by_key["HR-42"]["_id"]}
    assert by_key["HR-42"]["name"] == "Negotiation"  # the customer's own skill is reused, not rewritten
    assert any("re-keyed" in n for n in notes)


@pytest.mark.rule("V2-23")
async def test_rule_share_courses_to_other_group_catalog_and_library(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        await client.upsert_courses(iid, [course("a")])
        course_id = (await client.get_external_course(iid, "a")).course_id
        item = ShareItem(group_id=OTHER_GROUP, content_id=course_id)
        catalog = await client.share_courses([item], "catalog")
        library = await client.share_courses([item], "library")
        wrong = await client.share_courses([ShareItem(group_id=OTHER_GROUP, content_id=course_id, content_type="path")], "catalog")
        in_catalog = await client.list_group_content_ids(OTHER_GROUP, "catalog")
        in_library = await client.list_group_content_ids(OTHER_GROUP, "library")
        await client.share_courses([item], "catalog", remove=True)
        after = await client.list_group_content_ids(OTHER_GROUP, "catalog")
    assert all(r.ok for r in catalog + library) and not wrong[0].ok
    assert course_id in in_catalog and course_id in in_library and course_id not in after


@pytest.mark.rule("V2-45")
async def test_rule_find_users_by_mail_batches_and_ignores_unknown(sandbox: Sandbox) -> None:
    mails = [f"learner{i}@example.com" for i in range(1, 8)] + ["Learner1@Example.com", "ghost@example.com"]
    async with client_for(sandbox) as client:
        client.users_per_lookup = 3
        found = await client.find_users_by_mail(mails)
        everyone = await client.list_users()
    assert set(found) == {f"learner{i}@example.com" for i in range(1, 8)}
    assert len(everyone) >= 50


# --- MockTransport edge cases (no sandbox needed) ---------------------------------------------


def mock_client(handler: Any) -> Lms360Client:
    def wrapped(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/oauth2/token":
            return httpx.Response(200, json={"token_type": "Bearer", "access_token": "tok-123", "expires_in": "3600"})
        return handler(request)

    return Lms360Client(make_settings("http://lms.test"), transport=httpx.MockTransport(wrapped))


@pytest.mark.rule("V2-43")
async def test_rule_relative_link_is_resolved_against_the_base_url() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["360-api-version"] == "v2.0"
        assert request.headers["authorization"] == "Bearer tok-123"
        if "next=" not in str(request.url):
            return httpx.Response(200, json=[{"_id": "t1", "name": "A"}], headers={"Link": '<api/v2/tags?next=abc>; rel="next"'})
        return httpx.Response(200, json=[{"_id": "t2", "name": "B"}])

    async with mock_client(handler) as client:
        tags = await client.list_tags()
    assert [t.name for t in tags] == ["A", "B"]
    assert seen[1] == "http://lms.test/api/v2/tags?next=abc"


@pytest.mark.rule("V2-43")
async def test_rule_repeated_next_link_is_a_paging_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"_id": "t", "name": "A"}], headers={"Link": '</api/v2/tags?next=same>; rel="next"'})

    async with mock_client(handler) as client:
        with pytest.raises(PagingLoopError):
            await client.list_tags()


@pytest.mark.rule("V2-43", "V2-45")
async def test_rule_user_mail_filters_keep_brackets_unencoded() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(request.url.raw_path.decode())
        return httpx.Response(200, json=[{"_id": "u1", "mail": "a+b@x.com"}])

    async with mock_client(handler) as client:
        found = await client.find_users_by_mail(["A+B@x.com", "c@x.com"])
    assert urls == ["/api/v2/users?mail[in][0]=a%2Bb@x.com&mail[in][1]=c@x.com"]
    assert list(found) == ["a+b@x.com"]


@pytest.mark.rule("V2-42")
async def test_rule_submit_400_becomes_error_results_and_413_splits_the_batch() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            n = len(__import__("json").loads(request.content)["input"])
            sizes.append(n)
            if n > 2:
                return httpx.Response(413, json={"error": {"code": "payloadTooLarge", "message": "too big"}})
            if n == 1:
                return httpx.Response(400, json={"error": {"code": "invalidInput", "message": "nope"}})
            return httpx.Response(202, headers={"Location": f"http://lms.test/api/v2/bulk/operations/{'a' * 24}"})
        if request.url.path.endswith("/results"):
            return httpx.Response(200, json=[{"status": "success", "input": {"externalId": e}, "resourceId": "r"} for e in ("x2", "x3")])
        return httpx.Response(200, json={"_id": "a" * 24, "type": "importExternalCourses", "status": "completed"})

    async with mock_client(handler) as client:
        results = await client.upsert_courses("b" * 24, [course("x1"), course("x2"), course("x3")])
    assert sizes == [3, 1, 2]
    assert [r.ok for r in results] == [False, True, True]
    assert any("invalidInput" in getattr(r, "error_message", "") for r in results)


# --- helpers over the sandbox store (its inspection API may return models or dicts) ------------


def _rows(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


def _get(row: Any, *names: str) -> Any:
    for name in names:
        if isinstance(row, dict) and name in row:
            return row[name]
        if hasattr(row, name):
            return getattr(row, name)
    return None


def _bulk_submits(sb: Sandbox, method: str) -> int:
    counts = sb.store.request_counts()
    return sum(v for k, v in counts.items() if method in str(k) and "bulk/integrations" in str(k) and "courses" in str(k))


async def _list_tags(sb: Sandbox) -> list[Any]:
    async with client_for(sb) as client:
        return await client.list_tags()


@pytest.mark.rule("V2-44")
def test_rule_running_job_progress_times_the_next_poll() -> None:
    """A running job's pace (progress.index over server time) predicts its end; polls aim at it."""
    from learnsync.lms360.client import _expected_remaining
    from learnsync.lms360.models import BulkStatus

    def status(state: str, index: int | None, seconds: float) -> BulkStatus:
        body: dict[str, Any] = {"_id": "op", "status": state, "startedAt": "2026-01-01T00:00:00Z"}
        if index is not None:
            body["progress"] = {"index": index, "updatedAt": f"2026-01-01T00:00:{seconds:06.3f}Z"}
        return BulkStatus.model_validate(body)

    assert _expected_remaining(status("running", 999, 2.0), 10_000) == pytest.approx(18.0)
    assert _expected_remaining(status("running", 9_999, 20.0), 10_000) == 0.0
    assert _expected_remaining(status("running", 999, 2.0), None) is None  # size unknown: plain backoff
    assert _expected_remaining(status("queued", None, 0.0), 10_000) is None


@pytest.mark.rule("V2-08")
async def test_rule_values_the_spec_refuses_are_quarantined_per_item_and_the_rest_is_sent(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as client:
        iid = await new_integration(client)
        courses = await client.upsert_courses(iid, [
            course("ok"), course("empty-image", imageUrl=""), course("bad-author", authorId="not-an-object-id"),
            course("empty-logo", sources=[{"name": "S", "logoUrl": ""}]), course("empty-mobile", mobileLaunchUrl=""),
        ])  # fmt: skip
        stats = await client.import_stats(iid, [
            stat("ok", "learner1@example.com"), stat("ok", "learner2@example.com", lang="klingon"),
        ])  # fmt: skip
    assert [r.ok for r in courses] == [True, False, False, False, False]
    assert all("invalid item (not sent)" in r.error_message for r in courses[1:])
    assert "imageUrl" in courses[1].error_message and "authorId" in courses[2].error_message
    assert [r.ok for r in stats] == [True, False] and "lang" in stats[1].error_message
    assert [c["externalId"] for c in sandbox.store.courses(iid)] == ["ok"]  # only the valid one was sent
    assert len(sandbox.store.attempts()) == 1
