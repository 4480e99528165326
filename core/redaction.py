"""The secret values of this process, and the one function that masks them in any text.

Secrets are registered where they enter the process: every SecretStr of the settings (the
360Learning client secret of every platform, provider client secrets, refresh tokens) and the
tokens the APIs hand out at run time. `redact(text)` masks each of them in the spellings a
server may echo them in (as is, URL-encoded, JSON-escaped, inside an HTTP Basic credential), and
anything shaped like a credential (`Bearer …`, `client_secret=…`, `"access_token": "…"`) even
when its value was never registered.

Everything learnsync stores or shows goes through it: API error messages, log records (a log
record factory, so every logger and handler of the process, Prefect's included, only ever
sees masked text), the state store's free-text columns, run reports, artifacts and states.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, SecretStr

MASK = "[redacted]"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words; no real credential is that short
RUNTIME_SECRETS_KEPT = 512  # tokens handed out at run time (renewed hourly): the newest are kept

# Credentials recognised by their shape, whatever their value.
# A scheme's credential has a digit or symbol somewhere ("Basic fundamentals" is prose).
_SHAPES = re.compile(
    r"(?P<scheme>\b(?:[Bb]earer|BEARER|Basic|BASIC)\s+)(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{16,}"
    r"|(?P<key>\b(?i:client_secret|refresh_token|access_token|id_token|password)\b[\"']?\s*[:=]\s*[\"']?)"
    r"[^\"'&\s,;}]+"
)

_lock = threading.Lock()
_configured: set[str] = set()
_runtime: OrderedDict[str, None] = OrderedDict()
_known: re.Pattern[str] | None = None
_factory_installed = False


def _spellings(value: str) -> set[str]:
    """The forms a value takes when a server echoes a request: raw, URL- and JSON-encoded."""
    escaped = json.dumps(value)[1:-1]
    return {value, quote(value, safe=""), quote_plus(value), escaped, escaped.replace("/", "\\/")}


def _rebuild() -> None:
    global _known
    values = set(_configured) | set(_runtime)
    forms = sorted({s for v in values for s in _spellings(v) if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    _known = re.compile("|".join(map(re.escape, forms))) if forms else None


def register(*values: str | SecretStr | None, runtime: bool = False) -> None:
    """Remember secret values (None and too-short values are ignored). `runtime`: a token handed
    out while running; only the newest RUNTIME_SECRETS_KEPT of those are kept."""
    texts = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in values]
    plain = [v for v in texts if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH]
    if not plain:
        return
    with _lock:
        changed = False
        for value in plain:
            if runtime:
                if value not in _runtime and value not in _configured:
                    changed = True
                _runtime[value] = None
                _runtime.move_to_end(value)
                while len(_runtime) > RUNTIME_SECRETS_KEPT:
                    _runtime.popitem(last=False)
                    changed = True
            elif value not in _configured:
                _configured.add(value)
                changed = True
        if changed:
            _rebuild()
    install_log_redaction()


def register_settings(settings: Any) -> None:
    """Register every SecretStr found in a settings model (nested models, dicts and lists too),
    and the HTTP Basic credential `client_id:client_secret` of each model that has both."""
    for model in _models(settings):
        secrets = [v for v in (getattr(model, name, None) for name in type(model).model_fields) if isinstance(v, SecretStr)]
        register(*secrets)
        client_id, client_secret = getattr(model, "client_id", None), getattr(model, "client_secret", None)
        if isinstance(client_id, str) and isinstance(client_secret, SecretStr):
            basic = f"{client_id}:{client_secret.get_secret_value()}".encode()
            register(base64.b64encode(basic).decode())


def _models(value: Any) -> Iterable[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _models(getattr(value, name, None))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _models(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _models(item)


def _mask_shape(match: re.Match[str]) -> str:
    return (match.group("scheme") or match.group("key")) + MASK


def redact(text: str) -> str:
    """`text` with every known secret, and every credential-shaped value, masked."""
    if not text:
        return text
    known = _known
    if known is not None:
        text = known.sub(MASK, text)
    return _SHAPES.sub(_mask_shape, text)


def redact_value(value: Any) -> Any:
    """`value` with every string in it redacted (dicts, lists and tuples walked; others kept)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactedError(RuntimeError):
    """An error whose text held a secret: the same text, masked (the original is not kept, so no
    traceback, state or log can show it)."""


def scrubbed(exc: BaseException) -> BaseException:
    """`exc` itself when its text holds no secret; else a RedactedError with the masked text."""
    text = f"{type(exc).__name__}: {exc}"
    masked = redact(text)
    return exc if masked == text else RedactedError(masked)


# --- logs -------------------------------------------------------------------------------------

_PLAIN = (int, float, bool, type(None))


def _redacted_arg(arg: Any) -> Any:
    if isinstance(arg, _PLAIN):
        return arg
    text = str(arg)
    masked = redact(text)
    return arg if masked == text else masked


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask secrets in a log record's message, arguments and traceback (arguments that hold no
    secret are left as they are, so filters and formatters still see the original objects)."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    elif not isinstance(record.msg, _PLAIN):
        record.msg = _redacted_arg(record.msg)
    args = record.args
    if isinstance(args, tuple) and args:
        record.args = tuple(_redacted_arg(a) for a in args)
    elif isinstance(args, dict) and args:
        record.args = {k: _redacted_arg(v) for k, v in args.items()}
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        shown = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        masked = redact(shown)
        if masked != shown:
            record.exc_text = masked  # formatters use exc_text as it is
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Mask secrets in every log record this process creates, whatever its logger or handler
    (learnsync's, Prefect's run loggers and API handler, httpx, pytest's capture...)."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
