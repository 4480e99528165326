"""Data-level fault injection shared by the provider sandboxes.

`sandboxes/faults.py` breaks the transport (429, 5xx, timeouts...); this module breaks the *data*
a provider serves, with the same names in every provider sandbox. Provider sandboxes only
declare, per paged stream, which of their fields each kind touches (`StreamSpec`); the fault
registry, the record mutations and the HTTP admin routes live here.

Kinds
-----
Record kinds (a served record is changed):

- `missing_required`      a field the connector needs is absent (cycles through the stream's list)
- `wrong_type`            a field holds a value of the wrong JSON type (number for a string...)
- `bad_email`             the learner e-mail is not an e-mail address
- `progress_out_of_range` progress outside 0..100 (or the provider's nearest equivalent)
- `negative_duration`     a known, positive course duration / time spent turned negative
- `future_date`           a date about a year after the sandbox's wall clock
- `duplicate_id_in_page`  a record takes the identity of the record before it in the same page
- `unknown_language`      a language code no mapping knows ("xx", "tlh", "zz_ZZ", "klingon")

Paging kinds (a different page is served):

- `repeat_page`  page N is asked, page N-1 is served again, whole (records *and* next link), so the
                 client sees the same next-page token twice (PageTokenGuard -> PagingLoopError).
- `skip_page`    page N is asked, page N+1 is served (records and next link of N+1): the traversal
                 ends with fewer records than the total the API announces.

A kind that has no field in a stream does not apply to it (see each sandbox's `DATA_FAULT_STREAMS`
and `applicable` in `GET /_sandbox/data-faults`). Catalog kinds touch catalog streams, stats kinds
activity streams; `stream` narrows a fault to one stream or to a group ("catalog" / "stats").

When and which (deterministic)
------------------------------
Record faults are applied **as pages are served**, never to the stored data, and are sticky:

- `count` n: the first n *eligible* records served in each stream are picked, in serving order.
- `rate` r: a record is picked when a hash of (seed, kind, stream, record key) falls under r, so
  the same records are picked whatever the order or size of the pages.
- A picked record stays faulty, with the same change, on every later read, until the fault is
  set again or cleared. A record carries at most one record fault (first kind in `KINDS` order).
- Eligible records are the ones the connector would sync (each stream's `eligible`, e.g. Udemy
  skips anonymized activity rows, Edflex only open resources of a supported type), and each
  mutation may add its own condition (a duplicate id needs a record before it in the page).

Paging faults fire on page requests: `count` n = the next n eligible requests, `rate` r = each
eligible request with probability r (seeded). Eligible: page >= 2 (repeat) / page >= 2 with a page
after it (skip), or exactly page `page` when given. Paging faults are not sticky.

Switching them
--------------
- config:  `UdemySandboxConfig(data_faults={"missing_required": 3, "bad_email": 0.05,
            "skip_page": {"count": 1, "stream": "catalog", "page": 2}})` (int = count, float = rate)
- Python:  `app.state.data_faults.set("bad_email", 2)`, `.set("wrong_type", rate=0.1)`, `.clear()`
- HTTP:    `POST /_sandbox/data-faults` `{"kind": "bad_email", "count": 2}` or `{"kind": ..., "rate": r}`
           (optional "stream", "page"; count 0 removes the kind; a JSON list sets several);
           `DELETE /_sandbox/data-faults[?kind=...]` clears; `GET /_sandbox/data-faults` lists the
           faults, the injected counts and which records were changed.
- CLI:     against a sandbox served by `learnsync sandbox udemy` (or the demo's fleet), e.g.
           `curl -X POST $URL/_sandbox/data-faults -H 'content-type: application/json'
            -d '{"kind": "skip_page", "count": 1, "stream": "catalog"}'`, `curl $URL/_sandbox/data-faults`,
           `curl -X DELETE $URL/_sandbox/data-faults`.

GET answers {"faults": {kind: {count, rate, stream, page}}, "injected": {kind: n},
"injected_by_stream": {stream: {kind: n}}, "served": {kind: faulty records / pages served},
"faulted": {kind: [{stream, key, field[, served_key]} | {stream, asked, served}]}, "kinds": [...],
"applicable": {stream: [kinds]}, "notes": {stream: {kind: how that provider's mapping treats it}}}.
"injected" counts distinct records picked (record kinds) or times fired (paging kinds).
"""

