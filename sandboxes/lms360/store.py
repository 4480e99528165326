"""In-memory state of one fake 360Learning platform, guarded by one lock.

Routes (event-loop thread), bulk workers (same loop) and tests (main thread) all go through
these methods. Synchronous endpoints get `ApiFault`s; bulk items get `ItemError`s. The
inspection methods at the bottom return plain JSON-ready data for tests and `/_sandbox/*`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

from .config import Lms360SandboxConfig
from .errors import ItemError, business, flat
from .ids import ObjectIdFactory, access_token, iso, now, skill_id, user_id_for
from .paging import Filters, matches
from .schemas import (
    ExternalCourseDTO,
    ImportExternalStatisticsDTO,
    IntegrationCreate,
    IntegrationPatch,
    SkillUpsertDTO,
    TagBody,
)

ACTIVE_BULK_STATUSES = ("pending", "queued", "running")
_INTEGRATION_FIELDS = (
    "externalPlatform", "groupId", "authorId", "defaultCompletion", "defaultProgress",
    "noGroupPropagation", "externalPlatformLogoUrl", "externalPlatformUnicolorLogoUrl",
)  # fmt: skip
_TOKEN_FIELDS = {"grant_type", "client_id", "client_secret", "user_id", "company_id"}


def _num(value: float | None) -> float | int | None:
    # Keep integral numbers integral on the wire (50, not 50.0).
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


class Lms360Store:
    """All platform data plus request accounting; every public method takes the lock."""

    def __init__(self, config: Lms360SandboxConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._ids = ObjectIdFactory()
        self._tokens: dict[str, float] = {}
        self._requests: Counter[str] = Counter()
        self._forced_bulk_error: str | None = None
        self._groups: dict[str, dict[str, Any]] = {}
        self._catalog: dict[str, dict[tuple[str, str], None]] = {}
        self._library: dict[str, dict[tuple[str, str], None]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._user_by_mail: dict[str, str] = {}
        self._integrations: dict[str, dict[str, Any]] = {}
        self._courses: dict[str, dict[str, Any]] = {}
        self._course_by_ext: dict[tuple[str, str], str] = {}
        self._attempts: dict[str, dict[str, Any]] = {}
        self._attempts_by_pair: dict[tuple[str, str], list[str]] = {}
        self._tags: dict[str, dict[str, Any]] = {}
        self._skills: dict[str, dict[str, Any]] = {}
        self._skill_by_ext: dict[str, str] = {}
        self._bulk: dict[str, dict[str, Any]] = {}
        self._bulk_results: dict[str, list[dict[str, Any]]] = {}
        self._seed()

    def _seed(self) -> None:
        root = self.config.groups[0] if self.config.groups else None
        for n, group_id in enumerate(self.config.groups, start=1):
            group = {"_id": group_id, "name": f"Sandbox group {n}", "public": False}
            if group_id != root:
                group["parentId"] = root
            self._groups[group_id] = group
            self._catalog[group_id] = {}
            self._library[group_id] = {}
        for n, author_id in enumerate(self.config.authors, start=1):
            self._new_user(f"author{n}@sandbox.example.com", author_id, role="editor")
        for mail in self.config.users:
            self._new_user(mail, user_id_for(mail), role="learner")

    def _new_user(self, mail: str, user_id: str, role: str) -> str:
        local = mail.split("@", 1)[0]
        self._users[user_id] = {
            "_id": user_id,
            "mail": mail,
            "username": local,
            "status": "active",
            "lang": "en",
            "firstName": local.capitalize(),
            "lastName": "Sandbox",
            "primaryGroupId": self.config.groups[0] if self.config.groups else None,
            "_role": role,
        }
        self._user_by_mail[mail.lower()] = user_id
        return user_id

    # ---- auth -------------------------------------------------------------------------

    def issue_token(self, body: Any) -> dict[str, Any]:
        """POST /oauth2/token with the documented error set (docs/lms360.md: Hosts and authentication)."""
        if not isinstance(body, dict) or set(body) - _TOKEN_FIELDS:
            raise flat(400, "invalid_request")
        if not all(isinstance(body.get(k), str) and body.get(k) for k in ("grant_type", "client_id", "client_secret")):
            raise flat(400, "invalid_request")
        if body["grant_type"] != "client_credentials":
            raise flat(400, "unsupported_grant_type")
        if self.config.clients.get(body["client_id"]) != body["client_secret"]:
            raise flat(401, "invalid_client")
        with self._lock:
            if "user_id" in body and body["user_id"] not in self._users:
                raise flat(400, "non_existing_user")
            token = access_token()
            self._tokens[token] = time.monotonic() + self.config.token_ttl_seconds
        ttl = self.config.token_ttl_seconds
        expires_in: Any = int(ttl) if float(ttl).is_integer() else ttl
        if self.config.expires_in_as_string:
            expires_in = str(expires_in)
        return {"token_type": "Bearer", "access_token": token, "expires_in": expires_in}

    def check_token(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.monotonic():
            raise flat(401, "invalid_token")

    def issued_tokens(self) -> list[str]:
        """Every access token handed out (tests grep run output for them)."""
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> None:
        """Make every issued token expired (next call gets 401 invalid_token)."""
        with self._lock:
            self._tokens = {t: 0.0 for t in self._tokens}

    # ---- request accounting -----------------------------------------------------------

    def count_request(self, key: str) -> None:
        with self._lock:
            self._requests[key] += 1

    def request_counts(self) -> dict[str, int]:
        """Requests received per 'METHOD /route/{template}' (rejected ones included)."""
        with self._lock:
            return dict(self._requests)

    def reset_request_counts(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- groups and users -------------------------------------------------------------

    def list_groups(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(g) for g in self._groups.values() if matches(g, filters)]

    def get_group(self, group_id: str) -> dict[str, Any]:
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                raise business(404, "groupNotFound", "group not found")
            return dict(group)

    def group_content_ids(self, group_id: str, shelf: str, content_type: str) -> list[str]:
        with self._lock:
            if group_id not in self._groups:
                raise business(404, "groupNotFound", "group not found")
            contents = (self._catalog if shelf == "catalog" else self._library)[group_id]
            return [cid for (ctype, cid) in contents if ctype == content_type]

    def add_user(self, mail: str) -> str:
        """Add a learner to the directory; returns its userId."""
        with self._lock:
            existing = self._user_by_mail.get(mail.lower())
            return existing or self._new_user(mail, user_id_for(mail), role="learner")

    def list_users(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            return [
                _public(u) for u in self._users.values() if matches(u, filters, casefold=("mail", "username"))
            ]

    def get_user(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                raise business(404, "userNotFound", "user not found")
            return _public(user)

    # ---- integrations -----------------------------------------------------------------

    def _integration(self, integration_id: str) -> dict[str, Any]:
        integration = self._integrations.get(integration_id)
        if integration is None or not integration["_active"]:
            raise business(404, "integrationNotFound", "integration not found")
        return integration

    def require_integration(self, integration_id: str) -> None:
        with self._lock:
            self._integration(integration_id)

    def _check_integration_refs(self, group_id: str | None, author_id: str | None) -> None:
        if group_id is not None and group_id not in self._groups:
            raise business(404, "groupNotFound", "group not found")
        if author_id is not None and author_id not in self._users:
            raise business(404, "userNotFound", "author not found")

    def _check_platform_name(self, name: str, group_id: str, exclude: str | None = None) -> None:
        if name.lower() in {n.lower() for n in self.config.reserved_platform_names}:
            raise business(400, "reservedPlatformName", "this external platform name is reserved")
        for other in self._integrations.values():
            if other["_active"] and other["_id"] != exclude and other["groupId"] == group_id and other["externalPlatform"] == name:
                raise business(400, "duplicateExternalPlatform", "externalPlatform already used in this group")

    def create_integration(self, data: IntegrationCreate) -> dict[str, Any]:
        with self._lock:
            self._check_integration_refs(data.groupId, data.authorId)
            self._check_platform_name(data.externalPlatform, data.groupId)
            if sum(1 for i in self._integrations.values() if i["_active"]) >= self.config.max_integrations:
                raise business(400, "integrationsLimitReached", "maximum number of integrations reached")
            integration = {"_id": self._ids.new(), **data.model_dump(exclude_none=True), "_active": True}
            self._integrations[integration["_id"]] = integration
            return _public(integration)

    def list_integrations(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(i) for i in self._integrations.values() if i["_active"] and matches(i, filters)]

    def patch_integration(self, integration_id: str, patch: IntegrationPatch) -> dict[str, Any]:
        with self._lock:
            integration = self._integration(integration_id)
            changes = patch.model_dump(exclude_unset=True, exclude_none=True)
            self._check_integration_refs(changes.get("groupId"), changes.get("authorId"))
            name = changes.get("externalPlatform", integration["externalPlatform"])
            group = changes.get("groupId", integration["groupId"])
            if "externalPlatform" in changes or "groupId" in changes:
                self._check_platform_name(name, group, exclude=integration_id)
            integration.update(changes)
            return _public(integration)

    def delete_integration(self, integration_id: str) -> None:
        """Archive all the integration's courses and make it inactive (docs/lms360.md: Integrations)."""
        with self._lock:
            integration = self._integration(integration_id)
            integration["_active"] = False
            stamp = now()
            for course in self._courses.values():
                if course["integrationId"] == integration_id and course["status"] != "archived":
                    course["status"] = "archived"
                    course["modifiedAt"] = stamp

    # ---- courses ----------------------------------------------------------------------

    def upsert_course(self, integration_id: str, dto: ExternalCourseDTO) -> str:
        """Bulk upsert item: create or fully replace; an archived course stays archived."""
        with self._lock:
            integration = self._integrations.get(integration_id)
            if integration is None or not integration["_active"]:
                raise ItemError("integrationNotFound: the integration no longer exists")
            if dto.authorId is not None and dto.authorId not in self._users:
                raise ItemError("userNotFound: authorId does not match any user")
            fields = dto.model_dump(exclude_none=True, exclude={"externalId"})
            stamp = now()
            course_id = self._course_by_ext.get((integration_id, dto.externalId))
            if course_id is None:
                course_id = self._ids.new()
                self._courses[course_id] = {
                    "courseId": course_id,
                    "integrationId": integration_id,
                    "externalId": dto.externalId,
                    "status": "published",
                    "createdAt": stamp,
                    "tagIds": [],
                    "skillIds": [],
                }
                self._course_by_ext[(integration_id, dto.externalId)] = course_id
                self._catalog[integration["groupId"]][("course", course_id)] = None
                self._library[integration["groupId"]][("course", course_id)] = None
            course = self._courses[course_id]
            course["fields"] = fields  # full replace: omitted optional fields are cleared
            course["modifiedAt"] = stamp
            return course_id

    def archive_external(self, integration_id: str, external_id: str) -> str:
        """Bulk archive item (docs/lms360.md: Archive and restore); archiving twice is harmless."""
        with self._lock:
            if integration_id not in self._integrations or not self._integrations[integration_id]["_active"]:
                raise ItemError("integrationNotFound: the integration no longer exists")
            course_id = self._course_by_ext.get((integration_id, external_id))
            if course_id is None:
                raise ItemError("courseNotFound: no course with this externalId in the integration")
            course = self._courses[course_id]
            if course["status"] != "archived":
                course["status"] = "archived"
                course["modifiedAt"] = now()
            return course_id

    def _course(self, course_id: str) -> dict[str, Any]:
        course = self._courses.get(course_id)
        if course is None:
            raise business(404, "courseNotFound", "course not found")
        return course

    def external_course(self, integration_id: str, external_id: str) -> dict[str, Any]:
        """GET /integrations/{id}/courses/{externalId}: the upsert fields + courseId/authorId."""
        with self._lock:
            integration = self._integration(integration_id)
            course_id = self._course_by_ext.get((integration_id, external_id))
            if course_id is None:  # the published error for an externalId the integration does not hold
                raise business(400, "courseNotBelongToIntegration", "the externalId does not belong to this integration")
            course = self._courses[course_id]
            view = {"externalId": external_id, **course["fields"]}
            view.setdefault("contentType", "course")
            view.setdefault("translations", [])
            view["authorId"] = course["fields"].get("authorId", integration["authorId"])
            view["courseId"] = course_id
            return view

    def _course_dto(self, course: dict[str, Any]) -> dict[str, Any]:
        """CourseDTO of the Core API: an external course's own language is its source language."""
        integration = self._integrations[course["integrationId"]]
        fields = course["fields"]
        translations = [
            {
                "lang": t["lang"],
                "published": True,
                "translatorIds": [],
                "translatedFields": {
                    k: v for k, v in (t.get("translatedFields") or {}).items() if k in ("name", "description")
                },
            }
            for t in fields.get("translations") or []
        ]
        dto = {
            "_id": course["courseId"],
            "name": fields["name"],
            "description": fields.get("description"),
            "sourceLang": fields["defaultLang"],
            "defaultLang": fields["defaultLang"],
            "status": course["status"],
            "type": "external",
            "externalPlatform": integration["externalPlatform"],
            "groupId": integration["groupId"],
            "authorId": fields.get("authorId", integration["authorId"]),
            "coAuthorIds": [],
            "translations": translations,
            "duration": fields.get("duration"),
            "createdAt": iso(course["createdAt"]),
            "modifiedAt": iso(course["modifiedAt"]),
        }
        return {k: v for k, v in dto.items() if v is not None}

    def delete_course(self, course_id: str) -> None:
        """What happens behind the integration's back: the course is gone from the platform."""
        with self._lock:
            course = self._courses.pop(course_id)
            self._course_by_ext.pop((course["integrationId"], course["externalId"]), None)
            for shelf in (self._catalog, self._library):
                for contents in shelf.values():
                    contents.pop(("course", course_id), None)

    def edit_course(self, course_id: str, **fields: Any) -> None:
        """An admin edits an external course's fields in 360Learning."""
        with self._lock:
            course = self._course(course_id)
            course["fields"] = {**course["fields"], **fields}
            course["modifiedAt"] = now()

    def get_course(self, course_id: str) -> dict[str, Any]:
        with self._lock:
            return self._course_dto(self._course(course_id))

    def list_courses(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            dtos = [self._course_dto(c) for c in self._courses.values()]
        return [d for d in dtos if matches(d, filters)]

    def set_archived(self, course_id: str, archived: bool) -> dict[str, Any]:
        """PUT /courses/{id}/archive; restoring a course of an inactive integration fails."""
        with self._lock:
            course = self._course(course_id)
            if not archived and not self._integrations[course["integrationId"]]["_active"]:
                raise business(400, "integrationInactive", "external course linked to an inactive integration")
            wanted = "archived" if archived else "published"
            if course["status"] != wanted:
                course["status"] = wanted
                course["modifiedAt"] = now()
            return self._course_dto(course)

    # ---- statistics -------------------------------------------------------------------

    def import_stat(self, integration_id: str, dto: ImportExternalStatisticsDTO) -> str:
        """Bulk stats item with the attempt semantics (docs/lms360.md: Statistics); returns the attempt id."""
        with self._lock:
            if integration_id not in self._integrations or not self._integrations[integration_id]["_active"]:
                raise ItemError("integrationNotFound: the integration no longer exists")
            course_id = self._resolve_course(integration_id, dto)
            user_id = self._resolve_user(dto)
            if dto.lastActivityAt < dto.firstActivityAt:
                raise ItemError("invalidDates: lastActivityAt is before firstActivityAt")
            first = dto.firstActivityAt
            existing = [self._attempts[a] for a in self._attempts_by_pair.get((course_id, user_id), [])]

            def end(attempt: dict[str, Any]) -> datetime:
                return attempt["completedAt"] or attempt["lastActivityAt"]

            if dto.forceNew or not existing or all(first > end(a) for a in existing):
                return self._new_attempt(course_id, user_id, dto)
            # Overlapping attempts: open ones are updated, completed ones are never touched.
            overlapping = [a for a in existing if first <= end(a)]
            open_ones = [a for a in overlapping if a["completedAt"] is None]
            for attempt in open_ones:
                self._apply_stat(attempt, dto)
            return (open_ones or overlapping)[0]["_id"]

    def _resolve_course(self, integration_id: str, dto: ImportExternalStatisticsDTO) -> str:
        ident = dto.courseIdentifier
        if ident.type == "externalId":
            course_id = self._course_by_ext.get((integration_id, ident.value))
            if course_id is None:
                raise ItemError("courseNotFound: no course with this externalId in the integration")
            return course_id
        course = self._courses.get(ident.value)
        if course is None:
            raise ItemError("courseNotFound: no course with this internalId")
        if course["integrationId"] != integration_id:
            raise ItemError("courseNotBelongToIntegration: the course belongs to another integration")
        return ident.value

    def _resolve_user(self, dto: ImportExternalStatisticsDTO) -> str:
        ident = dto.userIdentifier
        user_id = self._user_by_mail.get(ident.value.lower()) if ident.type == "mail" else ident.value
        if user_id is None or user_id not in self._users:
            raise ItemError("userNotFound: no user matches userIdentifier")
        return user_id

    def _new_attempt(self, course_id: str, user_id: str, dto: ImportExternalStatisticsDTO) -> str:
        attempt: dict[str, Any] = {
            "_id": self._ids.new(),
            "courseId": course_id,
            "userId": user_id,
            "firstActivityAt": dto.firstActivityAt,
            "completedAt": None,
            "pathId": None,
            "pathSessionId": None,
            "versionNumber": 1,
        }
        self._apply_stat(attempt, dto)
        self._attempts[attempt["_id"]] = attempt
        self._attempts_by_pair.setdefault((course_id, user_id), []).append(attempt["_id"])
        return attempt["_id"]

    @staticmethod
    def _apply_stat(attempt: dict[str, Any], dto: ImportExternalStatisticsDTO) -> None:
        attempt["firstActivityAt"] = min(attempt["firstActivityAt"], dto.firstActivityAt)
        attempt["lastActivityAt"] = dto.lastActivityAt
        attempt["progress"] = _num(dto.progress)
        attempt["timeSpent"] = _num(dto.timeSpent)
        for optional in ("score", "result", "lang"):
            value = getattr(dto, optional)
            if value is not None:
                attempt[optional] = _num(value) if optional == "score" else value
        if dto.progress >= 100:
            # Progress 100 completes the attempt; lastActivityAt is the completion date.
            attempt["completedAt"] = dto.lastActivityAt

    def _attempt_view(self, attempt: dict[str, Any]) -> dict[str, Any]:
        """CourseStatDTO: integer progress and score, the attempt's language, no nulls."""
        view = {k: v for k, v in attempt.items() if v is not None}
        for key in ("firstActivityAt", "lastActivityAt", "completedAt"):
            if attempt.get(key) is not None:
                view[key] = iso(attempt[key])
        view["progress"] = int(round(attempt["progress"]))
        if "score" in view:
            view["score"] = int(round(view["score"]))
        if "lang" not in view:
            course = self._courses.get(attempt["courseId"])
            view["lang"] = course["fields"]["defaultLang"] if course else "en"
        return view

    def list_stats(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            views = [self._attempt_view(a) for a in self._attempts.values()]
        return [v for v in views if matches(v, filters)]

    # ---- sharing ----------------------------------------------------------------------

    def share(self, shelf: str, add: bool, group_id: str, content_type: str, content_id: str) -> str:
        """Bulk catalog/library item (docs/lms360.md: Sharing); removing something absent is harmless."""
        with self._lock:
            if group_id not in self._groups:
                raise ItemError("groupNotFound: group not found")
            if content_type == "course" and content_id not in self._courses:
                raise ItemError("courseNotFound: course not found")
            if content_type != "course":
                raise ItemError(f"contentNotFound: no {content_type} with this id")  # no paths here
            contents = (self._catalog if shelf == "catalog" else self._library)[group_id]
            if add:
                contents[(content_type, content_id)] = None
            else:
                contents.pop((content_type, content_id), None)
            return content_id

    # ---- tags -------------------------------------------------------------------------

    def _tag(self, tag_id: str) -> dict[str, Any]:
        tag = self._tags.get(tag_id)
        if tag is None:
            raise business(404, "tagNotFound", "tag not found")
        return tag

    def _check_tag_name(self, name: str, exclude: str | None = None) -> None:
        if any(t["name"].lower() == name.lower() and t["_id"] != exclude for t in self._tags.values()):
            raise business(400, "tagNameNotAvailable", "a tag with this name already exists")

    def list_tags(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self._tags.values() if matches(t, filters)]

    def create_tag(self, body: TagBody, source: str = "native") -> dict[str, Any]:
        with self._lock:
            self._check_tag_name(body.name)
            tag = {"_id": self._ids.new(), **body.model_dump(exclude_none=True), "source": source}
            self._tags[tag["_id"]] = tag
            return dict(tag)

    def get_tag(self, tag_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._tag(tag_id))

    def replace_tag(self, tag_id: str, body: TagBody) -> dict[str, Any]:
        with self._lock:
            tag = self._tag(tag_id)
            self._check_tag_name(body.name, exclude=tag_id)
            source = tag["source"]
            tag.clear()
            tag.update({"_id": tag_id, **body.model_dump(exclude_none=True), "source": source})
            return dict(tag)

    def delete_tag(self, tag_id: str) -> None:
        with self._lock:
            self._tag(tag_id)
            del self._tags[tag_id]
            for course in self._courses.values():
                if tag_id in course["tagIds"]:
                    course["tagIds"].remove(tag_id)

    def course_tags(self, course_id: str) -> list[dict[str, Any]]:
        with self._lock:
            course = self._course(course_id)
            return [{"tagId": t, "source": self._tags[t]["source"]} for t in course["tagIds"]]

    def set_course_tags(self, course_id: str, tag_ids: list[str]) -> list[str]:
        """PUT /courses/{id}/tags replaces ALL tags, manual ones included; answers the new tag ids."""
        with self._lock:
            course = self._course(course_id)
            for tag_id in tag_ids:
                self._tag(tag_id)
            course["tagIds"] = list(dict.fromkeys(tag_ids))
            return list(course["tagIds"])

    def add_manual_tag(self, course_id: str, name: str, source: str = "native") -> str:
        """What an admin does in the UI: attach a tag (created if new) to a course."""
        with self._lock:
            course = self._course(course_id)
            tag_id = next((t["_id"] for t in self._tags.values() if t["name"].lower() == name.lower()), None)
            if tag_id is None:
                tag_id = self.create_tag(TagBody(name=name, isMain=False), source=source)["_id"]
            if tag_id not in course["tagIds"]:
                course["tagIds"].append(tag_id)
            return tag_id

    # ---- skills -----------------------------------------------------------------------

    def require_skills_enabled(self) -> None:
        if not self.config.skills_enabled:
            raise business(400, "skillSolutionNotEnabled", "the skills solution is not enabled")

    def upsert_skill(self, dto: SkillUpsertDTO) -> str:
        """Bulk upsertSkills item keyed by externalId."""
        with self._lock:
            stamp = now()
            skill_id_ = self._skill_by_ext.get(dto.externalId)
            if skill_id_ is None:
                skill_id_ = skill_id()
                self._skills[skill_id_] = {"_id": skill_id_, "status": "published", "createdAt": iso(stamp)}
                self._skill_by_ext[dto.externalId] = skill_id_
            skill = self._skills[skill_id_]
            # An upsert replaces the skill (description, parents, translations) but keeps its status.
            for key in ("description",):
                skill.pop(key, None)
            skill.update(dto.model_dump(exclude_none=True, exclude={"libraryId", "parentExternalIds", "translations"}))
            skill["parentExternalIds"] = list(dto.parentExternalIds)
            skill["translations"] = [t.model_dump(exclude_none=True) for t in dto.translations or []]
            skill["updatedAt"] = iso(stamp)
            return skill_id_

    def archive_skill(self, skill_id_: str) -> None:
        """What an admin does in the UI: archive a skill of the library."""
        with self._lock:
            self._skills[skill_id_]["status"] = "archived"

    def delete_skill(self, external_id: str) -> str:
        """Bulk deleteSkills item keyed by externalId."""
        with self._lock:
            sid = self._skill_by_ext.pop(external_id, None)
            if sid is None:
                raise ItemError("skillNotFound: no skill with this externalId")
            del self._skills[sid]
            for course in self._courses.values():
                if sid in course["skillIds"]:
                    course["skillIds"].remove(sid)
            return sid

    def _skill_dto(self, skill: dict[str, Any]) -> dict[str, Any]:
        """SkillDTO: parents by id (and externalId), translations, status published|archived."""
        parents = []
        for ext in skill.get("parentExternalIds", []):
            pid = self._skill_by_ext.get(ext)
            if pid is not None:
                parents.append({"_id": pid, "externalId": ext})
        dto = {k: v for k, v in skill.items() if k not in ("parentExternalIds",)}
        dto["parents"] = parents
        dto.setdefault("translations", [])
        return dto

    def list_skills(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            return [self._skill_dto(s) for s in self._skills.values() if matches(s, filters)]

    def skills(self) -> list[dict[str, Any]]:
        """Every skill of the library as GET /skills lists it (tests)."""
        with self._lock:
            return [self._skill_dto(s) for s in self._skills.values()]

    def course_skills(self, course_id: str) -> list[dict[str, Any]]:
        with self._lock:
            course = self._course(course_id)
            return [{"skillId": s, "name": self._skills[s]["name"]} for s in course["skillIds"]]

    def set_course_skills(self, course_id: str, skill_ids: list[str]) -> None:
        with self._lock:
            course = self._course(course_id)
            for sid in skill_ids:
                if sid not in self._skills:
                    raise business(404, "skillNotFound", "skill not found")
            course["skillIds"] = list(dict.fromkeys(skill_ids))

    def add_manual_skill(self, course_id: str, name: str) -> str:
        """What an admin does in the UI: attach a skill (created if new) to a course."""
        with self._lock:
            course = self._course(course_id)
            sid = next((s["_id"] for s in self._skills.values() if s["name"].lower() == name.lower()), None)
            if sid is None:
                dto = SkillUpsertDTO(externalId=f"manual:{name}", name=name, parentExternalIds=[])
                sid = self.upsert_skill(dto)
            if sid not in course["skillIds"]:
                course["skillIds"].append(sid)
            return sid

    # ---- bulk operations --------------------------------------------------------------

    def open_bulk_operation(self, op_type: str) -> str:
        """Register a pending operation, or 429 when 3 are already executing (docs/lms360.md: Limits)."""
        with self._lock:
            active = sum(1 for op in self._bulk.values() if op["status"] in ACTIVE_BULK_STATUSES)
            if active >= self.config.max_concurrent_bulk_operations:
                raise business(
                    429, "bulkOperationsConcurrencyLimitReached", "too many bulk operations are executing; retry later"
                )
            op_id = self._ids.new()
            self._bulk[op_id] = {"_id": op_id, "type": op_type, "createdAt": iso(now()), "status": "pending"}
            return op_id

    def bulk_update(self, op_id: str, **changes: Any) -> None:
        with self._lock:
            self._bulk[op_id].update(changes)

    def bulk_finish(self, op_id: str, results: list[dict[str, Any]], error: str | None = None) -> None:
        with self._lock:
            op = self._bulk[op_id]
            # Completed and errored operations keep their last progress (the published DTOs require it).
            stamp = iso(now())
            op.setdefault("queuedAt", op["createdAt"])
            op.setdefault("startedAt", op["queuedAt"])
            op.setdefault("progress", {"index": max(0, len(results) - 1), "updatedAt": stamp})
            op.update(status="error" if error else "completed", endedAt=stamp)
            if error:
                op["errorMessage"] = error
            self._bulk_results[op_id] = results

    def bulk_operation(self, op_id: str) -> dict[str, Any]:
        with self._lock:
            op = self._bulk.get(op_id)
            if op is None:
                raise business(404, "bulkOperationNotFound", "bulk operation not found")
            return _copy_op(op)

    def bulk_results(self, op_id: str) -> list[dict[str, Any]]:
        with self._lock:
            op = self._bulk.get(op_id)
            if op is None:
                raise business(404, "bulkOperationNotFound", "bulk operation not found")
            if op["status"] not in ("completed", "error"):
                raise business(400, "bulkOperationNotRun", "the bulk operation has not run yet")
            return list(self._bulk_results.get(op_id, []))

    def list_bulk_operations(self, filters: Filters) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy_op(op) for op in self._bulk.values() if matches(op, filters)]

    def reject_items(self, external_ids: list[str], message: str = "internalError: item rejected") -> None:
        """Test hook: bulk items whose externalId (course or stat course) is listed fail with `message`."""
        with self._lock:
            self._rejected_items = {**getattr(self, "_rejected_items", {}), **{e: message for e in external_ids}}

    def clear_rejections(self) -> None:
        with self._lock:
            self._rejected_items = {}
            self._dropped_results: set[str] = set()

    def rejection_for(self, item: Any) -> str | None:
        if not isinstance(item, dict):
            return None
        key = item.get("externalId") or (item.get("courseIdentifier") or {}).get("value")
        with self._lock:
            return getattr(self, "_rejected_items", {}).get(key)

    def drop_results(self, external_ids: list[str]) -> None:
        """Test hook: later bulk jobs leave the items of these externalIds (course or stat course)
        out of their results, as a job whose results lost entries would."""
        with self._lock:
            self._dropped_results = {*getattr(self, "_dropped_results", set()), *external_ids}

    def result_dropped(self, item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        key = item.get("externalId") or (item.get("courseIdentifier") or {}).get("value")
        with self._lock:
            return key in getattr(self, "_dropped_results", set())

    def stall_next_bulk(self, jobs: int = 1) -> None:
        """Test hook: the next `jobs` bulk operations to start stay `running` for ever."""
        with self._lock:
            self._stalls = getattr(self, "_stalls", 0) + jobs

    def take_stall(self) -> bool:
        with self._lock:
            if getattr(self, "_stalls", 0) > 0:
                self._stalls -= 1
                return True
            return False

    def force_next_bulk_error(self, message: str) -> None:
        """Test hook: the next bulk operation to start ends in status `error` with `message`."""
        with self._lock:
            self._forced_bulk_error = message

    def take_forced_bulk_error(self) -> str | None:
        with self._lock:
            message, self._forced_bulk_error = self._forced_bulk_error, None
            return message

    # ---- inspection (tests, /_sandbox) ------------------------------------------------

    def _inspect_course(self, course: dict[str, Any]) -> dict[str, Any]:
        integration = self._integrations[course["integrationId"]]
        key = ("course", course["courseId"])
        return {
            "courseId": course["courseId"],
            "integrationId": course["integrationId"],
            "externalPlatform": integration["externalPlatform"],
            "externalId": course["externalId"],
            "status": course["status"],
            **course["fields"],
            "authorId": course["fields"].get("authorId", integration["authorId"]),
            "tags": [
                {"tagId": t, "name": self._tags[t]["name"], "source": self._tags[t]["source"]} for t in course["tagIds"]
            ],
            "skills": [
                {"skillId": s, "name": self._skills[s]["name"], "externalId": self._skills[s].get("externalId")}
                for s in course["skillIds"]
            ],
            "catalogGroupIds": [g for g, items in self._catalog.items() if key in items],
            "libraryGroupIds": [g for g, items in self._library.items() if key in items],
            "createdAt": iso(course["createdAt"]),
            "modifiedAt": iso(course["modifiedAt"]),
        }

    def courses(self, integration_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                self._inspect_course(c)
                for c in self._courses.values()
                if integration_id is None or c["integrationId"] == integration_id
            ]

    def course_by_external_id(self, integration_id: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            course_id = self._course_by_ext.get((integration_id, external_id))
            return self._inspect_course(self._courses[course_id]) if course_id else None

    def attempts(self, course_id: str | None = None, mail: str | None = None) -> list[dict[str, Any]]:
        """Attempts (API shape plus `mail` of the learner), oldest first."""
        with self._lock:
            user_id = self._user_by_mail.get(mail.lower(), "-") if mail is not None else None
            return [
                {"completedAt": None, "score": None, **self._attempt_view(a), "mail": self._users[a["userId"]]["mail"]}
                for a in self._attempts.values()
                if (course_id is None or a["courseId"] == course_id) and (user_id is None or a["userId"] == user_id)
            ]

    def integrations(self) -> list[dict[str, Any]]:
        """All integrations, deleted ones included (with `active: false`)."""
        with self._lock:
            return [{**_public(i), "active": i["_active"]} for i in self._integrations.values()]

    def bulk_operations(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**_copy_op(op), "resultCount": len(self._bulk_results.get(op["_id"], []))} for op in self._bulk.values()]


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """Drop internal `_x` bookkeeping keys (but keep `_id`)."""
    return {k: v for k, v in record.items() if k == "_id" or not k.startswith("_")}


def _copy_op(op: dict[str, Any]) -> dict[str, Any]:
    copy = dict(op)
    if "progress" in copy:
        copy["progress"] = dict(copy["progress"])
    return copy
