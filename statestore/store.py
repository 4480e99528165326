"""StateStore: the only API the rest of learnsync uses to read/write sync state.

Every method is synchronous, runs one short transaction and returns plain
dicts / pandas DataFrames. Datetimes are tz-aware UTC. Free text (run errors, outcome and
quarantine reasons) is stored with secrets masked (learnsync.core.redaction).
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, Text, cast, delete, func, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from learnsync.core.redaction import redact
from learnsync.statestore.bulk_rows import driver_connection, insert_rows, stamp, stamps, upsert_rows
from learnsync.statestore.db import get_engine, make_read_only_engine, schema_state, upgrade
from learnsync.statestore.leases import RunLeases
from learnsync.statestore.models import (
    BULK_OPERATIONS,
    BULK_STATUSES,
    COURSE_ACTIONS,
    ITEM_KINDS,
    OUTCOMES,
    PARK_REASONS,
    RUN_KINDS,
    RUN_STATUSES,
    BulkJob,
    CourseState,
    Integration,
    ItemOutcome,
    MappedChunk,
    ParkedStat,
    QuarantineItem,
    RunKind,
    StatAttempt,
    SyncRun,
    Watermark,
    as_utc,
    utcnow,
)

ENV_URL = "LEARNSYNC_DATABASE_URL"
COURSE_COLUMNS = [
    "external_id", "course_id", "status", "archived_reason", "payload_hash", "tags", "skills",
]
ATTEMPT_COLUMNS = [
    "course_external_id", "user_email", "first_activity_at", "attempt_no", "completed", "payload_hash",
]
PARKED_COLUMNS = [
    "course_external_id", "user_email", "progress", "time_spent_ms", "first_activity_at", "last_activity_at", "completed_at",
]
OUTCOME_COLUMNS = ["kind", "external_id", "outcome", "field", "reason", "created_at"]
QUARANTINE_COLUMNS = [
    "integration_pk", "provider", "platform", "kind", "external_id", "field", "reason",
    "first_seen_at", "last_seen_at",
]
INTEGRATION_FIELDS = frozenset(c.key for c in inspect(Integration).columns) - {
    "id", "provider", "platform", "created_at", "updated_at",
}
COURSE_FIELDS = (
    "course_id", "status", "archived_reason", "payload_hash", "payload", "extra", "tags", "skills",
)
_CHUNK = 5_000
_ATTEMPT_KEY = ("integration_pk", "course_external_id", "user_email", "first_activity_at")
_ATTEMPT_UPDATE = ("completed", "payload_hash", "last_sent_at")
_ATTEMPT_WRITE = (*_ATTEMPT_KEY, "attempt_no", *_ATTEMPT_UPDATE)
_OUTCOME_WRITE = ("run_pk", "kind", "external_id", "outcome", "field", "reason", "created_at")
_PAIRS_PER_QUERY = 400  # (course, e-mail) pairs per IN list: 800 parameters, far below SQLite's limit


def default_url() -> str:
    """``$LEARNSYNC_DATABASE_URL`` or ``sqlite:///.learnsync/state.db`` under the cwd (folder created)."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    folder = Path.cwd() / ".learnsync"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'state.db'}"


def _chunks(rows: Sequence[dict[str, Any]], size: int = _CHUNK) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _driver_rows(conn: Connection, statement: Any) -> list[tuple[Any, ...]]:
    """The rows of a SELECT as the driver's own tuples: no SQLAlchemy Row per row (a third of the
    time to load 50,000 courses). Only for statements whose bound values are plain literals
    (integers here) and whose columns need no result processing (text, numbers)."""
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _decoded_json(texts: pd.Series) -> pd.Series:
    """JSON text cells decoded (SQL NULL and JSON null both give None). A text seen before is
    decoded once when it holds a flat list (tags, skills: each row gets its own copy); other
    values are decoded row by row, so no two rows share a mutable object."""
    decoded: dict[str, Any] = {}
    out: list[Any] = []
    for cell in texts.tolist():
        if not isinstance(cell, str):  # SQL NULL (None, or NaN once pandas typed the column)
            out.append(None)
            continue
        value = decoded.get(cell)
        if value is None:
            value = json.loads(cell)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                decoded[cell] = value
        out.append(value[:] if isinstance(value, list) else value)
    return pd.Series(out, index=texts.index, dtype=object)


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """DataFrame of object columns, so missing values stay ``None`` (not NaN) under pandas 3."""
    # Plain tuples: pandas probes each SQLAlchemy Row for attributes, and a Row answers every
    # unknown name with a caught exception (a third of a 50,000-row load).
    first = rows[0] if rows else None
    records = list(rows) if isinstance(first, (dict, tuple)) else [tuple(r) for r in rows]
    return pd.DataFrame.from_records(records, columns=columns).astype(object)


def _utc_series(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True) if len(s) else s.astype("datetime64[ns, UTC]")


