"""What went wrong, in one line a person can act on, and the exit code scripts can test.

`describe(exc)` turns any exception the CLI meets into a `Problem`: the message names the
setting, value, host or record and says what to do. Exceptions raised on purpose by the CLI
(`UsageProblem`, `ConfigProblem`, ...) carry their own message and code; foreign ones
(pydantic, SQLAlchemy, httpx, the HTTP layer's `ApiError`, Prefect) are mapped here, so the
commands themselves stay free of error plumbing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Exit codes (documented in `learnsync --help` and the README).
OK = 0
INTERNAL = 1  # a bug: the one line says so, --debug shows the traceback
USAGE = 2  # a command-line argument or option is wrong
ITEM_ERRORS = 3  # the command completed, but some items failed or were quarantined
RUN_FAILED = 4  # the run stopped: nothing more was done (e.g. the archive guard)
CONFIG = 5  # a setting is wrong or missing, credentials were refused, the state DB is unusable
UNREACHABLE = 6  # a host or database did not answer (worth retrying once it is back)
INTERRUPTED = 130

EXIT_CODES = {
    OK: "success",
    USAGE: "usage error (a wrong argument or option)",
    ITEM_ERRORS: "completed, but some items failed or were quarantined",
    RUN_FAILED: "the run failed and stopped",
    CONFIG: "configuration error (a setting, credentials or the state DB)",
    UNREACHABLE: "a service did not answer (360Learning, a provider, the state DB, the Prefect API)",
    INTERNAL: "unexpected error (rerun with --debug and report it)",
}


class CliProblem(Exception):
    """An error whose message is already the one line to print."""

    exit_code = INTERNAL


class UsageProblem(CliProblem):
    exit_code = USAGE


class ConfigProblem(CliProblem):
    exit_code = CONFIG


class Unreachable(CliProblem):
    exit_code = UNREACHABLE


class RunFailed(CliProblem):
    exit_code = RUN_FAILED


@dataclass(frozen=True)
class Problem:
    exit_code: int
    message: str


# host:port -> the setting that points there, filled once settings are loaded (see `remember_hosts`).
_HOST_SETTINGS: dict[str, str] = {}
_SECRET_WORDS = ("secret", "token", "password")


def remember_hosts(settings: Any) -> None:
    """Learn which setting names which host, so network errors can name the setting to fix."""
    _HOST_SETTINGS.clear()
    for url, name in setting_urls(settings):
        _HOST_SETTINGS.setdefault(host_of(url), name)


def setting_urls(settings: Any) -> list[tuple[str, str]]:
    """(url, environment variable) of every service in the settings."""
    from learnsync.providers.registry import provider_keys
    from learnsync.providers.settings import env_prefix

    out = [(settings.lms360.base_url, "LEARNSYNC_LMS360__BASE_URL")]
    for key in provider_keys():
        out.append((settings.provider(key).base_url, f"{env_prefix(key)}BASE_URL"))
    for name, platform in settings.platforms.items():
        out.append((platform.base_url, f"LEARNSYNC_PLATFORMS[{name}].base_url"))
    return out


def host_of(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    return f"{parts.hostname}:{port}"


def _setting_for(url: str) -> str:
    name = _HOST_SETTINGS.get(host_of(url))
    return f" ({name})" if name else ""


def env_name(loc: tuple[Any, ...]) -> str:
    """The environment variable a pydantic-settings location comes from."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "platforms":
        inner = ".".join(parts[2:])
        return f"LEARNSYNC_PLATFORMS[{parts[1]}]" + (f".{inner}" if inner else "") if len(parts) > 1 else "LEARNSYNC_PLATFORMS"
    return "LEARNSYNC_" + "__".join(parts).upper()


def _shown_value(loc: tuple[Any, ...], value: Any) -> str:
    if any(w in str(p).lower() for p in loc for w in _SECRET_WORDS):
        return "<hidden>"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _settings_validation(exc: Any) -> Problem:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first.get("loc") or ())
    more = f" (and {len(errors) - 1} more setting error(s))" if len(errors) > 1 else ""
    if first.get("type") == "sandbox_defaults":
        ctx = first.get("ctx") or {}
        names = ", ".join(env_name((*loc, f)) for f in ctx.get("fields", []))
        return Problem(
            CONFIG,
            f"{env_name((*loc, 'base_url'))}={ctx.get('base_url')} is not a sandbox URL: set {names} "
            f"(the sandbox's values apply to loopback URLs only){more}",
        )
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if "input" in first and loc:
        return Problem(CONFIG, f"{env_name(loc)}={_shown_value(loc, first['input'])!r}: {msg}{more}")
    return Problem(CONFIG, f"{env_name(loc) if loc else 'settings'}: {msg}{more}")


