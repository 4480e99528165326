"""360Learning's published OpenAPI 3.1 documents as a machine-checked contract.

Reads the Bulk and Core API documents from `<repo>/../shared/api/openapi/` (never copied into
the project) and checks recorded exchanges against them with `jsonschema` (OpenAPI 3.1 schemas
are JSON Schema 2020-12):

- request: the path and method exist; required headers (and the bearer token where the
  operation is secured); path parameters; query parameters, bracket filters included
  (`field[op]=value`, `field[op][i]=value` are OpenAPI `deepObject` objects); the JSON body
  against the operation's request schema (required fields, types, enums, lengths, patterns,
  item limits).
- response: the status is one the operation documents, and the JSON body matches that
  status's schema.

A request that follows a `Link: <...>; rel="next"` URL the server gave is a page of the same
list: its query (an opaque cursor) is not checked, as the pagination guide says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

REPO = Path(__file__).resolve().parents[2]
OPENAPI_DIR = REPO.parent / "shared" / "api" / "openapi"
DOCUMENTS = ("360learning-bulk-api.json", "360learning-core-api.json")
METHODS = ("get", "put", "post", "patch", "delete")
_FILTER_KEY = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<op>[^\[\]]+)\](?:\[(?P<index>\d*)\])?$")
_LINK = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?", re.IGNORECASE)

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # RFC 3339: a full date, a time and an explicit offset (Z or +hh:mm).
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@dataclass(frozen=True)
class Operation:
    document: str
    template: str
    method: str
    spec: dict[str, Any]
    regex: re.Pattern[str]
    params: int  # how many path parameters (literal paths win over templated ones)


class Contract:
    """Both documents, with one compiled validator per schema location."""

    def __init__(self, directory: Path = OPENAPI_DIR) -> None:
        if not all((directory / name).is_file() for name in DOCUMENTS):
            raise FileNotFoundError(f"360Learning OpenAPI documents not found in {directory}")
        self.docs = {name: json.loads((directory / name).read_text()) for name in DOCUMENTS}
        self.operations: list[Operation] = []
        for name, doc in self.docs.items():
            for template, item in doc["paths"].items():
                pattern = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
                regex = re.compile(_safe_groups(pattern))
                for method in METHODS:
                    if method in item:
                        self.operations.append(
                            Operation(name, template, method, item[method], regex, template.count("{"))
                        )
        self.operations.sort(key=lambda op: op.params)

    # --- lookup ------------------------------------------------------------------------------

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            if op.method != method.lower():
                continue
            match = op.regex.match(path)
            if match:
                return op, {_original(k): v for k, v in match.groupdict().items()}
        return None

    def _param(self, op: Operation, param: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in param:
            return self._pointer(op.document, param["$ref"])
        return param

    def _pointer(self, document: str, ref: str) -> Any:
        node: Any = self.docs[document]
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validator(self, document: str, schema: dict[str, Any]) -> Draft202012Validator:
        return _validator(self, document, json.dumps(schema, sort_keys=True))

    def _errors(self, document: str, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        out = []
        for err in self.validator(document, schema).iter_errors(value):
            if err.context:  # oneOf/anyOf: say why the closest branch failed
                err = best_match(err.context)
            loc = ".".join(str(p) for p in err.absolute_path)
            out.append(f"{where}{'.' + loc if loc else ''}: {_short(err.message)}")
        return out

    # --- requests ----------------------------------------------------------------------------

    def check_request(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, *, followed_link: bool = False
    ) -> list[str]:
        """Problems with one request (empty list: valid). Undefined endpoints are one problem."""
        found = self.find(method, path)
        if found is None:
            return [f"undefined endpoint: {method} {path}"]
        op, path_values = found
        problems: list[str] = []
        params = [self._param(op, p) for p in op.spec.get("parameters", [])]
        lowered = {k.lower(): v for k, v in headers.items()}
        for p in params:
            if p["in"] == "header":
                value = lowered.get(p["name"].lower())
                if value is None:
                    if p.get("required"):
                        problems.append(f"header {p['name']}: missing")
                else:
                    problems += self._errors(op.document, p.get("schema", {}), value, f"header {p['name']}")
            elif p["in"] == "path":
                problems += self._errors(op.document, p.get("schema", {}), path_values.get(p["name"]), f"path {p['name']}")
        if op.spec.get("security") and not lowered.get("authorization", "").startswith("Bearer "):
            problems.append("header Authorization: missing bearer token")
        if not followed_link:
            problems += self._check_query(op, [p for p in params if p["in"] == "query"], query)
        problems += self._check_body(op, headers, body)
        return problems

    def _check_query(self, op: Operation, params: list[dict[str, Any]], query: str) -> list[str]:
        problems: list[str] = []
        by_name = {p["name"]: p for p in params}
        deep: dict[str, dict[str, Any]] = {}
        plain: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            match = _FILTER_KEY.match(key)
            if match and by_name.get(match["name"], {}).get("style") == "deepObject":
                target = deep.setdefault(match["name"], {})
                if match["index"] is not None:
                    target.setdefault(match["op"], []).append(value)
                else:
                    target[match["op"]] = value
            elif key in by_name and by_name[key].get("style") != "deepObject":
                plain[key] = value
            else:
                problems.append(f"query {key}: not a parameter of {op.method.upper()} {op.template}")
        for name, value in deep.items():
            # Some filter schemas lack `type: object` (the documents' README): a filter is an object.
            schema = {"type": "object", **by_name[name].get("schema", {})}
            problems += self._errors(op.document, schema, _coerce(value, schema), f"query {name}")
        for name, value in plain.items():
            schema = by_name[name].get("schema", {})
            problems += self._errors(op.document, schema, _coerce(value, schema), f"query {name}")
        for p in params:
            if p.get("required") and p["name"] not in deep and p["name"] not in plain:
                problems.append(f"query {p['name']}: missing")
        return problems

    def _check_body(self, op: Operation, headers: dict[str, str], body: bytes) -> list[str]:
        spec = op.spec.get("requestBody")
        if spec is None:
            return [f"body: {op.method.upper()} {op.template} takes no body"] if body.strip() else []
        if not body.strip():
            return ["body: missing"] if spec.get("required") else []
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "").split(";")[0].strip()
        content = spec.get("content", {})
        if content_type not in content:
            return [f"body: content type {content_type or 'none'!r} not accepted (expected {sorted(content)})"]
        try:
            value = json.loads(body)
        except ValueError:
            return ["body: not JSON"]
        return self._errors(op.document, content[content_type].get("schema", {}), value, "body")

    # --- responses ---------------------------------------------------------------------------

    def check_response(self, method: str, path: str, status: int, headers: dict[str, str], body: bytes) -> list[str]:
        found = self.find(method, path)
        if found is None:
            return []  # the request is already reported as undefined
        op, _ = found
        responses = op.spec.get("responses", {})
        spec = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if spec is None:
            return [f"status {status}: not documented (documented: {', '.join(sorted(responses))})"]
        spec = self._param(op, spec)
        problems: list[str] = []
        lowered = {k.lower(): v for k, v in headers.items()}
        for name, header in (spec.get("headers") or {}).items():
            if header.get("required") and name.lower() not in lowered:
                problems.append(f"header {name}: missing")
        if status == 202 and "Location" in (spec.get("headers") or {}) and "location" not in lowered:
            problems.append("header Location: missing on an accepted bulk operation")
        content = spec.get("content") or {}
        if not content:
            return problems + ([f"body: status {status} documents no body"] if body.strip() else [])
        content_type = lowered.get("content-type", "").split(";")[0].strip()
        if content_type not in content:
            return problems + [f"body: content type {content_type or 'none'!r} not documented for {status}"]
        try:
            value = json.loads(body) if body.strip() else None
        except ValueError:
            return problems + ["body: not JSON"]
        return problems + self._errors(op.document, content[content_type].get("schema", {}), value, "body")


def next_links(headers: dict[str, str]) -> list[str]:
    """Targets of `Link: <...>; rel="next"` (absolute or as the server wrote them)."""
    return _LINK.findall(headers.get("link", ""))


@cache
def _validator(contract: Contract, document: str, schema_text: str) -> Draft202012Validator:
    # The schema travels with the document's components so its "#/components/..." refs resolve.
    schema = json.loads(schema_text)
    wrapper = {**schema, "components": contract.docs[document].get("components", {})}
    return Draft202012Validator(wrapper, format_checker=FORMATS)


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Query values are text: read numbers and booleans where the schema asks for them."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _coerce(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce(v, schema.get("items", {})) for v in value]
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    except ValueError:
        return value
    return value


def _short(message: str) -> str:
    return message if len(message) <= 160 else message[:157] + "..."


_GROUP_NAMES: dict[str, str] = {}


def _safe_groups(pattern: str) -> str:
    """Regex group names must be identifiers: map `{content-type}`-like names to safe ones."""

    def rename(match: re.Match[str]) -> str:
        original = match.group(1)
        safe = "g" + re.sub(r"\W", "_", original)
        _GROUP_NAMES[safe] = original
        return f"(?P<{safe}>"

    return re.sub(r"\(\?P<([^>]+)>", rename, pattern)


def _original(name: str) -> str:
    return _GROUP_NAMES.get(name, name)