@functools.lru_cache(maxsize=16)
def _attempts_for_sql(n: int, marker: str) -> str:
    """Attempts of n (course, e-mail) pairs: a joined VALUES list walks the unique key index pair
    by pair (an IN list of row values scans the integration's rows instead). Driver SQL with
    positional markers (each pair, then the integration), the same on SQLite and PostgreSQL."""
    pairs = ", ".join(f"({marker}, {marker})" for _ in range(n))
    columns = ", ".join(f"s.{c}" for c in ATTEMPT_COLUMNS)
    return (
        f"WITH wanted(c, u) AS (VALUES {pairs}) SELECT {columns} FROM wanted JOIN stat_attempts s "
        f"ON s.integration_pk = {marker} AND s.course_external_id = wanted.c AND s.user_email = wanted.u"
    )


def _attempts_frame(rows: Sequence[Any]) -> pd.DataFrame:
    df = _frame(rows, ATTEMPT_COLUMNS)
    df["first_activity_at"] = _utc_series(df["first_activity_at"])
    df["attempt_no"] = df["attempt_no"].astype("int64")
    df["completed"] = df["completed"].astype(bool)
    return df


def _redacted(text: Any) -> Any:
    """Free text bound for the store, secrets masked (a reason may quote an API's answer)."""
    return redact(text) if isinstance(text, str) else text


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"invalid {what} {value!r}; expected one of {sorted(allowed)}")


