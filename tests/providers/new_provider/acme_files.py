"""The files of a throw-away provider, "acme", as an engineer adding a fifth provider writes them:
its package (settings, client, mapping, spec) and its sandbox. Nothing else in the repository
changes: it is registered by one line (an entry point, or LEARNSYNC_EXTRA_PROVIDERS)."""

SETTINGS = '''
"""Acme Learning: endpoints, paging and schedules."""
from learnsync.core.settings import ProviderSettings

KEY = "acme"
SANDBOX_PORT = 8199


class AcmeSettings(ProviderSettings):
    """LEARNSYNC_ACME__*: one Acme account (client-credentials token)."""

    base_url: str = f"http://127.0.0.1:{SANDBOX_PORT}"
    integration_name: str = "Acme (learnsync)"
'''

CLIENT = '''
"""Acme's REST API: a client-credentials token, page-number paging with a total."""
from typing import Any

from acme_provider import settings as K
from learnsync.providers.base import DateWindow
from learnsync.providers.kit.auth import ClientCredentialsGrant
from learnsync.providers.kit.client import Endpoint, Envelope, PageContext, ProviderClient
from learnsync.providers.kit.paging import PageNumbers

PAGING = PageNumbers("page", "size")


def parse_page(body: Any, ctx: PageContext) -> Envelope:
    return Envelope(body["items"], None if body.get("next") is None else str(body["next"]), body.get("total"))


def records(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    return [dict(item) for item in items], 0


class AcmeClient(ProviderClient):
    key = K.KEY
    settings_model = K.AcmeSettings

    def token_grant(self):
        return "/oauth/token", ClientCredentialsGrant(self.settings.client_id, self.settings.client_secret, style="form")

    def catalog_endpoint(self, stream: str) -> Endpoint:
        return Endpoint("/courses", PAGING, parse_page, records)

    def stats_endpoint(self, window: DateWindow) -> Endpoint:
        params = {k: v.isoformat() for k, v in (("since", window.since), ("until", window.until)) if v is not None}
        return Endpoint("/activity", PAGING, parse_page, records, params=params)
'''

MAPPING = '''
"""Acme's rules: a course is live unless retired; progress is a percentage; time in minutes."""
import pandas as pd

from learnsync.providers.base import CatalogResult, MappingContext, StatsResult, empty_frame, IGNORED_COLUMNS, QUARANTINE_COLUMNS


def map_catalog(raw: pd.DataFrame, stream: str, ctx: MappingContext) -> CatalogResult:
    courses = pd.DataFrame({
        "externalId": raw["id"].astype(str), "name": raw["title"], "launchUrl": raw["url"], "defaultLang": raw["lang"],
        "duration": raw["minutes"] * 60, "subjects": [["General"]] * len(raw), "sources": [[{"name": "Acme"}] for _ in range(len(raw))],
        "_status": raw["retired"].map({True: "archive", False: "keep"}),
        "_tags": [[] for _ in range(len(raw))], "_skills": None, "_extra": [{} for _ in range(len(raw))],
        "_filter_lang": raw["lang"], "_filter_type": None,
    })
    return CatalogResult(courses, empty_frame(QUARANTINE_COLUMNS), empty_frame(IGNORED_COLUMNS))


def map_stats(raw: pd.DataFrame, ctx: MappingContext) -> StatsResult:
    at = pd.to_datetime(raw["at"], utc=True)
    stats = pd.DataFrame({
        "course_external_id": raw["course"].astype(str), "user_email": raw["email"].str.lower(),
        "progress": raw["progress"].astype(int).clip(0, 100), "time_spent_ms": (raw["minutes"] * 60_000).astype("Int64"),
        "first_activity_at": at, "last_activity_at": at,
        "completed_at": at.where(raw["progress"] >= 100),
    })
    return StatsResult(stats, empty_frame(QUARANTINE_COLUMNS), {})
'''

SPEC = '''
"""Acme Learning provider."""
from acme_provider import settings as K
from acme_provider.client import AcmeClient
from acme_provider.mapping import map_catalog, map_stats
from learnsync.providers.base import ProviderSpec, SandboxSpec

PROVIDER = ProviderSpec(
    key=K.KEY, display_name="Acme", catalog_streams=lambda options: ("courses",), make_client=AcmeClient,
    map_catalog=map_catalog, map_stats=map_stats, settings_model=K.AcmeSettings,
    sandbox=SandboxSpec("acme_sandbox:create_app", "acme_sandbox:AcmeSandboxConfig", K.SANDBOX_PORT),
)
'''

SANDBOX = '''
"""A fake Acme API: a token, a paged catalog and paged learner activity."""
from dataclasses import dataclass, field

from fastapi import FastAPI, Request


@dataclass
class AcmeSandboxConfig:
    n_courses: int = 45
    n_activities: int = 80


@dataclass
class AcmeStore:
    courses: list[dict] = field(default_factory=list)
    activity: list[dict] = field(default_factory=list)


def create_app(config: AcmeSandboxConfig) -> FastAPI:
    app = FastAPI()
    store = AcmeStore()
    store.courses = [
        {"id": i, "title": f"Acme course {i}", "url": f"https://acme.example/c/{i}", "lang": "en", "minutes": 30 + i, "retired": False}
        for i in range(1, config.n_courses + 1)
    ]
    store.activity = [
        {"course": 1 + i % config.n_courses, "email": f"learner{1 + i % 50}@example.com", "progress": (i * 37) % 101,
         "minutes": 5 + i % 40, "at": f"2026-11-{1 + i % 28:02d}T10:00:00Z"}
        for i in range(config.n_activities)
    ]
    app.state.store = store

    @app.post("/oauth/token")
    async def token() -> dict:
        return {"access_token": "acme-token-0123456789", "token_type": "bearer", "expires_in": 3600}

    def page(rows: list[dict], request: Request) -> dict:
        number, size = int(request.query_params.get("page", 1)), int(request.query_params.get("size", 100))
        items = rows[(number - 1) * size: number * size]
        return {"items": items, "total": len(rows), "next": number + 1 if number * size < len(rows) else None}

    @app.get("/courses")
    async def courses(request: Request) -> dict:
        return page(store.courses, request)

    @app.get("/activity")
    async def activity(request: Request) -> dict:
        since, until = request.query_params.get("since"), request.query_params.get("until")
        rows = [a for a in store.activity if (since is None or a["at"][:10] >= since) and (until is None or a["at"][:10] < until)]
        return page(rows, request)

    return app
'''

# What an engineer writes for a new provider: path -> text (the registry line is not a file).
FILES = {
    "acme_provider/__init__.py": SPEC,
    "acme_provider/settings.py": SETTINGS,
    "acme_provider/client.py": CLIENT,
    "acme_provider/mapping.py": MAPPING,
    "acme_sandbox.py": SANDBOX,
}
