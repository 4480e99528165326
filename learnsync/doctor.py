"""`learnsync doctor`: a first-contact check of every host, credential and scope, in seconds.

For 360Learning (each configured platform): a token, an integrations read, a bulk-operations
read. For each provider: a token, then one page of each endpoint learnsync reads, whose records
are compared with what the mapping expects (fields absent, of another type, or not read at all).
It names the state database and the Prefect API in use. Every call is tried once with a short
timeout, so a wrong host fails in seconds with the host named. Each problem is one line with
its fix; any problem makes the command exit non-zero.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from learnsync.core.http import ApiError, RetryPolicy
from learnsync.core.settings import EngineSettings as Settings
from learnsync.providers.settings import env_prefix

CHECK_TIMEOUT_SECONDS = 5.0
ONE_TRY = RetryPolicy(attempts=1, base_wait=0.0, max_wait=0.0, jitter=0.0, retry_after_cap=0.0)


@dataclass
class Finding:
    subject: str  # "360Learning token", "edflex resources page"...
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False  # reported, but not a problem (exit code stays 0)

    def line(self) -> str:
        mark = "ok  " if self.ok and not self.warning else ("warn" if self.warning else "FAIL")
        text = f"{mark} {self.subject}: {self.detail}"
        return text + (f" -> fix: {self.fix}" if self.fix else "")


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def add(self, *findings: Finding) -> None:
        self.findings.extend(findings)


# --- what the mappings read, per provider stream: raw record model and the fields a record needs --

@dataclass(frozen=True)
class StreamShape:
    model: type[BaseModel]
    required: tuple[str, ...]
    records: Callable[[Any], list[Any]]  # JSON body -> raw records


def _key(name: str) -> Callable[[Any], list[Any]]:
    return lambda body: body.get(name, []) if isinstance(body, dict) else []


def _jsonapi_attributes(body: Any) -> list[Any]:
    data = body.get("data", []) if isinstance(body, dict) else []
    return [{"id": d.get("id"), **(d.get("attributes") or {})} for d in data if isinstance(d, dict)]


def _bare(body: Any) -> list[Any]:
    return body if isinstance(body, list) else []


def _shapes(provider: str) -> dict[str, StreamShape]:
    if provider == "udemy":
        from learnsync.providers.udemy import models as udemy_models

        return {
            "courses": StreamShape(udemy_models.UdemyCourse, ("id", "title", "url"), _key("results")),
            "learning_paths": StreamShape(udemy_models.UdemyLearningPath, ("id", "title"), _key("results")),
            "stats": StreamShape(udemy_models.UdemyCourseActivity, ("user_email", "course_id"), _key("results")),
        }
    if provider == "coursera":
        from learnsync.providers.coursera import models as coursera_models

        return {
            "contents": StreamShape(coursera_models.RawContent, ("contentId", "name", "languageCode"), _key("elements")),
            "stats": StreamShape(coursera_models.RawEnrollment, ("contentId",), _key("elements")),
        }
    if provider == "edflex":
        from learnsync.providers.edflex import models as edflex_models

        class Resource(edflex_models.ResourceAttributes):
            id: str | int | None = None

        class Statistic(edflex_models.StatisticAttributes):
            id: str | int | None = None

        return {
            "resources": StreamShape(Resource, ("id", "title", "url"), _jsonapi_attributes),
            "stats": StreamShape(Statistic, ("userEmail", "resourceId"), _jsonapi_attributes),
        }
    if provider == "openclassrooms":
        from learnsync.providers.openclassrooms import models as oc_models

        return {
            "courses": StreamShape(oc_models.RawCourse, ("id", "title", "url"), _bare),
            "stats": StreamShape(oc_models.RawProgress, ("user_email", "course_id"), _bare),
        }
    return {}


def _names(model: type[BaseModel]) -> dict[str, str]:
    """wire name -> field name, aliases included."""
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        out[name] = name
        alias = info.validation_alias
        for choice in getattr(alias, "choices", [alias] if isinstance(alias, str) else []):
            if isinstance(choice, str):
                out[choice] = name
        if info.alias:
            out[info.alias] = name
    return out


def compare_records(subject: str, shape: StreamShape, records: list[Any]) -> list[Finding]:
    """Every difference between a page of raw records and what the mapping reads."""
    rows = [r for r in records if isinstance(r, dict)]
    if not rows:
        return [Finding(subject, True, "the page is empty: no field could be compared", warning=True)]
    names = _names(shape.model)
    present = {names[k] for r in rows for k, v in r.items() if k in names and v is not None}
    findings: list[Finding] = []
    for needed in shape.required:
        if needed not in present:
            findings.append(Finding(
                subject, False, f"field {needed!r} is absent from all {len(rows)} records; the mapping needs it",
                "the tenant answers another shape: compare it with docs/providers/ and adapt the endpoint settings",
            ))  # fmt: skip
    unread = sorted({k for r in rows for k in r} - set(names))
    if unread:
        findings.append(Finding(subject, True, f"fields the mapping does not read: {', '.join(unread[:20])}", warning=True))
    absent = sorted(set(shape.model.model_fields) - present - set(shape.required))
    if absent:
        findings.append(Finding(subject, True, f"fields the mapping reads that this page lacks: {', '.join(absent[:20])}", warning=True))
    wrong: dict[str, int] = {}
    for row in rows:
        try:
            shape.model.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors(include_input=False):
                wrong[str(err["loc"][0]) if err["loc"] else "record"] = wrong.get(str(err["loc"][0]) if err["loc"] else "record", 0) + 1
    for name, n in sorted(wrong.items()):
        findings.append(Finding(
            subject, False, f"field {name!r} has an unexpected type in {n} of {len(rows)} records",
            "those records are quarantined by the sync; check the field against docs/providers/",
        ))  # fmt: skip
    if not findings:
        findings.append(Finding(subject, True, f"{len(rows)} records match what the mapping reads"))
    return findings


# --- checks ---------------------------------------------------------------------------------------


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _failure(subject: str, exc: BaseException, url: str, setting_prefix: str, scope: str | None = None) -> Finding:
    """One line saying what failed and what to change."""
    host = _host(getattr(exc, "url", None) or url)
    if isinstance(exc, ApiError):
        if exc.status == 0:
            return Finding(subject, False, f"cannot reach {host} ({exc.code})", f"check {setting_prefix}__BASE_URL and the network")
        if exc.code in ("invalid_client", "invalid_grant", "unauthorized_client") or exc.status == 401:
            return Finding(subject, False, f"{host} refused the credentials ({exc.code})",
                           f"check {setting_prefix}__CLIENT_ID and {setting_prefix}__CLIENT_SECRET")  # fmt: skip
        if exc.status == 403:
            need = f" (needs scope {scope})" if scope else ""
            return Finding(subject, False, f"{host} answered 403 {exc.code}{need}",
                           "grant the API client that scope, or check the organisation id and the API prefix")  # fmt: skip
        if exc.status == 404:
            return Finding(subject, False, f"{host} has no {exc.url.replace(host, '')} (404 {exc.code})",
                           f"check {setting_prefix}__BASE_URL and the endpoint path settings")  # fmt: skip
        return Finding(subject, False, f"{host} answered {exc.status} {exc.code}: {exc.message[:120]}", "see the provider's status page")
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return Finding(subject, False, f"{host} did not answer within {CHECK_TIMEOUT_SECONDS:.0f} s", f"check {setting_prefix}__BASE_URL")
    return Finding(subject, False, f"{type(exc).__name__}: {str(exc)[:160]}", f"check the {setting_prefix}__* settings")


async def _timed(call: Any) -> Any:
    return await asyncio.wait_for(call, timeout=CHECK_TIMEOUT_SECONDS * 2)


async def check_lms360(settings: Settings, platform: str = "default") -> list[Finding]:
    from learnsync.flows.runtime import platform_settings
    from learnsync.lms360.client import API, Lms360Client

    cfg = platform_settings(settings, platform).model_copy(
        update={"retry": ONE_TRY, "timeout_seconds": min(CHECK_TIMEOUT_SECONDS, platform_settings(settings, platform).timeout_seconds)}
    )
    prefix = "LEARNSYNC_LMS360" if platform in ("default", settings.lms360.platform) else f"LEARNSYNC_PLATFORMS ({platform})"
    name = f"360Learning {platform}"
    findings: list[Finding] = []
    async with Lms360Client(cfg) as lms:
        try:
            await _timed(lms._tokens.token())
            findings.append(Finding(f"{name} token", True, f"{_host(cfg.base_url)} issued a token"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            return [_failure(f"{name} token", exc, cfg.base_url, prefix)]
        checks = (
            ("integrations read", "integrations:read", lambda: lms.list_integrations()),
            ("bulk-operations read", "bulkOperations:read", lambda: lms._request("GET", f"{API}/bulk/operations")),
        )
        for label, scope, call in checks:
            try:
                await _timed(call())
                findings.append(Finding(f"{name} {label}", True, f"scope {scope} granted"))
            except Exception as exc:  # noqa: BLE001
                findings.append(_failure(f"{name} {label}", exc, cfg.base_url, prefix, scope))
    return findings


async def check_provider(settings: Settings, provider: str, options: dict[str, Any] | None = None) -> list[Finding]:
    from learnsync.providers.base import DateWindow
    from learnsync.providers.kit.client import ProviderClient as KitClient
    from learnsync.providers.registry import get_provider

    spec = get_provider(provider)
    base = settings.provider(provider)
    cfg = base.model_copy(update={"retry": ONE_TRY, "timeout_seconds": min(CHECK_TIMEOUT_SECONDS, base.timeout_seconds)})
    prefix = env_prefix(provider).rstrip("_")
    client = spec.make_client(cfg)
    bodies: dict[str, Any] = {}

    async def keep_body(response: httpx.Response) -> None:
        if response.request.method == "GET" and response.is_success:
            await response.aread()
            try:
                bodies["last"] = response.json()
            except ValueError:
                bodies["last"] = None

    kit = client if isinstance(client, KitClient) else None  # a client of its own may keep its HTTP to itself
    if kit is not None:
        kit.http.event_hooks["response"].append(keep_body)
    shapes = _shapes(provider)
    findings: list[Finding] = []
    try:
        tokens = kit.tokens if kit is not None else None
        if tokens is not None:
            try:
                await _timed(tokens.token())
                token_url = tokens.url
                where = _host(token_url) if token_url.startswith(("http://", "https://")) else _host(cfg.base_url) + token_url
                findings.append(Finding(f"{provider} token", True, f"{where} issued a token"))
            except Exception as exc:  # noqa: BLE001
                return [_failure(f"{provider} token", exc, cfg.base_url, prefix)]
        all_options = {**spec.default_options, **{k: True for k in spec.default_options}, **(options or {})}
        reads: list[tuple[str, Any]] = [(s, lambda s=s: client.fetch_catalog_page(s, None)) for s in spec.catalog_streams(all_options)]
        window = DateWindow()  # one page only: the most recent activity the endpoint gives first
        reads.append(("stats", lambda: client.fetch_stats_page(window, None)))
        for stream, read in reads:
            subject = f"{provider} {stream} page"
            bodies.pop("last", None)
            try:
                page = await _timed(read())
            except Exception as exc:  # noqa: BLE001
                findings.append(_failure(subject, exc, cfg.base_url, prefix))
                continue
            shape = shapes.get(stream)
            raw = shape.records(bodies.get("last")) if shape is not None and "last" in bodies else None
            if shape is None:
                findings.append(Finding(subject, True, f"read {len(page.records or [])} records"))
            else:
                findings.extend(compare_records(subject, shape, raw if raw is not None else list(page.records or [])))
    finally:
        await client.aclose()
    return findings


def check_state_db(settings: Settings) -> Finding:
    from sqlalchemy import create_engine, text

    from learnsync.statestore.store import StateStore

    url = settings.database_url or StateStore.default_url()
    shown = _redact(url)
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return Finding("state database", False, f"{shown}: {type(exc).__name__}", "check LEARNSYNC_DATABASE_URL")
    return Finding("state database", True, shown)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def check_prefect() -> Finding:
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        try:
            from prefect.settings import PREFECT_API_URL

            api = PREFECT_API_URL.value()
        except Exception:  # noqa: BLE001
            api = None
    if not api:
        return Finding("Prefect API", True, "none configured: flows run against a temporary local server (PREFECT_API_URL unset)", warning=True)
    try:
        response = httpx.get(api.rstrip("/") + "/health", timeout=CHECK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except Exception as exc:  # noqa: BLE001
        return Finding("Prefect API", False, f"{api} did not answer ({type(exc).__name__})", "start the Prefect server or fix PREFECT_API_URL")
    return Finding("Prefect API", True, api)


async def diagnose(settings: Settings, providers: list[str], platform: str = "default") -> Diagnosis:
    """All checks; 360Learning and the providers are checked concurrently."""
    diagnosis = Diagnosis()
    diagnosis.add(check_state_db(settings), check_prefect())
    results = await asyncio.gather(
        check_lms360(settings, platform), *(check_provider(settings, p) for p in providers), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            diagnosis.add(Finding("doctor", False, f"{type(result).__name__}: {result}", "report this as a bug"))
        else:
            diagnosis.add(*result)
    return diagnosis