def _settings_source_error(exc: Exception) -> Problem:
    found = re.search(r'field "([^"]+)"', str(exc))
    name = env_name((found.group(1),)) if found else "a LEARNSYNC_ setting"
    cause = exc.__cause__ or exc.__context__
    why = f" ({cause})" if cause else ""
    if found and found.group(1) == "platforms":
        example = '{"eu": {"base_url": "https://app.360learning.com", "client_id": "...", "client_secret": "..."}}'
        return Problem(CONFIG, f"LEARNSYNC_PLATFORMS is not valid JSON{why}; expected e.g. {example}")
    return Problem(CONFIG, f"{name} is not valid JSON{why}")


def _database_error(exc: Exception) -> Problem:
    text = str(getattr(exc, "orig", None) or exc)
    url = _redacted_db_url(exc)
    where = f"the state DB {url}" if url else "the state DB"
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return Problem(CONFIG, f"{where} is read-only: give learnsync write access to it and its folder, or point LEARNSYNC_DATABASE_URL elsewhere")
    if "unable to open database file" in lowered:
        return Problem(CONFIG, f"cannot open {where}: check its folder exists and is writable, or point LEARNSYNC_DATABASE_URL elsewhere")
    if "database is locked" in lowered:
        return Problem(UNREACHABLE, f"{where} stayed locked by another process: wait for it to finish, then retry")
    if "password authentication failed" in lowered or ("role" in lowered and "does not exist" in lowered):
        return Problem(CONFIG, f"{where} refused the login: check the user and password in LEARNSYNC_DATABASE_URL")
    if "does not exist" in lowered and "database" in lowered:
        return Problem(CONFIG, f"{where}: the database does not exist; create it or fix LEARNSYNC_DATABASE_URL")
    if any(w in lowered for w in ("connection refused", "could not connect", "timeout", "timed out", "no route", "name or service", "could not translate")):
        return Problem(UNREACHABLE, f"{where} does not answer ({_first_line(text)}): is the database server running? (LEARNSYNC_DATABASE_URL)")
    return Problem(CONFIG, f"{where}: {_first_line(text)}")


def _redacted_db_url(exc: Exception) -> str | None:
    from learnsync.output import current_db_url

    url = current_db_url()
    return redact_url(url) if url else None


