"""Checks the CLI runs before anything slow starts (Prefect, a flow run): arguments, settings,
the state DB, and that every service a command needs answers and accepts its credentials.

Each failure raises a `learnsync.errors` problem whose message is the one line to print.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from learnsync.errors import ConfigProblem, Unreachable, UsageProblem, describe, host_of

CONNECT_TIMEOUT_SECONDS = 3.0
ANSWER_TIMEOUT_SECONDS = 5.0
GROUP_ID = re.compile(r"^[a-fA-F0-9]{24}$")  # 360Learning ids (the OpenAPI documents' pattern)


def _suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_provider(provider: str) -> str:
    from learnsync.providers.registry import provider_keys

    keys = list(provider_keys())
    if provider not in keys:
        raise UsageProblem(f"unknown provider {provider!r}{_suggest(provider, keys)}; choose one of {', '.join(keys)}")
    return provider


def load_settings() -> Any:
    """The settings, or a one-line configuration problem naming the variable."""
    from learnsync.providers import settings as settings_module

    try:
        settings = settings_module.load_settings()
    except Exception as exc:
        problem = describe(exc)
        raise ConfigProblem(problem.message) from exc
    from learnsync.errors import remember_hosts

    remember_hosts(settings)
    return settings


def check_platform(settings: Any, platform: str) -> Any:
    """The 360Learning settings of `platform`, or a usage problem listing the known ones."""
    from learnsync.flows.runtime import platform_settings

    try:
        return platform_settings(settings, platform)
    except KeyError:
        known = sorted({"default", settings.lms360.platform, *settings.platforms})
        raise UsageProblem(
            f"unknown 360Learning platform {platform!r}{_suggest(platform, known)}; known: {', '.join(known)} "
            '(add it to LEARNSYNC_PLATFORMS, e.g. {"' + platform + '": {"base_url": "...", "client_id": "...", "client_secret": "..."}})'
        ) from None


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageProblem(f"{option} {value!r} is not a date; use YYYY-MM-DD, e.g. {option} 2026-01-01") from None


def check_window(since: date, until: date | None) -> None:
    if until is not None and until <= since:
        raise UsageProblem(f"--since {since} must be before --until {until} (the range is [since, until))")


def check_group_ids(groups: list[str]) -> None:
    for group in groups:
        if not GROUP_ID.match(group):
            raise UsageProblem(f"--group {group!r} is not a 360Learning group id (24 hexadecimal characters, e.g. 62be0535045424d93edaad7b)")


# -- the state DB -------------------------------------------------------------------------------
def database_url(settings: Any) -> str:
    """The state DB URL this command uses (the default SQLite file under the current folder)."""
    if settings.database_url:
        return str(settings.database_url)
    return f"sqlite:///{Path.cwd() / '.learnsync' / 'state.db'}"


def sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database).expanduser()


def check_writable_sqlite(url: str) -> None:
    """A SQLite state DB (and its folder: WAL needs it) must be writable for a command that writes."""
    path = sqlite_path(url)
    if path is None:
        return
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not folder.exists() and not os.access(existing, os.W_OK):
        raise ConfigProblem(f"cannot create the state DB folder {folder}: {existing} is read-only; set LEARNSYNC_DATABASE_URL to a writable place")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigProblem(f"the state DB {path} is read-only: give learnsync write access to it, or set LEARNSYNC_DATABASE_URL to a writable copy")
    if folder.exists() and not os.access(folder, os.W_OK):
        raise ConfigProblem(
            f"the state DB folder {folder} is read-only (SQLite writes its journal there): give learnsync write access, "
            "or set LEARNSYNC_DATABASE_URL to a writable place"
        )


def open_state_store(url: str, *, writable: bool = True) -> Any:
    """The state store of a run (migrated to the current schema), checked now; `writable`: the
    command writes to it (a dry run only reads)."""
    from learnsync import output
    from learnsync.flows.runtime import state_store

    output.set_db_url(url)
    if writable:
        check_writable_sqlite(url)
    try:
        return state_store(url)
    except Exception as exc:
        problem = describe(exc)
        raise (Unreachable if problem.exit_code == Unreachable.exit_code else ConfigProblem)(problem.message) from exc


# -- services -------------------------------------------------------------------------------------
def check_reachable(url: str, setting: str, *, hint: str = "") -> None:
    """Fail in seconds, naming the host, when nothing answers at `url` (any HTTP answer counts)."""
    import httpx

    from learnsync.core.http import tls_context

    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise ConfigProblem(f"{setting}={url!r} is not an http(s) URL")
    timeout = httpx.Timeout(ANSWER_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    try:
        with httpx.Client(timeout=timeout, verify=tls_context()) as client:
            client.get(url)
            return
    except httpx.ConnectTimeout:
        why = f"no connection within {CONNECT_TIMEOUT_SECONDS:.0f}s"
    except httpx.ConnectError as exc:
        text = str(exc).lower()
        why = ("connection refused" if "refused" in text else "unknown host name" if "name" in text or "resolution" in text
               else str(exc) or "cannot connect")
    except httpx.TimeoutException:
        why = f"it accepted the connection but sent no answer within {ANSWER_TIMEOUT_SECONDS:.0f}s"
    except httpx.HTTPError as exc:
        why = f"{type(exc).__name__}: {exc}"
    raise Unreachable(f"{host_of(url)} ({setting}) does not answer: {why}{hint}")


SANDBOX_HINT = "; start the sandboxes with `learnsync sandbox all`, or set it to the real service"


def _hint(url: str) -> str:
    from learnsync.core.settings import is_loopback_url

    return SANDBOX_HINT if is_loopback_url(url) else "; check the URL and your network"


def check_services(settings: Any, platform: str, providers: list[str], *, lms: bool = True) -> None:
    """Every host the command talks to answers (360Learning, the providers, the Prefect API)."""
    if lms:
        cfg = check_platform(settings, platform)
        setting = "LEARNSYNC_LMS360__BASE_URL" if cfg is settings.lms360 else f"LEARNSYNC_PLATFORMS[{platform}].base_url"
        check_reachable(cfg.base_url, setting, hint=_hint(cfg.base_url))
    for key in providers:
        url = settings.provider(key).base_url
        check_reachable(url, f"LEARNSYNC_{key.upper()}__BASE_URL", hint=_hint(url))
    api = os.environ.get("PREFECT_API_URL")
    if api:
        check_reachable(api, "PREFECT_API_URL", hint="; start it with `prefect server start`, or unset PREFECT_API_URL for a temporary one")


def check_lms_credentials(settings: Any, platform: str) -> None:
    """360Learning accepts this platform's client id and secret (one token request)."""
    import httpx

    from learnsync.core.http import RetryPolicy, tls_context
    from learnsync.lms360.auth import TOKEN_PATH, TokenManager

    cfg = check_platform(settings, platform)

    async def fetch() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), verify=tls_context()) as http:
            tokens = TokenManager(
                http, cfg.base_url.rstrip("/") + TOKEN_PATH, cfg.client_id, cfg.client_secret,
                policy=RetryPolicy(attempts=2, base_wait=0.2, max_wait=1.0, jitter=0.1, retry_after_cap=2.0),
            )
            await tokens.token()

    try:
        asyncio.run(fetch())
    except Exception as exc:
        problem = describe(exc)
        kind = {Unreachable.exit_code: Unreachable, ConfigProblem.exit_code: ConfigProblem}.get(problem.exit_code, ConfigProblem)
        raise kind(problem.message) from exc


def sandbox_names() -> list[str]:
    from learnsync.sandboxes.fleet import provider_sandboxes

    return ["360", *provider_sandboxes(), "all"]


def check_sandbox_name(name: str) -> list[str]:
    """The sandbox keys a `learnsync sandbox NAME` starts."""
    from learnsync.sandboxes.fleet import provider_sandboxes

    sandboxes = provider_sandboxes()
    key = "lms360" if name in ("360", "lms360", "360learning") else name
    if key == "all":
        return ["lms360", *sandboxes]
    if key != "lms360" and key not in sandboxes:
        choices = sandbox_names()
        raise UsageProblem(f"unknown sandbox {name!r}{_suggest(name, choices)}; choose one of {', '.join(choices)}")
    return [key]
