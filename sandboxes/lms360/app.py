"""FastAPI routes of the 360Learning API v2 sandbox (contract: docs/lms360.md).

Every `/api/v2/*` route except the token endpoint passes through `gate`: request counting,
optional latency, bearer token, `360-api-version: v2.0`, then the per-platform rate limit
(GET 50/s, writes 10/s; bulk submissions are limited by the 3-concurrent rule instead).

Answers follow the published OpenAPI documents (../shared/api/openapi/; tests/contract checks
them). Skills: v2 has no course-skill link. Skills are upserted with the real
`PUT /api/v2/bulk/skills` (async, type upsertSkills) and listed with `GET /api/v2/skills`. Only
with `course_skills_endpoint` on does the sandbox also serve a link
`GET|PUT /api/v2/courses/{courseId}/skills` (`[{skillId, name}]` / `{skillIds: [...]}`,
replace-all, shaped like the course-tags endpoints): a platform that has one. Off, those
paths answer 404 like any route the API does not have.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from learnsync.sandboxes.faults import with_faults
from learnsync.sandboxes.ratelimit import TokenBucket

from .bulk import BulkRunner, validated
from .config import Lms360SandboxConfig
from .errors import ApiFault, business, flat
from .paging import Page, paginate
from .recorder import RecordingMiddleware, TrafficRecorder
from .schemas import (
    CATALOG_CONTENT_TYPES,
    LIBRARY_CONTENT_TYPES,
    ArchiveBody,
    CatalogItem,
    CourseSkillsBody,
    CourseTagsBody,
    ExternalCourseDTO,
    ExternalIdRef,
    ImportExternalStatisticsDTO,
    IntegrationCreate,
    IntegrationPatch,
    LibraryItem,
    SkillDeleteDTO,
    SkillUpsertDTO,
    TagBody,
    describe,
)
from .store import Lms360Store

API = "/api/v2"
MAX_UPSERT = 10_000
MAX_ARCHIVE = 1_000
MAX_STATS = 10_000
MAX_SHARING = 20_000
MAX_SKILLS = 10_000
STRING_OPS = {"eq", "ne", "in", "nin"}
DATE_OPS = {"lt", "gte"}


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise business(400, "invalidInput", "the request body is not valid JSON") from None


def parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise business(400, "invalidInput", describe(exc)) from None


def bulk_input(data: Any, limit: int) -> list[Any]:
    """The `{"input": [...]}` envelope of every bulk endpoint."""
    if not isinstance(data, dict) or not isinstance(data.get("input"), list):
        raise business(400, "invalidInput", "input must be an array")
    if len(data["input"]) > limit:
        raise business(400, "inputTooLong", f"input must contain at most {limit} elements")
    return data["input"]


def listing(page: Page) -> JSONResponse:
    headers = {"Link": page.link} if page.link else {}
    return JSONResponse(page.items, headers=headers)


def accepted(request: Request, op_id: str) -> Response:
    base = str(request.base_url).rstrip("/")
    return Response(status_code=202, headers={"Location": f"{base}{API}/bulk/operations/{op_id}"})


def _by_id(item: dict[str, Any]) -> str:
    return str(item["_id"])


def create_app(config: Lms360SandboxConfig | None = None) -> Any:
    """Build the sandbox; the returned ASGI app (fault-injection wrapper) exposes `.state.store`."""
    config = config or Lms360SandboxConfig()
    store = Lms360Store(config)
    runner = BulkRunner(store)
    # per-platform budgets, GET 50/s and writes 10/s (docs/lms360.md: Limits); an empty bucket answers 429 at once
    reads = TokenBucket(config.get_requests_per_second)
    writes = TokenBucket(config.write_requests_per_second)

    app = FastAPI(title="360Learning API v2 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.config = config
    app.state.bulk = runner

    @app.exception_handler(ApiFault)
    async def _fault(_: Request, exc: ApiFault) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": {"code": "invalidInput", "message": str(exc.errors()[:3])}}, status_code=400)

    def route_key(request: Request) -> str:
        route = request.scope.get("route")
        return f"{request.method} {getattr(route, 'path', request.url.path)}"

    async def count_only(request: Request) -> None:
        store.count_request(route_key(request))
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)

    async def gate(request: Request) -> None:
        key = route_key(request)
        store.count_request(key)
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)
        store.check_token(request.headers.get("authorization"))
        if request.headers.get("360-api-version") != "v2.0":
            raise business(400, "invalidApiVersion", "header 360-api-version must be v2.0")
        is_bulk_submit = key.split(" ", 1)[1].startswith(f"{API}/bulk/") and request.method != "GET"
        if config.rate_limits_enabled and not is_bulk_submit:
            bucket = reads if request.method == "GET" else writes
            if not bucket.take():
                raise flat(429, "tooManyRequests", {"Retry-After": "1"} if config.send_retry_after else None)

    auth = APIRouter(prefix=API, dependencies=[Depends(count_only)])
    api = APIRouter(prefix=API, dependencies=[Depends(gate)])

    # ---- token (docs/lms360.md: Hosts and authentication) ----------------------------------

    @auth.post("/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None  # form-encoded or garbage: invalid_request below
        return JSONResponse(store.issue_token(body))

    # ---- integrations (docs/lms360.md: Integrations) ---------------------------------------

    @api.post("/integrations")
    async def create_integration(request: Request) -> JSONResponse:
        data = parse(IntegrationCreate, await read_json(request))
        return JSONResponse(store.create_integration(data), status_code=201)

    @api.get("/integrations")
    async def list_integrations(request: Request) -> JSONResponse:
        allowed = {"externalPlatform": STRING_OPS}
        return listing(paginate(request, store.list_integrations, allowed, 100, _by_id))

    @api.patch("/integrations/{integrationId}")
    async def patch_integration(integrationId: str, request: Request) -> JSONResponse:
        data = parse(IntegrationPatch, await read_json(request))
        answer = store.patch_integration(integrationId, data)
        answer.pop("_id", None)  # BaseIntegrationDTO: the fields, without the id
        return JSONResponse(answer)

    @api.delete("/integrations/{integrationId}")
    async def delete_integration(integrationId: str) -> Response:
        store.delete_integration(integrationId)
        return Response(status_code=204)

    @api.get("/integrations/{integrationId}/courses/{externalId}")
    async def get_external_course(integrationId: str, externalId: str) -> JSONResponse:
        return JSONResponse(store.external_course(integrationId, externalId))

    # ---- external courses and stats (sections 4, 5) -----------------------------------

    @api.put("/bulk/integrations/{integrationId}/courses")
    async def upsert_courses(integrationId: str, request: Request) -> Response:
        store.require_integration(integrationId)
        items = bulk_input(await read_json(request), MAX_UPSERT)
        def upsert(dto: ExternalCourseDTO) -> str:
            course_id = store.upsert_course(integrationId, dto)
            return f"ext-{course_id[::-1]}" if config.course_resource_ids == "opaque" else course_id

        handler = validated(ExternalCourseDTO, upsert)
        return accepted(request, runner.submit("importExternalCourses", items, handler))

    @api.delete("/bulk/integrations/{integrationId}/courses")
    async def archive_courses(integrationId: str, request: Request) -> Response:
        store.require_integration(integrationId)
        items = bulk_input(await read_json(request), MAX_ARCHIVE)
        handler = validated(ExternalIdRef, lambda ref: store.archive_external(integrationId, ref.externalId))
        return accepted(request, runner.submit("archiveExternalCourses", items, handler))

    @api.post("/bulk/integrations/{integrationId}/stats")
    async def import_stats(integrationId: str, request: Request) -> Response:
        store.require_integration(integrationId)
        items = bulk_input(await read_json(request), MAX_STATS)
        handler = validated(ImportExternalStatisticsDTO, lambda dto: store.import_stat(integrationId, dto))
        return accepted(request, runner.submit("importExternalStatistics", items, handler))

    # ---- bulk operations (docs/lms360.md: Bulk operations) ---------------------------------

    @api.get("/bulk/operations")
    async def list_bulk_operations(request: Request) -> JSONResponse:
        allowed = {"createdAt": DATE_OPS, "status": {"eq"}, "type": {"eq"}}
        return listing(paginate(request, store.list_bulk_operations, allowed, 20, _by_id))

    @api.get("/bulk/operations/{bulkOperationId}")
    async def get_bulk_operation(bulkOperationId: str) -> JSONResponse:
        return JSONResponse(store.bulk_operation(bulkOperationId))

    @api.get("/bulk/operations/{bulkOperationId}/results")
    async def get_bulk_results(bulkOperationId: str) -> JSONResponse:
        return JSONResponse(store.bulk_results(bulkOperationId))

    # ---- courses (sections 4.4, 4.5, 5.5) ---------------------------------------------

    @api.get("/courses")
    async def list_courses(request: Request) -> JSONResponse:
        allowed = {
            "type": {"eq"}, "status": {"eq"}, "groupId": {"eq"}, "authorId": {"eq"},
            "createdAt": DATE_OPS, "modifiedAt": DATE_OPS, "sourceLang": {"eq", "in"},
        }  # fmt: skip
        return listing(paginate(request, store.list_courses, allowed, 500, _by_id))

    @api.get("/courses/stats")
    async def list_course_stats(request: Request) -> JSONResponse:
        allowed = {"courseId": STRING_OPS, "userId": STRING_OPS, "completedAt": DATE_OPS}
        return listing(paginate(request, store.list_stats, allowed, 500, _by_id))

    @api.get("/courses/{courseId}")
    async def get_course(courseId: str) -> JSONResponse:
        return JSONResponse(store.get_course(courseId))

    @api.put("/courses/{courseId}/archive")
    async def archive_course(courseId: str, request: Request) -> JSONResponse:
        body = parse(ArchiveBody, await read_json(request))
        return JSONResponse(store.set_archived(courseId, body.archived))

    @api.get("/courses/{courseId}/tags")
    async def get_course_tags(courseId: str, request: Request) -> JSONResponse:
        store.course_tags(courseId)  # 404 courseNotFound before any paging
        return listing(paginate(request, lambda _: store.course_tags(courseId), {}, 500, lambda t: t["tagId"]))

    @api.put("/courses/{courseId}/tags")
    async def put_course_tags(courseId: str, request: Request) -> JSONResponse:
        body = parse(CourseTagsBody, await read_json(request))
        return JSONResponse(store.set_course_tags(courseId, body.tagIds))

    if config.course_skills_endpoint:

        @api.get("/courses/{courseId}/skills")
        async def get_course_skills(courseId: str) -> JSONResponse:
            store.require_skills_enabled()
            return JSONResponse(store.course_skills(courseId))

        @api.put("/courses/{courseId}/skills")
        async def put_course_skills(courseId: str, request: Request) -> Response:
            store.require_skills_enabled()
            body = parse(CourseSkillsBody, await read_json(request))
            store.set_course_skills(courseId, body.skillIds)
            return Response(status_code=204)

    # ---- tags and skills (docs/lms360.md: Tags and skills) ---------------------------------

    @api.get("/tags")
    async def list_tags(request: Request) -> JSONResponse:
        return listing(paginate(request, store.list_tags, {"isMain": {"eq"}}, 5000, _by_id))

    @api.post("/tags")
    async def create_tag(request: Request) -> JSONResponse:
        body = parse(TagBody, await read_json(request))
        return JSONResponse(store.create_tag(body), status_code=201)

    @api.get("/tags/{tagId}")
    async def get_tag(tagId: str) -> JSONResponse:
        return JSONResponse(store.get_tag(tagId))

    @api.put("/tags/{tagId}")
    async def replace_tag(tagId: str, request: Request) -> JSONResponse:
        body = parse(TagBody, await read_json(request))
        return JSONResponse(store.replace_tag(tagId, body))

    @api.delete("/tags/{tagId}")
    async def delete_tag(tagId: str) -> Response:
        store.delete_tag(tagId)
        return Response(status_code=204)

    @api.get("/skills")
    async def list_skills(request: Request) -> JSONResponse:
        store.require_skills_enabled()
        allowed = {"status": STRING_OPS, "updatedAt": DATE_OPS}
        return listing(paginate(request, store.list_skills, allowed, 500, _by_id))

    @api.put("/bulk/skills")
    async def upsert_skills(request: Request) -> Response:
        store.require_skills_enabled()
        items = bulk_input(await read_json(request), MAX_SKILLS)
        return accepted(request, runner.submit("upsertSkills", items, validated(SkillUpsertDTO, store.upsert_skill)))

    @api.delete("/bulk/skills")
    async def delete_skills(request: Request) -> Response:
        store.require_skills_enabled()
        items = bulk_input(await read_json(request), MAX_SKILLS)
        handler = validated(SkillDeleteDTO, lambda ref: store.delete_skill(ref.externalId))
        return accepted(request, runner.submit("deleteSkills", items, handler))

    # ---- sharing, groups, users (sections 7, 9) ---------------------------------------

    def share_route(shelf: str, add: bool) -> Any:
        model = CatalogItem if shelf == "catalog" else LibraryItem
        verb = "add" if add else "remove"
        direction = "To" if add else "From"
        op_type = f"{verb}Contents{direction}Groups{shelf.capitalize()}"

        async def submit(request: Request) -> Response:
            items = bulk_input(await read_json(request), MAX_SHARING)
            handler = validated(
                model, lambda it: store.share(shelf, add, it.groupId, it.contentType, it.contentId)
            )
            return accepted(request, runner.submit(op_type, items, handler))

        return submit

    for shelf in ("catalog", "library"):
        api.add_api_route(f"/bulk/groups/{shelf}", share_route(shelf, True), methods=["POST"])
        api.add_api_route(f"/bulk/groups/{shelf}", share_route(shelf, False), methods=["DELETE"])

    @api.get("/groups")
    async def list_groups(request: Request) -> JSONResponse:
        return listing(paginate(request, store.list_groups, {}, 500, _by_id))

    @api.get("/groups/{groupId}")
    async def get_group(groupId: str) -> JSONResponse:
        return JSONResponse(store.get_group(groupId))

    def content_ids_route(shelf: str, types: tuple[str, ...]) -> Any:
        async def content_ids(groupId: str, kind: str, request: Request) -> JSONResponse:
            content_type = kind.removesuffix("-ids")
            if not kind.endswith("-ids") or content_type not in types:
                raise business(404, "notFound", f"unknown {shelf} content type")

            def source(_: Any) -> list[str]:
                return store.group_content_ids(groupId, shelf, content_type)

            return listing(paginate(request, source, {}, 10_000, str))

        return content_ids

    api.add_api_route("/groups/{groupId}/catalog/{kind}", content_ids_route("catalog", CATALOG_CONTENT_TYPES), methods=["GET"])
    api.add_api_route("/groups/{groupId}/library/{kind}", content_ids_route("library", LIBRARY_CONTENT_TYPES), methods=["GET"])

    @api.get("/users")
    async def list_users(request: Request) -> JSONResponse:
        allowed = {"mail": STRING_OPS, "username": STRING_OPS, "status": {"eq", "ne"}}
        return listing(paginate(request, store.list_users, allowed, 500, _by_id))

    @api.get("/users/{userId}")
    async def get_user(userId: str) -> JSONResponse:
        return JSONResponse(store.get_user(userId))

    # ---- read-only inspection (tests, CLI) --------------------------------------------

    @app.get("/_sandbox/courses")
    async def sandbox_courses(integration_id: str | None = None) -> JSONResponse:
        return JSONResponse(store.courses(integration_id))

    @app.get("/_sandbox/attempts")
    async def sandbox_attempts(course_id: str | None = None, mail: str | None = None) -> JSONResponse:
        return JSONResponse(store.attempts(course_id, mail))

    @app.get("/_sandbox/requests")
    async def sandbox_requests() -> JSONResponse:
        return JSONResponse(store.request_counts())

    @app.get("/_sandbox/integrations")
    async def sandbox_integrations() -> JSONResponse:
        return JSONResponse(store.integrations())

    @app.get("/_sandbox/bulk-operations")
    async def sandbox_bulk_operations() -> JSONResponse:
        return JSONResponse(store.bulk_operations())

    # ---- 360-side faults (tests, `learnsync faults lms360`) --------------------------------

    @app.post("/_sandbox/bulk-faults")
    async def sandbox_bulk_faults(request: Request) -> JSONResponse:
        """{"reject": [externalId...], "message": "..."} fails those items in later bulk jobs;
        {"job_error": "..."} ends the next bulk job in status error; {"clear": true} resets."""
        body = await request.json()
        if body.get("clear"):
            store.clear_rejections()
        if body.get("reject"):
            store.reject_items([str(e) for e in body["reject"]], body.get("message") or "internalError: item rejected")
        if body.get("job_error"):
            store.force_next_bulk_error(str(body["job_error"]))
        return JSONResponse({"ok": True})

    app.include_router(auth)
    app.include_router(api)
    if config.record_traffic:
        return with_faults(RecordingMiddleware(app, TrafficRecorder()))
    return with_faults(app)