def redact_url(url: str) -> str:
    """A database URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= 160 else line[:157] + "..."


_DRIVERS = {"psycopg": "postgres", "psycopg2": "postgres", "pg8000": None, "asyncpg": None, "pymysql": None}


def _api_error(exc: Any) -> Problem:
    host = host_of(exc.url)
    setting = _setting_for(exc.url)
    if exc.status == 0:
        return Problem(UNREACHABLE, f"{host}{setting} does not answer ({exc.code}: {exc.message}); check the URL and that the service is up")
    detail = exc.message or _known_reason(exc.code)
    if exc.status in (401, 403) or exc.code in ("invalid_client", "unauthorized_client", "invalid_grant"):
        prefix = _credential_prefix(exc.url)
        fix = f"check {prefix}CLIENT_ID and {prefix}CLIENT_SECRET" if prefix else "check the client id and secret"
        return Problem(CONFIG, f"{host} refused the credentials (HTTP {exc.status} {exc.code}: {detail}): {fix}")
    if exc.code == "integrationNotFound":
        return Problem(
            RUN_FAILED,
            f"{host} no longer has the integration stored in the state DB (HTTP 404 integrationNotFound): "
            "the state DB belongs to another 360Learning platform or sandbox; point LEARNSYNC_DATABASE_URL at the right one",
        )
    return Problem(RUN_FAILED, f"{exc.method} {exc.url} answered HTTP {exc.status} {exc.code}: {detail or 'no reason given'}")


_REASONS = {
    "invalid_client": "the client id or secret is wrong",
    "unauthorized_client": "this client may not use this grant",
    "invalid_grant": "the refresh token or grant is invalid or expired",
    "invalid_scope": "the client lacks a required scope",
}


def _known_reason(code: str) -> str:
    return _REASONS.get(code, "")


def _credential_prefix(url: str) -> str:
    name = _HOST_SETTINGS.get(host_of(url), "")
    if name.endswith("__BASE_URL"):
        return name.removesuffix("BASE_URL")
    if name.startswith("LEARNSYNC_PLATFORMS["):
        return name.removesuffix("base_url")
    return ""


def _httpx_error(exc: Any) -> Problem:
    try:
        url = str(exc.request.url)
    except Exception:
        url = ""
    host = host_of(url) if url else "the server"
    setting = _setting_for(url) if url else ""
    if _is_prefect_api(url):
        return Problem(UNREACHABLE, f"the Prefect API at {url.split('?')[0]} does not answer: start it (`prefect server start`) or unset PREFECT_API_URL")
    if hasattr(exc, "response") and getattr(exc, "response", None) is not None and exc.__class__.__name__ == "HTTPStatusError":
        return Problem(RUN_FAILED, f"{host} answered HTTP {exc.response.status_code} to {exc.request.method} {url.split('?')[0]}")
    kind = type(exc).__name__
    return Problem(UNREACHABLE, f"{host}{setting} does not answer ({kind}); check the URL and that the service is up")


def _is_prefect_api(url: str) -> bool:
    import os

    api = os.environ.get("PREFECT_API_URL")
    return bool(api and url and host_of(url) == host_of(api))


def describe(exc: BaseException) -> Problem:
    """The one line and exit code for `exc`."""
    if isinstance(exc, CliProblem):
        return Problem(exc.exit_code, str(exc))
    if isinstance(exc, KeyboardInterrupt):
        return Problem(INTERRUPTED, "interrupted")
    name = type(exc).__name__
    module = type(exc).__module__
    try:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError) and exc.title.endswith("Settings"):
            return _settings_validation(exc)
    except ImportError:  # pragma: no cover
        pass
    if name == "SettingsError" and module.startswith("pydantic_settings"):
        return _settings_source_error(exc)  # type: ignore[arg-type]
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _DRIVERS:
        driver = (exc.name or "").split(".")[0]
        install = 'pip install -e ".[postgres]"' if _DRIVERS[driver] == "postgres" else f"pip install {driver}"
        return Problem(CONFIG, f"LEARNSYNC_DATABASE_URL needs the {driver} driver, which is not installed: {install}")
    if module.startswith("sqlalchemy"):
        if name == "ArgumentError":
            return Problem(CONFIG, f"LEARNSYNC_DATABASE_URL is not a database URL ({_first_line(str(exc))})")
        if name == "NoSuchModuleError":
            return Problem(CONFIG, f"LEARNSYNC_DATABASE_URL names a database type SQLAlchemy does not know ({_first_line(str(exc))})")
        if name in ("OperationalError", "InterfaceError", "ProgrammingError", "DatabaseError"):
            return _database_error(exc)  # type: ignore[arg-type]
    if module.startswith("sqlite3"):
        return _database_error(exc)  # type: ignore[arg-type]
    if name == "ApiError" and hasattr(exc, "status"):
        return _api_error(exc)
    if module.startswith("httpx") or module.startswith("httpcore"):
        return _httpx_error(exc)
    if isinstance(exc, PermissionError):
        return Problem(CONFIG, f"permission denied on {exc.filename or 'a file'}: give learnsync write access, or point LEARNSYNC_DATABASE_URL elsewhere")
    if name == "ArchiveGuardError":
        return Problem(RUN_FAILED, str(exc))
    if name == "RunInProgress":  # another run of this provider, platform and kind holds the lease
        return Problem(RUN_FAILED, str(exc))
    if name == "FilterValueError":
        return Problem(USAGE, str(exc) + " Use values the synced courses carry, or --force.")
    if name in ("IntegrationDeactivated", "BulkWaitTimeout", "PagingLoopError", "Lms360ProtocolError"):
        return Problem(RUN_FAILED, str(exc))
    if "ephemeral Prefect API server" in str(exc) or "temporary server" in str(exc).lower():
        return Problem(
            UNREACHABLE,
            "the temporary local Prefect server did not start in time: run `prefect server start` in another "
            "terminal and export PREFECT_API_URL=http://127.0.0.1:4200/api",
        )
    return Problem(INTERNAL, f"unexpected {name}: {_first_line(str(exc)) or 'no message'} (rerun with --debug for the traceback)")