class StateStore:
    """Sync state persisted in SQLite (default) or PostgreSQL; migrates to head on construction."""

    default_url = staticmethod(default_url)

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        self.engine: Engine = get_engine(self.url)
        upgrade(self.engine)
        self.leases = RunLeases(self.engine)  # one run per (provider, platform, kind) at a time

    @classmethod
    def read_only(cls, url: str) -> StateStore:
        """A store that only reads: no migration, no file or folder created (see `schema_state`)."""
        store = cls.__new__(cls)
        store.url = url
        store.engine = make_read_only_engine(url)
        return store

    def schema_state(self) -> tuple[str, str | None, str | None]:
        """("current" | "older" | "newer" | "empty", database revision, expected revision)."""
        return schema_state(self.engine)

    # -- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            yield conn

    def _upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        keys: Sequence[str],
        update_cols: Iterable[str],
        coalesce_cols: Iterable[str] = (),
    ) -> None:
        """``INSERT .. ON CONFLICT (keys) DO UPDATE`` (executemany); rows must share one key set."""
        if not rows:
            return
        name = conn.dialect.name
        if name == "sqlite":
            stmt: Any = sqlite.insert(table)
        elif name == "postgresql":
            stmt = postgresql.insert(table)
        else:  # pragma: no cover
            raise NotImplementedError(f"upsert not supported on {name}")
        set_: dict[str, Any] = {c: stmt.excluded[c] for c in update_cols}
        for c in coalesce_cols:  # keep the existing value when already set
            set_[c] = func.coalesce(table.c[c], stmt.excluded[c])
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=set_) if set_ else (
            stmt.on_conflict_do_nothing(index_elements=list(keys))
        )
        for chunk in _chunks(rows):
            conn.execute(stmt, list(chunk))

    # -- integrations -------------------------------------------------------------------------
    def get_integration(self, provider: str, platform: str = "default") -> dict[str, Any] | None:
        """Integration for (provider, platform) or None."""
        t = Integration.__table__
        with self._read() as conn:
            row = conn.execute(
                select(t).where(t.c.provider == provider, t.c.platform == platform)
            ).mappings().first()
        return dict(row) if row else None

    def get_integration_by_pk(self, pk: int) -> dict[str, Any] | None:
        """Integration by primary key or None."""
        t = Integration.__table__
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.id == pk)).mappings().first()
        return dict(row) if row else None

    def upsert_integration(self, provider: str, platform: str = "default", **fields: Any) -> dict[str, Any]:
        """Create or update an integration; unknown fields raise ``TypeError`` (no secrets here)."""
        self._check_integration_fields(fields)
        t = Integration.__table__
        now = utcnow()
        with self._write() as conn:
            pk = conn.execute(
                select(t.c.id).where(t.c.provider == provider, t.c.platform == platform)
            ).scalar()
            if pk is None:
                values = {
                    "options": {}, "filters": {}, "active": True, "external_platform": provider,
                    "group_id": "", "author_id": "", **fields,
                    "provider": provider, "platform": platform, "created_at": now, "updated_at": now,
                }
                pk = conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one()
            elif fields:
                conn.execute(update(t).where(t.c.id == pk).values(**fields, updated_at=now))
        result = self.get_integration_by_pk(pk)
        assert result is not None
        return result

    def set_integration_fields(self, pk: int, **fields: Any) -> dict[str, Any]:
        """Update some fields of integration ``pk``; returns the integration."""
        self._check_integration_fields(fields)
        t = Integration.__table__
        with self._write() as conn:
            n = conn.execute(update(t).where(t.c.id == pk).values(**fields, updated_at=utcnow())).rowcount
        if not n:
            raise KeyError(f"integration {pk} not found")
        result = self.get_integration_by_pk(pk)
        assert result is not None
        return result

    def set_filters(self, pk: int, filters: dict[str, Any]) -> dict[str, Any]:
        """Replace the integration's filters; returns the integration."""
        return self.set_integration_fields(pk, filters=dict(filters))

    def list_integrations(self) -> list[dict[str, Any]]:
        """All integrations ordered by provider, platform."""
        t = Integration.__table__
        with self._read() as conn:
            rows = conn.execute(select(t).order_by(t.c.provider, t.c.platform)).mappings().all()
        return [dict(r) for r in rows]

    @staticmethod
    def _check_integration_fields(fields: dict[str, Any]) -> None:
        unknown = set(fields) - INTEGRATION_FIELDS
        if unknown:
            raise TypeError(f"unknown integration fields: {sorted(unknown)}")

    # -- courses ------------------------------------------------------------------------------
    def load_courses(self, integration_pk: int, with_extra: bool = False) -> pd.DataFrame:
        """Known courses of an integration: one SELECT into a DataFrame (``COURSE_COLUMNS``, + ``extra``)."""
        t = CourseState.__table__
        columns = COURSE_COLUMNS + (["extra"] if with_extra else [])
        # JSON columns come back as text (the driver's own rows carry no SQLAlchemy decoding);
        # a catalog of 50,000 courses holds a handful of distinct tag and skill lists.
        as_text = {"tags", "skills", "extra"} & set(columns)
        selected = [cast(t.c[c], Text).label(c) if c in as_text else t.c[c] for c in columns]
        with self._read() as conn:
            rows = _driver_rows(conn, select(*selected).where(t.c.integration_pk == integration_pk))
        frame = _frame(rows, columns)
        for column in as_text:
            frame[column] = _decoded_json(frame[column])
        return frame

    def course_external_ids(self, integration_pk: int) -> set[str]:
        """The external ids of the courses this integration holds state for (one column read)."""
        t = CourseState.__table__
        with self._read() as conn:
            rows = _driver_rows(conn, select(t.c.external_id).where(t.c.integration_pk == integration_pk))
        return {str(r[0]) for r in rows}

    def load_course_payloads(self, integration_pk: int) -> dict[str, Any]:
        """external_id -> the payload last confirmed by 360Learning (reconcile compares with it)."""
        t = CourseState.__table__
        with self._read() as conn:
            rows = conn.execute(select(t.c.external_id, t.c.payload).where(t.c.integration_pk == integration_pk)).all()
        return {ext: payload for ext, payload in rows}

    def get_course(self, integration_pk: int, external_id: str) -> dict[str, Any] | None:
        """Full state row of one course (incl. payload, extra and timestamps) or None."""
        t = CourseState.__table__
        with self._read() as conn:
            row = conn.execute(
                select(t).where(t.c.integration_pk == integration_pk, t.c.external_id == external_id)
            ).mappings().first()
        return dict(row) if row else None

    def course_payloads(self, integration_pk: int, external_ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """The payload 360Learning last confirmed for each of these courses (read-only)."""
        t = CourseState.__table__
        ids = list(dict.fromkeys(map(str, external_ids)))
        out: dict[str, dict[str, Any] | None] = {}
        with self._read() as conn:
            for i in range(0, len(ids), 500):
                q = select(t.c.external_id, t.c.payload).where(
                    t.c.integration_pk == integration_pk, t.c.external_id.in_(ids[i : i + 500])
                )
                out.update({r.external_id: r.payload for r in conn.execute(q)})
        return out

    def apply_course_results(
        self, integration_pk: int, rows: Sequence[dict[str, Any]], now: datetime | None = None
    ) -> int:
        """Upsert results confirmed by 360Learning; returns the number of rows written.

        ``action``: created (first_synced_at), updated, archived (status archived, archived_at),
        restored (status active, reason cleared, restored_at) or tags. Every action sets
        last_synced_at; columns absent from a row are left untouched.
        """
        now = as_utc(now) or utcnow()
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            action = row.get("action")
            _check(str(action), COURSE_ACTIONS, "course action")
            rec = {k: row[k] for k in COURSE_FIELDS if k in row}
            rec.update(integration_pk=integration_pk, external_id=row["external_id"], last_synced_at=now)
            rec["first_synced_at"] = now  # only kept when the row has none yet (coalesce)
            if action == "created":
                rec.setdefault("status", "active")
                rec.setdefault("archived_reason", None)
            elif action == "archived":
                rec["status"] = "archived"
                rec.setdefault("archived_reason", None)
                rec["archived_at"] = now
            elif action == "restored":
                rec["status"] = "active"
                rec["archived_reason"] = None
                rec["restored_at"] = now
            groups[tuple(sorted(rec))].append(rec)
        t = CourseState.__table__
        keys = ("integration_pk", "external_id")
        with self._write() as conn:
            for cols, group in groups.items():
                upd = [c for c in cols if c not in keys and c != "first_synced_at"]
                self._upsert(conn, t, group, keys, upd, coalesce_cols=("first_synced_at",))
        return len(rows)

    # -- stats --------------------------------------------------------------------------------
    def load_attempts(self, integration_pk: int) -> pd.DataFrame:
        """All recorded stat attempts (``ATTEMPT_COLUMNS``; first_activity_at is UTC)."""
        t = StatAttempt.__table__
        with self._read() as conn:
            rows = conn.execute(
                select(*(t.c[c] for c in ATTEMPT_COLUMNS)).where(t.c.integration_pk == integration_pk)
            ).all()
        return _attempts_frame(rows)

    load_open_attempts = load_attempts

    def load_attempts_for(self, integration_pk: int, pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
        """Recorded attempts of the given (course_external_id, user_email) pairs only.

        A stats chunk reads what it needs this way, so its memory and time do not grow with
        the integration's whole history (``load_attempts`` reads everything).
        """
        wanted = list(dict.fromkeys(pairs))
        rows: list[Any] = []
        if not wanted:
            return _attempts_frame(rows)
        with self._read() as conn:
            marker = "?" if conn.dialect.name == "sqlite" else "%s"
            cursor = driver_connection(conn).cursor()
            try:
                for start in range(0, len(wanted), _PAIRS_PER_QUERY):
                    part = wanted[start : start + _PAIRS_PER_QUERY]
                    params: list[Any] = [v for pair in part for v in pair]
                    params.append(integration_pk)
                    cursor.execute(_attempts_for_sql(len(part), marker), params)
                    rows.extend(cursor.fetchall())
            finally:
                cursor.close()
        return _attempts_frame(rows)

    def apply_stat_results(
        self, integration_pk: int, rows: Sequence[dict[str, Any]], now: datetime | None = None
    ) -> int:
        """Upsert sent attempts by (course_external_id, user_email, first_activity_at).

        Rows need course_external_id, user_email, first_activity_at, payload_hash and optionally
        completed / attempt_no. A missing attempt_no on a new attempt is computed as the next
        number for that course+user; an existing attempt keeps its number.
        """
        now = as_utc(now) or utcnow()
        recs = [
            {
                "integration_pk": integration_pk,
                "course_external_id": r["course_external_id"],
                "user_email": r["user_email"],
                "first_activity_at": as_utc(r["first_activity_at"]),
                "attempt_no": r.get("attempt_no"),
                "completed": bool(r.get("completed", False)),
                "payload_hash": r["payload_hash"],
                "last_sent_at": now,
            }
            for r in rows
        ]
        if not recs:
            return 0
        with self._write() as conn:
            if any(r["attempt_no"] is None for r in recs):
                self._number_attempts(conn, integration_pk, recs)
            dialect = conn.dialect.name
            sent = stamp(now, dialect)
            tuples = [
                (integration_pk, r["course_external_id"], r["user_email"], stamp(r["first_activity_at"], dialect),
                 int(r["attempt_no"]), r["completed"], r["payload_hash"], sent)
                for r in recs
            ]
            upsert_rows(conn, StatAttempt.__table__, _ATTEMPT_WRITE, tuples, _ATTEMPT_KEY, _ATTEMPT_UPDATE)
        return len(recs)

    def apply_stat_frame(self, integration_pk: int, frame: pd.DataFrame, now: datetime | None = None) -> int:
        """`apply_stat_results` for confirmed attempts held in columns (course_external_id,
        user_email, first_activity_at, attempt_no, completed, payload_hash), every attempt
        numbered: a bulk job's ten thousand rows go to the driver without a dict per row."""
        if not len(frame):
            return 0
        now = as_utc(now) or utcnow()
        with self._write() as conn:
            dialect = conn.dialect.name
            columns = [
                [integration_pk] * len(frame),
                frame["course_external_id"].astype(str).tolist(),
                frame["user_email"].astype(str).tolist(),
                stamps(frame["first_activity_at"], dialect),
                pd.to_numeric(frame["attempt_no"]).astype("int64").tolist(),
                frame["completed"].astype(bool).tolist(),
                frame["payload_hash"].astype(str).tolist(),
                [stamp(now, dialect)] * len(frame),
            ]
            upsert_rows(conn, StatAttempt.__table__, _ATTEMPT_WRITE, list(zip(*columns)), _ATTEMPT_KEY, _ATTEMPT_UPDATE)
        return len(frame)

    @staticmethod
    def _number_attempts(conn: Connection, integration_pk: int, recs: list[dict[str, Any]]) -> None:
        t = StatAttempt.__table__
        existing: dict[tuple[str, str], dict[datetime, int]] = defaultdict(dict)
        q = select(t.c.course_external_id, t.c.user_email, t.c.first_activity_at, t.c.attempt_no).where(
            t.c.integration_pk == integration_pk
        )
        for course, email, first, no in conn.execute(q):
            existing[(course, email)][as_utc(first)] = no
        for rec in sorted(recs, key=lambda r: r["first_activity_at"]):
            known = existing[(rec["course_external_id"], rec["user_email"])]
            if rec["first_activity_at"] in known:
                rec["attempt_no"] = known[rec["first_activity_at"]]
            elif rec["attempt_no"] is None:
                rec["attempt_no"] = max(known.values(), default=0) + 1
            known.setdefault(rec["first_activity_at"], rec["attempt_no"])

    # -- parked statistics ----------------------------------------------------------------------
    def park_stats(
        self, integration_pk: int, rows: pd.DataFrame, reason: str, detail: str | None = None, now: datetime | None = None
    ) -> int:
        """Keep mapped activity rows (``PARKED_COLUMNS``) until 360Learning takes them.

        A row is keyed by its attempt (course, learner, first activity else last activity else
        completion); parking it again replaces its values (the newer read wins) and keeps when it
        was first parked. Rows without any date are not kept (they can never be sent). Returns
        the rows kept.
        """
        _check(reason, PARK_REASONS, "park reason")
        if not len(rows):
            return 0
        now = as_utc(now) or utcnow()
        dates = {c: _utc_series(rows[c]) if c in rows.columns else pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns, UTC]")
                 for c in ("first_activity_at", "last_activity_at", "completed_at")}
        attempt_at = dates["first_activity_at"].fillna(dates["last_activity_at"]).fillna(dates["completed_at"])

        def stamp(value: Any) -> datetime | None:
            return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()

        def number(value: Any, kind: type) -> Any:
            return None if value is None or pd.isna(value) else kind(value)

        progress = rows["progress"] if "progress" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
        spent = rows["time_spent_ms"] if "time_spent_ms" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
        recs = []
        for c, u, at, p, t, f, la, done in zip(
            rows["course_external_id"].astype(str), rows["user_email"].astype(str), attempt_at, progress, spent,
            dates["first_activity_at"], dates["last_activity_at"], dates["completed_at"],
        ):
            if pd.isna(at):
                continue
            recs.append({
                "integration_pk": integration_pk, "course_external_id": c, "user_email": u, "attempt_at": stamp(at),
                "progress": number(pd.to_numeric(p, errors="coerce"), float), "time_spent_ms": number(pd.to_numeric(t, errors="coerce"), int),
                "first_activity_at": stamp(f), "last_activity_at": stamp(la), "completed_at": stamp(done),
                "reason": reason, "detail": detail, "tries": 0, "parked_at": now, "last_seen_at": now,
            })
        keys = ("integration_pk", "course_external_id", "user_email", "attempt_at")
        values = ("progress", "time_spent_ms", "first_activity_at", "last_activity_at", "completed_at", "reason", "detail", "last_seen_at")
        with self._write() as conn:
            self._upsert(conn, ParkedStat.__table__, recs, keys, values)
        return len(recs)

    def parked_stats(self, integration_pk: int, courses: Iterable[str] | None = None) -> pd.DataFrame:
        """Parked rows (``PARKED_COLUMNS`` + id, reason, detail, tries, parked_at), oldest attempt
        first; only those of `courses` when given."""
        t = ParkedStat.__table__
        columns = ["id", *PARKED_COLUMNS, "attempt_at", "reason", "detail", "tries", "parked_at"]
        q = select(*(t.c[c] for c in columns)).where(t.c.integration_pk == integration_pk).order_by(t.c.attempt_at, t.c.id)
        wanted = None if courses is None else set(courses)
        with self._read() as conn:
            rows = [r for r in conn.execute(q).all() if wanted is None or r[1] in wanted]
        frame = _frame([tuple(r) for r in rows], columns)
        for c in ("first_activity_at", "last_activity_at", "completed_at", "attempt_at", "parked_at"):
            frame[c] = _utc_series(frame[c])
        for c, kind in (("progress", "float64"), ("time_spent_ms", "Int64"), ("tries", "int64"), ("id", "int64")):
            frame[c] = pd.to_numeric(frame[c]).astype(kind) if len(frame) else frame[c].astype(kind)
        return frame

    def unpark_stats(self, ids: Iterable[int]) -> int:
        """Forget parked rows (delivered, or rejected for good)."""
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        t = ParkedStat.__table__
        with self._write() as conn:
            return sum(conn.execute(delete(t).where(t.c.id.in_(part))).rowcount for part in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)))

    def retry_parked_stats(self, ids: Iterable[int], detail: str | None, now: datetime | None = None) -> int:
        """Count one more delivery attempt of parked rows that 360Learning did not take again."""
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        now = as_utc(now) or utcnow()
        t = ParkedStat.__table__
        with self._write() as conn:
            return sum(
                conn.execute(
                    update(t).where(t.c.id.in_(ids[i : i + _CHUNK])).values(
                        tries=t.c.tries + 1, detail=detail, reason="undelivered", last_seen_at=now
                    )
                ).rowcount
                for i in range(0, len(ids), _CHUNK)
            )

    def has_parked_stats(self, integration_pk: int) -> bool:
        """Whether any activity row of this integration is parked (one indexed probe)."""
        t = ParkedStat.__table__
        with self._read() as conn:
            return conn.execute(select(t.c.id).where(t.c.integration_pk == integration_pk).limit(1)).first() is not None

    def unpark_superseded(self, integration_pk: int, delivered: Iterable[tuple[str, str, Any]]) -> int:
        """Forget parked rows of (course, learner) pairs at or before an attempt just delivered:
        360Learning holds newer data for them, and an older attempt sent now would overwrite it."""
        t = ParkedStat.__table__
        if not self.has_parked_stats(integration_pk):
            return 0  # the common case: nothing parked, nothing to compare
        newest: dict[tuple[str, str], datetime] = {}
        for course, email, at in delivered:
            if at is None or pd.isna(at):
                continue
            stamp = as_utc(pd.Timestamp(at).to_pydatetime())
            key = (course, email)
            if key not in newest or stamp > newest[key]:
                newest[key] = stamp
        if not newest:
            return 0
        removed = 0
        courses = sorted({c for c, _ in newest})
        with self._write() as conn:
            parked: list[tuple[int, str, str, datetime]] = []  # id, course, e-mail, attempt_at
            for start in range(0, len(courses), _CHUNK):
                q = select(t.c.id, t.c.course_external_id, t.c.user_email, t.c.attempt_at).where(
                    t.c.integration_pk == integration_pk, t.c.course_external_id.in_(courses[start : start + _CHUNK])
                )
                parked.extend(conn.execute(q).all())
            gone = [i for i, c, u, at in parked if (c, u) in newest and as_utc(at) <= newest[(c, u)]]
            for start in range(0, len(gone), _CHUNK):
                removed += conn.execute(delete(t).where(t.c.id.in_(gone[start : start + _CHUNK]))).rowcount
        return removed

    def parked_counts(self, integration_pk: int) -> dict[str, int]:
        """Parked rows per reason."""
        t = ParkedStat.__table__
        q = select(t.c.reason, func.count()).where(t.c.integration_pk == integration_pk).group_by(t.c.reason)
        with self._read() as conn:
            return {reason: int(n) for reason, n in conn.execute(q)}

    # -- watermarks ---------------------------------------------------------------------------
    def get_watermark(self, integration_pk: int, stream: str = "stats") -> datetime | None:
        """Watermark value (UTC) or None."""
        t = Watermark.__table__
        with self._read() as conn:
            return conn.execute(
                select(t.c.value).where(t.c.integration_pk == integration_pk, t.c.stream == stream)
            ).scalar()

    def set_watermark(self, integration_pk: int, stream: str, value: datetime) -> None:
        """Create or move a watermark."""
        row = {"integration_pk": integration_pk, "stream": stream, "value": value, "updated_at": utcnow()}
        with self._write() as conn:
            self._upsert(conn, Watermark.__table__, [row], ("integration_pk", "stream"), ("value", "updated_at"))

    # -- runs ---------------------------------------------------------------------------------
    def start_run(
        self,
        provider: str,
        platform: str,
        kind: RunKind | str,
        dry_run: bool = False,
        params: dict[str, Any] | None = None,
        flow_run_id: str | None = None,
    ) -> int:
        """Record a new running run; returns its pk."""
        kind = kind.value if isinstance(kind, RunKind) else kind
        _check(kind, RUN_KINDS, "run kind")
        t = SyncRun.__table__
        values = {
            "run_uuid": str(uuid.uuid4()), "flow_run_id": flow_run_id and str(flow_run_id),
            "provider": provider, "platform": platform, "kind": kind, "status": "running",
            "dry_run": dry_run, "params": params or {}, "counts": {}, "started_at": utcnow(),
        }
        with self._write() as conn:
            return int(conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one())

    def finish_run(
        self, run_pk: int, status: str, counts: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Close a run with its final status, counts and error text."""
        _check(status, RUN_STATUSES, "run status")
        t = SyncRun.__table__
        with self._write() as conn:
            conn.execute(
                update(t).where(t.c.id == run_pk).values(
                    status=status, counts=counts or {}, error=redact(error) if error else error, ended_at=utcnow()
                )
            )

    def mark_crashed_runs(self, provider: str, platform: str, kinds: Sequence[str], found_by: str) -> list[int]:
        """Close the runs of (provider, platform, one of `kinds`) still 'running' as 'crashed'.

        Only for a caller that holds the run lease of that provider, platform and kind: no
        other run of theirs can then be going, so a row still running belongs to a run that
        died. Returns the pks marked.
        """
        t = SyncRun.__table__
        where = (
            t.c.provider == provider, t.c.platform == platform, t.c.kind.in_(list(kinds)),
            t.c.status == "running", t.c.dry_run.is_(False),
        )
        error = f"the run stopped without finishing (its process ended); found by {found_by}"
        with self._write() as conn:
            pks = [int(pk) for pk in conn.execute(select(t.c.id).where(*where)).scalars()]
            if pks:
                conn.execute(update(t).where(t.c.id.in_(pks)).values(status="crashed", error=error, ended_at=utcnow()))
        return pks

    def add_outcomes(self, run_pk: int, outcomes: Sequence[dict[str, Any]]) -> int:
        """Bulk insert per-item outcomes (keys: kind, external_id, outcome, field, reason)."""
        if not outcomes:
            return 0
        for name in {o["outcome"] for o in outcomes}:
            _check(name, OUTCOMES, "outcome")
        for name in {o["kind"] for o in outcomes}:
            _check(name, ITEM_KINDS, "item kind")
        now = utcnow()
        with self._write() as conn:
            created = stamp(now, conn.dialect.name)
            rows = [
                (run_pk, o["kind"], str(o["external_id"]), o["outcome"], o.get("field"), _redacted(o.get("reason")), created)
                for o in outcomes
            ]
            insert_rows(conn, ItemOutcome.__table__, _OUTCOME_WRITE, rows)
        return len(rows)

    def get_run(self, run_pk: int) -> dict[str, Any] | None:
        """One run as a dict, or None."""
        t = SyncRun.__table__
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.id == run_pk)).mappings().first()
        return dict(row) if row else None

    def list_runs(
        self, limit: int = 20, provider: str | None = None, kind: str | None = None,
        platform: str | None = None, since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Most recent runs first (those started at or after `since`, when given)."""
        t = SyncRun.__table__
        q = select(t).order_by(t.c.started_at.desc(), t.c.id.desc()).limit(limit)
        if provider:
            q = q.where(t.c.provider == provider)
        if kind:
            q = q.where(t.c.kind == kind)
        if platform:
            q = q.where(t.c.platform == platform)
        if since is not None:
            q = q.where(t.c.started_at >= since)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    def last_successful_run(self, provider: str, platform: str, kind: str) -> dict[str, Any] | None:
        """Latest non-dry run that ended completed / completed_with_errors, or None."""
        return self.last_run(provider, platform, kind, statuses=("completed", "completed_with_errors"))

    def last_run(
        self, provider: str, platform: str, kind: str, statuses: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        """Latest non-dry run (among `statuses`, if given; a run still going counts as "running"), or None."""
        t = SyncRun.__table__
        q = (
            select(t)
            .where(t.c.provider == provider, t.c.platform == platform, t.c.kind == kind, t.c.dry_run.is_(False))
            .order_by(t.c.started_at.desc(), t.c.id.desc())
            .limit(1)
        )
        if statuses is not None:
            q = q.where(t.c.status.in_(list(statuses)))
        with self._read() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def run_outcomes(self, run_pk: int) -> pd.DataFrame:
        """Outcomes of a run (``OUTCOME_COLUMNS``)."""
        t = ItemOutcome.__table__
        with self._read() as conn:
            rows = conn.execute(
                select(*(t.c[c] for c in OUTCOME_COLUMNS)).where(t.c.run_pk == run_pk).order_by(t.c.id)
            ).all()
        df = _frame(rows, OUTCOME_COLUMNS)
        df["created_at"] = _utc_series(df["created_at"])
        return df

    # -- quarantine ---------------------------------------------------------------------------
    def quarantine(
        self, integration_pk: int, kind: str, items: Sequence[dict[str, Any]], now: datetime | None = None
    ) -> int:
        """Upsert quarantined items (external_id, field, reason): bumps last_seen_at, reopens."""
        _check(kind, ITEM_KINDS, "item kind")
        now = as_utc(now) or utcnow()
        recs = [
            {
                "integration_pk": integration_pk, "kind": kind, "external_id": str(i["external_id"]),
                "field": i.get("field") or "", "reason": _redacted(i.get("reason")),
                "first_seen_at": now, "last_seen_at": now, "resolved_at": None,
            }
            for i in items
        ]
        keys = ("integration_pk", "kind", "external_id", "field")
        with self._write() as conn:
            self._upsert(
                conn, QuarantineItem.__table__, recs, keys, ("reason", "last_seen_at", "resolved_at")
            )
        return len(recs)

    def resolve_quarantine(
        self, integration_pk: int, kind: str, external_ids: Iterable[str], now: datetime | None = None
    ) -> int:
        """Mark open quarantine entries (all fields) of these items resolved; returns rows changed."""
        now = as_utc(now) or utcnow()
        t = QuarantineItem.__table__
        open_now = t.c.integration_pk == integration_pk, t.c.kind == kind, t.c.resolved_at.is_(None)
        with self._read() as conn:
            quarantined = set(conn.execute(select(t.c.external_id).where(*open_now)).scalars())
        # Few items are ever quarantined: only those among `external_ids` are updated (a catalog
        # of 50,000 courses does not send 50,000 ids to the database each run).
        ids = [e for e in map(str, external_ids) if e in quarantined] if quarantined else []
        n = 0
        with self._write() as conn:
            for i in range(0, len(ids), 500):
                n += conn.execute(
                    update(t)
                    .where(
                        t.c.integration_pk == integration_pk, t.c.kind == kind,
                        t.c.external_id.in_(ids[i : i + 500]), t.c.resolved_at.is_(None),
                    )
                    .values(resolved_at=now)
                ).rowcount
        return n

    def open_quarantine_keys(self, integration_pk: int, kind: str) -> set[tuple[str, str, str]]:
        """(external_id, field, reason) of this integration's unresolved quarantine of one item kind."""
        t = QuarantineItem.__table__
        q = select(t.c.external_id, t.c.field, t.c.reason).where(
            t.c.integration_pk == integration_pk, t.c.kind == kind, t.c.resolved_at.is_(None)
        )
        with self._read() as conn:
            return {(str(e), f or "", r or "") for e, f, r in conn.execute(q)}

    def open_quarantine(self, integration_pk: int | None = None) -> pd.DataFrame:
        """Unresolved quarantine entries (``QUARANTINE_COLUMNS``; field None when not field-specific)."""
        q_t, i_t = QuarantineItem.__table__, Integration.__table__
        cols = [i_t.c.provider, i_t.c.platform] + [
            q_t.c[c] for c in QUARANTINE_COLUMNS if c not in ("provider", "platform")
        ]
        q = (
            select(*cols)
            .join_from(q_t, i_t, q_t.c.integration_pk == i_t.c.id)
            .where(q_t.c.resolved_at.is_(None))
            .order_by(q_t.c.integration_pk, q_t.c.kind, q_t.c.external_id, q_t.c.field)
        )
        if integration_pk is not None:
            q = q.where(q_t.c.integration_pk == integration_pk)
        with self._read() as conn:
            rows = conn.execute(q).mappings().all()
        df = _frame([dict(r) for r in rows], QUARANTINE_COLUMNS)
        df["field"] = pd.Series([f or None for f in df["field"]], index=df.index, dtype=object)
        df["integration_pk"] = df["integration_pk"].astype("int64")
        for c in ("first_seen_at", "last_seen_at"):
            df[c] = _utc_series(df[c])
        return df

    # -- bulk jobs ----------------------------------------------------------------------------
    def record_bulk_job(
        self,
        integration_pk: int,
        run_pk: int | None,
        operation: str,
        bulk_operation_id: str,
        items: list[Any],
    ) -> int:
        """Record a bulk operation accepted by 360Learning (status submitted); returns its pk."""
        _check(operation, BULK_OPERATIONS, "bulk operation")
        t = BulkJob.__table__
        values = {
            "integration_pk": integration_pk, "run_pk": run_pk, "operation": operation,
            "bulk_operation_id": bulk_operation_id, "items": list(items), "status": "submitted",
            "submitted_at": utcnow(),
        }
        with self._write() as conn:
            return int(conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one())

    def confirm_bulk_job(self, bulk_operation_id: str, status: str = "confirmed") -> None:
        """Mark a bulk job confirmed (or failed) now."""
        _check(status, BULK_STATUSES - {"submitted"}, "bulk status")
        t = BulkJob.__table__
        with self._write() as conn:
            n = conn.execute(
                update(t).where(t.c.bulk_operation_id == bulk_operation_id)
                .values(status=status, confirmed_at=utcnow())
            ).rowcount
        if not n:
            raise KeyError(f"bulk job {bulk_operation_id!r} not found")

    def pending_bulk_jobs(self, integration_pk: int) -> list[dict[str, Any]]:
        """Bulk jobs still 'submitted' (oldest first) — to resolve after a crashed run."""
        t = BulkJob.__table__
        q = (
            select(t)
            .where(t.c.integration_pk == integration_pk, t.c.status == "submitted")
            .order_by(t.c.submitted_at, t.c.id)
        )
        with self._read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    # -- mapped catalog chunks (a cache: see tasks/mapped_chunks.py) -------------------------------
    def mapped_chunk_index(self, integration_pk: int, stream: str) -> dict[str, dict[str, Any]]:
        """{chunk_key: {"pages": [[digest, next_token], ...], "context_key"}} of a stream, without the blobs."""
        t = MappedChunk.__table__
        q = select(t.c.chunk_key, t.c.pages, t.c.context_key).where(
            t.c.integration_pk == integration_pk, t.c.stream == stream
        )
        with self._read() as conn:
            return {r.chunk_key: {"pages": r.pages, "context_key": r.context_key} for r in conn.execute(q)}

    def mapped_chunk(self, integration_pk: int, stream: str, chunk_key: str) -> bytes | None:
        """The stored mapped chunk's blob, or None."""
        t = MappedChunk.__table__
        q = select(t.c.mapped).where(
            t.c.integration_pk == integration_pk, t.c.stream == stream, t.c.chunk_key == chunk_key
        )
        with self._read() as conn:
            return conn.execute(q).scalar_one_or_none()

    def save_mapped_chunk(
        self, integration_pk: int, stream: str, chunk_key: str, pages: list[list[Any]], context_key: str, mapped: bytes
    ) -> None:
        """Store (or replace) one chunk's mapping."""
        row = {
            "integration_pk": integration_pk, "stream": stream, "chunk_key": chunk_key, "pages": pages,
            "context_key": context_key, "mapped": mapped, "written_at": utcnow(),
        }
        with self._write() as conn:
            self._upsert(
                conn, MappedChunk.__table__, [row], ["integration_pk", "stream", "chunk_key"],
                ["pages", "context_key", "mapped", "written_at"],
            )

    def prune_mapped_chunks(self, integration_pk: int, stream: str, keep: Iterable[str]) -> int:
        """Drop a stream's chunks whose key is not in `keep` (pages the catalog no longer has)."""
        t = MappedChunk.__table__
        keep = list(keep)
        with self._write() as conn:
            return conn.execute(
                delete(t).where(t.c.integration_pk == integration_pk, t.c.stream == stream, t.c.chunk_key.not_in(keep))
            ).rowcount