from __future__ import annotations

import copy
import hashlib
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

RECORD_KINDS = (
    "missing_required",
    "wrong_type",
    "bad_email",
    "progress_out_of_range",
    "negative_duration",
    "future_date",
    "duplicate_id_in_page",
    "unknown_language",
)
PAGING_KINDS = ("repeat_page", "skip_page")
KINDS = RECORD_KINDS + PAGING_KINDS
GROUPS = ("catalog", "stats")

BAD_EMAILS = ("not-an-email", "learner@", "@example.com", "john doe@example.com", "learner@example")
UNKNOWN_LANGUAGES = ("xx", "tlh", "zz_ZZ", "klingon")
OUT_OF_RANGE_PROGRESS = (150, -20, 250, -1)
FUTURE_DAYS = 365


# --------------------------------------------------------------------------- dotted paths

_MISSING = object()


def get_path(record: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """`a.b.c` inside nested dicts; `default` when any level is absent or not a dict."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.c`, creating (or replacing non-dict) parents as dicts."""
    *parents, last = path.split(".")
    node = record
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def pop_path(record: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = record
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


# --------------------------------------------------------------------------- mutations


@dataclass(frozen=True)
class Context:
    """What a mutation may look at: the page as served before faults, the record's place in it."""

    page: list[dict[str, Any]]
    index: int
    ordinal: int  # 0-based rank of this record among the ones this kind picked in this stream
    now: datetime
    previous_kind: str | None = None  # the fault served on the previous record of this page, if any

    @property
    def previous(self) -> dict[str, Any] | None:
        return self.page[self.index - 1] if self.index >= 1 else None


Apply = Callable[[dict[str, Any], Context], str]  # mutate in place, return the field touched
When = Callable[[dict[str, Any], Context], bool]


@dataclass(frozen=True)
class Mutation:
    apply: Apply
    when: When | None = None  # extra condition on top of the stream's eligibility


def _group(item: str | tuple[str, ...]) -> tuple[str, ...]:
    return (item,) if isinstance(item, str) else tuple(item)


def drop(*fields: str | tuple[str, ...]) -> Mutation:
    """missing_required: remove one field (or a tuple of fields together), cycling through `fields`."""

    def apply(record: dict[str, Any], ctx: Context) -> str:
        group = _group(fields[ctx.ordinal % len(fields)])
        for path in group:
            pop_path(record, path)
        return "+".join(group)

    return Mutation(apply)


def retype(*pairs: tuple[str, Any]) -> Mutation:
    """wrong_type: set `path` to a value of the wrong JSON type, cycling through `pairs`."""

    def apply(record: dict[str, Any], ctx: Context) -> str:
        path, value = pairs[ctx.ordinal % len(pairs)]
        set_path(record, path, copy.deepcopy(value))
        return path

    return Mutation(apply)


def bad_email(*paths: str, when: When | None = None) -> Mutation:
    """bad_email: the first path always, the others when present, get a non-address."""

    def apply(record: dict[str, Any], ctx: Context) -> str:
        value = BAD_EMAILS[ctx.ordinal % len(BAD_EMAILS)]
        set_path(record, paths[0], value)
        for path in paths[1:]:
            if get_path(record, path, _MISSING) is not _MISSING:
                set_path(record, path, value)
        return paths[0]

    return Mutation(apply, when)


def set_value(path: str, values: Iterable[Any], when: When | None = None) -> Mutation:
    """Set `path` to the next of `values` (progress_out_of_range, unknown_language, statuses...)."""
    choices = tuple(values)

    def apply(record: dict[str, Any], ctx: Context) -> str:
        set_path(record, path, choices[ctx.ordinal % len(choices)])
        return path

    return Mutation(apply, when)


def out_of_range(path: str, when: When | None = None) -> Mutation:
    return set_value(path, OUT_OF_RANGE_PROGRESS, when)


def unknown_language(path: str) -> Mutation:
    return set_value(path, UNKNOWN_LANGUAGES)


def _positive_duration(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value > 0
    return isinstance(value, str) and value.strip().upper().startswith("P") and any(c in "123456789" for c in value)


def negative(path: str) -> Mutation:
    """negative_duration: a positive duration turns negative (a number -> minus itself, an ISO-8601
    duration -> "-PT..."). Only records whose duration is known and positive are picked, so the
    fault always turns a usable value into a bad one."""

    def when(record: dict[str, Any], ctx: Context) -> bool:
        return _positive_duration(get_path(record, path))

    def apply(record: dict[str, Any], ctx: Context) -> str:
        value = get_path(record, path)
        set_path(record, path, -value if not isinstance(value, str) else "-" + value.strip())
        return path

    return Mutation(apply, when)


DATE_FORMATS: dict[str, Callable[[datetime], Any]] = {
    "iso": lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "date": lambda d: d.strftime("%Y-%m-%d"),
    "epoch_ms": lambda d: int(d.timestamp() * 1000),
    "epoch_s": lambda d: int(d.timestamp()),
}


def future(path: str, fmt: str = "iso", when: When | None = None) -> Mutation:
    """future_date: `path` set to about FUTURE_DAYS after the registry's clock, in `fmt`."""
    render = DATE_FORMATS[fmt]

    def apply(record: dict[str, Any], ctx: Context) -> str:
        set_path(record, path, render(ctx.now + timedelta(days=FUTURE_DAYS, hours=ctx.ordinal)))
        return path

    return Mutation(apply, when)


def duplicate_id(*paths: str) -> Mutation:
    """duplicate_id_in_page: copy the identity fields of the previous record of the page; needs a
    previous record whose identity differs. The record's own id disappears from that page."""

    def when(record: dict[str, Any], ctx: Context) -> bool:
        prev = ctx.previous
        if prev is None:
            return False
        mine = tuple(get_path(record, p) for p in paths)
        theirs = tuple(get_path(prev, p) for p in paths)
        # no chains: a previous record that is itself a duplicate would hand on an id still served
        return ctx.previous_kind != "duplicate_id_in_page" and mine != theirs and all(v is not None for v in theirs)

    def apply(record: dict[str, Any], ctx: Context) -> str:
        prev = ctx.previous
        assert prev is not None
        for path in paths:
            set_path(record, path, copy.deepcopy(get_path(prev, path)))
        return "+".join(paths)

    return Mutation(apply, when)


# --------------------------------------------------------------------------- streams


@dataclass(frozen=True)
class StreamSpec:
    """One paged stream of a provider sandbox and the fields each fault kind touches there."""

    name: str  # the sandbox's stream name, e.g. "courses", "activity"
    group: str  # "catalog" or "stats"
    key: tuple[str, ...]  # dotted paths that identify a record (sticky picks, reports)
    mutations: Mapping[str, Mutation]  # record kind -> mutation; absent kinds do not apply here
    eligible: Callable[[dict[str, Any]], bool] | None = None
    notes: Mapping[str, str] = field(default_factory=dict)  # kind -> how it maps here (GET shows it)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"stream group must be one of {GROUPS}, got {self.group!r}")
        unknown = set(self.mutations) - set(RECORD_KINDS)
        if unknown:
            raise ValueError(f"unknown record fault kinds {sorted(unknown)}")

    def record_key(self, record: dict[str, Any]) -> str:
        return "|".join(str(get_path(record, p)) for p in self.key)


@dataclass
class FaultSetting:
    kind: str
    count: int | None = None
    rate: float | None = None
    stream: str | None = None  # a stream name, "catalog" or "stats"; None = every stream
    page: int | None = None  # paging kinds: only when this page number is asked

    def public(self) -> dict[str, Any]:
        return {"count": self.count, "rate": self.rate, "stream": self.stream, "page": self.page}


def parse_setting(kind: str, value: Any) -> FaultSetting:
    """Config form: int = count, float = rate, dict = {"count"|"rate", "stream", "page"}."""
    if isinstance(value, FaultSetting):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{kind}: give a count (int) or a rate (float), not a boolean")
    if isinstance(value, int):
        return _checked(FaultSetting(kind, count=value))
    if isinstance(value, float):
        return _checked(FaultSetting(kind, rate=value))
    if isinstance(value, Mapping):
        extra = set(value) - {"count", "rate", "stream", "page", "kind"}
        if extra:
            raise ValueError(f"{kind}: unknown fields {sorted(extra)}")
        return _checked(
            FaultSetting(kind, count=value.get("count"), rate=value.get("rate"), stream=value.get("stream"), page=value.get("page"))
        )
    raise ValueError(f"{kind}: expected a count, a rate or a dict, got {value!r}")


def _checked(s: FaultSetting) -> FaultSetting:
    if s.kind not in KINDS:
        raise ValueError(f"unknown data fault kind {s.kind!r}; expected one of {', '.join(KINDS)}")
    if (s.count is None) == (s.rate is None):
        raise ValueError(f"{s.kind}: give exactly one of count or rate")
    if s.count is not None and (isinstance(s.count, bool) or not isinstance(s.count, int) or s.count < 0):
        raise ValueError(f"{s.kind}: count must be an integer >= 0")
    if s.rate is not None:
        if isinstance(s.rate, bool) or not isinstance(s.rate, (int, float)) or not 0 <= s.rate <= 1:
            raise ValueError(f"{s.kind}: rate must be a number in [0, 1]")
        s.rate = float(s.rate)
    if s.page is not None and (isinstance(s.page, bool) or not isinstance(s.page, int) or s.page < 1):
        raise ValueError(f"{s.kind}: page must be an integer >= 1")
    if s.page is not None and s.kind not in PAGING_KINDS:
        raise ValueError(f"{s.kind}: page only applies to {PAGING_KINDS}")
    if s.stream is not None and not isinstance(s.stream, str):
        raise ValueError(f"{s.kind}: stream must be a string")
    return s


# --------------------------------------------------------------------------- registry


@dataclass
class _Pick:
    kind: str
    ordinal: int
    field: str | None = None


class DataFaults:
    """The data faults in force on one sandbox and what they did. Thread-safe."""

    def __init__(
        self,
        streams: Iterable[StreamSpec],
        *,
        seed: int = 0,
        faults: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.streams: dict[str, StreamSpec] = {s.name: s for s in streams}
        self.seed = seed
        self._clock = clock or (lambda: datetime.now(UTC).replace(microsecond=0))
        self._lock = threading.RLock()
        self._settings: dict[str, FaultSetting] = {}
        self._random = random.Random(seed)
        self._reset_state()
        for kind, value in (faults or {}).items():
            self._put(parse_setting(kind, value))

    # -- switching ------------------------------------------------------------------------

    def set(
        self,
        kind: str,
        n: int | float | None = None,
        *,
        count: int | None = None,
        rate: float | None = None,
        stream: str | None = None,
        page: int | None = None,
    ) -> FaultSetting:
        """`set(kind, 3)` = count 3, `set(kind, 0.1)` = rate 0.1; count 0 / rate 0 removes the kind.

        Setting a kind again forgets the records it picked before (a fresh selection)."""
        if n is not None:
            if count is not None or rate is not None:
                raise ValueError("give n, or count=/rate=, not both")
            setting = parse_setting(kind, n)
        else:
            setting = _checked(FaultSetting(kind, count=count, rate=rate))
        setting.stream, setting.page = stream, page
        return self._put(_checked(setting))

    def _put(self, setting: FaultSetting) -> FaultSetting:
        if setting.stream is not None and setting.stream not in GROUPS and setting.stream not in self.streams:
            raise ValueError(f"{setting.kind}: unknown stream {setting.stream!r}; known: {', '.join([*GROUPS, *self.streams])}")
        with self._lock:
            self._forget(setting.kind)
            if (setting.count or 0) == 0 and not setting.rate:
                self._settings.pop(setting.kind, None)
            else:
                self._settings[setting.kind] = setting
        return setting

    def remove(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown data fault kind {kind!r}")
        with self._lock:
            self._settings.pop(kind, None)
            self._forget(kind)

    def clear(self) -> None:
        """No data fault any more; picked records are served clean again; counters reset."""
        with self._lock:
            self._settings.clear()
            self._reset_state()

    def _reset_state(self) -> None:
        self._picks: dict[tuple[str, str], _Pick] = {}
        self._picked: dict[tuple[str, str], int] = {}  # (kind, stream) -> records picked
        self._served: dict[str, int] = {}  # kind -> faulty records or pages served
        self._log: dict[str, list[dict[str, Any]]] = {}
        self._fired: dict[tuple[str, str], int] = {}  # (paging kind, stream) -> times fired

    def _forget(self, kind: str) -> None:
        self._picks = {k: p for k, p in self._picks.items() if p.kind != kind}
        self._picked = {k: n for k, n in self._picked.items() if k[0] != kind}
        self._fired = {k: n for k, n in self._fired.items() if k[0] != kind}
        self._served.pop(kind, None)
        self._log.pop(kind, None)

    # -- reading what happened ------------------------------------------------------------

    def injected(self) -> dict[str, int]:
        """kind -> distinct records picked (record kinds) or times fired (paging kinds)."""
        with self._lock:
            out: dict[str, int] = {}
            for (kind, _), n in [*self._picked.items(), *self._fired.items()]:
                out[kind] = out.get(kind, 0) + n
            return out

    def faulted(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Records picked (stream, key, field) or paging faults fired (stream, asked, served)."""
        with self._lock:
            if kind is not None:
                return [dict(e) for e in self._log.get(kind, [])]
            return [dict(e, kind=k) for k, entries in self._log.items() for e in entries]

    def applicable(self) -> dict[str, list[str]]:
        return {name: [k for k in KINDS if k in s.mutations or k in PAGING_KINDS] for name, s in self.streams.items()}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            injected_by_stream: dict[str, dict[str, int]] = {}
            for (kind, stream), n in [*self._picked.items(), *self._fired.items()]:
                injected_by_stream.setdefault(stream, {})[kind] = n
            return {
                "faults": {k: s.public() for k, s in self._settings.items()},
                "injected": self.injected(),
                "injected_by_stream": injected_by_stream,
                "served": dict(self._served),
                "faulted": {k: [dict(e) for e in v] for k, v in self._log.items()},
                "kinds": list(KINDS),
                "applicable": self.applicable(),
                "notes": {name: dict(s.notes) for name, s in self.streams.items() if s.notes},
            }

    # -- serving ----------------------------------------------------------------------------

    def _targets(self, setting: FaultSetting, stream: str) -> bool:
        spec = self.streams.get(stream)
        if spec is None:
            return False
        return setting.stream is None or setting.stream in (stream, spec.group)

    def _hash_under(self, rate: float, *parts: Any) -> bool:
        digest = hashlib.blake2b("|".join(map(str, (self.seed, *parts))).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < rate

    def apply(self, stream: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page as it should be served: picked records are deep copies with their fault."""
        spec = self.streams.get(stream)
        if spec is None or not records:
            return records
        with self._lock:
            if not self._settings and not self._picks:
                return records
            active = [s for k, s in self._settings.items() if k in spec.mutations and self._targets(s, stream)]
            active.sort(key=lambda s: KINDS.index(s.kind))
            now = self._clock()
            out: list[dict[str, Any]] = []
            previous_kind: str | None = None
            for index, record in enumerate(records):
                served_kind, previous_kind = previous_kind, None
                if not isinstance(record, dict):
                    out.append(record)
                    continue
                key = spec.record_key(record)
                pick = self._picks.get((stream, key))
                if pick is None:
                    pick = self._choose(spec, active, records, index, record, key, now, served_kind)
                if pick is None or pick.kind not in spec.mutations or pick.kind not in self._settings:
                    out.append(record)
                    continue
                mutation = spec.mutations[pick.kind]
                ctx = Context(records, index, pick.ordinal, now, served_kind)
                if mutation.when is not None and not mutation.when(record, ctx):
                    out.append(record)  # e.g. a picked duplicate now first in its page
                    continue
                previous_kind = pick.kind
                faulty = copy.deepcopy(record)
                touched = mutation.apply(faulty, ctx)
                if pick.field is None:
                    pick.field = touched
                    entry = {"stream": stream, "key": key, "field": touched}
                    if spec.record_key(faulty) != key:
                        entry["served_key"] = spec.record_key(faulty)  # e.g. the id a duplicate took
                    self._log.setdefault(pick.kind, []).append(entry)
                self._served[pick.kind] = self._served.get(pick.kind, 0) + 1
                out.append(faulty)
            return out

    def _choose(
        self,
        spec: StreamSpec,
        active: list[FaultSetting],
        page: list[dict[str, Any]],
        index: int,
        record: dict[str, Any],
        key: str,
        now: datetime,
        previous_kind: str | None,
    ) -> _Pick | None:
        if not active or (spec.eligible is not None and not spec.eligible(record)):
            return None
        for setting in active:
            mutation = spec.mutations[setting.kind]
            picked = self._picked.get((setting.kind, spec.name), 0)
            if mutation.when is not None and not mutation.when(record, Context(page, index, picked, now, previous_kind)):
                continue
            if setting.count is not None:
                hit = picked < setting.count
            else:
                hit = self._hash_under(setting.rate or 0.0, setting.kind, spec.name, key)
            if hit:
                pick = _Pick(setting.kind, picked)
                self._picks[(spec.name, key)] = pick
                self._picked[(setting.kind, spec.name)] = picked + 1
                return pick
        return None

    def page_to_serve(self, stream: str, page: int, pages: int) -> int:
        """Page-number paging: the 1-based page to serve when `page` of `pages` is asked, i.e.
        page - 1 (repeat_page), page + 1 (skip_page) or `page`. At most one paging fault a request."""
        if not 1 <= page <= pages:
            return page
        return page + self._paging_delta(stream, page, can_repeat=page >= 2, can_skip=page + 1 <= pages)

    def offset_to_serve(self, stream: str, start: int, size: int, total: int) -> int:
        """Offset paging (start/limit, Range items=a-b): the start to serve when `start` is asked."""
        if size < 1 or not 0 <= start < total:
            return start
        delta = self._paging_delta(stream, start // size + 1, can_repeat=start >= size, can_skip=start + size < total)
        return start + delta * size

    def _paging_delta(self, stream: str, page: int, *, can_repeat: bool, can_skip: bool) -> int:
        if stream not in self.streams:
            return 0
        with self._lock:
            for kind, delta, feasible in (("repeat_page", -1, can_repeat), ("skip_page", 1, can_skip)):
                setting = self._settings.get(kind)
                if setting is None or not feasible or not self._targets(setting, stream):
                    continue
                if setting.page is not None and setting.page != page:
                    continue
                if setting.page is None and page < 2:  # by default mid-traversal, never the first page
                    continue
                fired = self._fired.get((kind, stream), 0)
                if setting.count is not None:
                    if fired >= setting.count:
                        continue
                elif self._random.random() >= (setting.rate or 0.0):
                    continue
                self._fired[(kind, stream)] = fired + 1
                self._served[kind] = self._served.get(kind, 0) + 1
                self._log.setdefault(kind, []).append({"stream": stream, "asked": page, "served": page + delta})
                return delta
        return 0


# --------------------------------------------------------------------------- HTTP admin


def admin_router(faults: DataFaults) -> APIRouter:
    """`GET|POST|DELETE /_sandbox/data-faults` for a sandbox's FastAPI app."""
    router = APIRouter()

    @router.get("/_sandbox/data-faults")
    async def listing() -> dict[str, Any]:
        return faults.snapshot()

    @router.post("/_sandbox/data-faults")
    async def add(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "body must be JSON") from None
        specs = body if isinstance(body, list) else [body]
        try:
            for spec in specs:
                if not isinstance(spec, dict) or "kind" not in spec:
                    raise ValueError('each fault is an object with a "kind"')
                values = {k: v for k, v in spec.items() if k != "kind"}
                faults._put(parse_setting(str(spec["kind"]), values))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return faults.snapshot()

    @router.delete("/_sandbox/data-faults")
    async def clear(kind: str | None = None) -> Response:
        if kind is None:
            faults.clear()
        else:
            try:
                faults.remove(kind)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        return Response(status_code=204)

    return router


def install(app: Any, streams: Iterable[StreamSpec], *, seed: int, faults: Mapping[str, Any] | None) -> DataFaults:
    """Attach a registry to `app.state.data_faults` and mount its admin routes."""
    registry = DataFaults(streams, seed=seed, faults=faults)
    app.state.data_faults = registry
    app.include_router(admin_router(registry))
    return registry
