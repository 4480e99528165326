"""Behaviour tests of the learnsync state store (SQLite files under tmp_path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from learnsync.statestore.db import current_revision, get_engine, head_revision, upgrade
from learnsync.statestore.models import Base
from learnsync.statestore.store import COURSE_COLUMNS, StateStore, default_url

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "integrations", "course_states", "stat_attempts", "watermarks", "sync_runs",
    "item_outcomes", "quarantine_items", "bulk_jobs", "mapped_chunks",
}




@pytest.fixture
def ipk(store: StateStore) -> int:
    integ = store.upsert_integration(
        "udemy", "default", external_platform="udemy", group_id="g1", author_id="a1",
        options={"tags_sync": True}, filters={"languages": ["en"]},
    )
    return int(integ["id"])


def test_migrations_create_all_tables(store: StateStore, url: str) -> None:
    assert TABLES <= set(inspect(create_engine(url)).get_table_names())
    assert current_revision(store.engine) == head_revision()
    upgrade(url)  # idempotent
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_alembic_head_matches_models(store: StateStore) -> None:
    with store.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(mc, Base.metadata) == []


def test_upgrade_creates_parent_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'dir' / 'state.db'}"
    StateStore(url)
    assert (tmp_path / "deep" / "dir" / "state.db").exists()


def test_default_url_env_and_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNSYNC_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert default_url() == "postgresql+psycopg://u@h/db"
    assert StateStore.default_url() == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("LEARNSYNC_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    assert default_url() == f"sqlite:///{tmp_path / '.learnsync' / 'state.db'}"
    assert (tmp_path / ".learnsync").is_dir()


def test_integrations(store: StateStore, ipk: int) -> None:
    integ = store.get_integration("udemy", "default")
    assert integ is not None and integ["id"] == ipk
    assert integ["active"] is True and integ["options"] == {"tags_sync": True}
    assert integ["created_at"].tzinfo is not None
    assert store.get_integration("coursera", "default") is None

    again = store.upsert_integration("udemy", "default", integration_id="360-id")
    assert again["id"] == ipk and again["integration_id"] == "360-id" and again["group_id"] == "g1"
    assert store.set_filters(ipk, {"languages": ["fr"]})["filters"] == {"languages": ["fr"]}
    assert store.set_integration_fields(ipk, active=False)["active"] is False
    store.upsert_integration("coursera", "default", group_id="g2", author_id="a2")
    assert [i["provider"] for i in store.list_integrations()] == ["coursera", "udemy"]
    with pytest.raises(TypeError):
        store.upsert_integration("udemy", "default", client_secret="nope")


def test_unique_constraints_reject_duplicates(store: StateStore, ipk: int) -> None:
    now = T0.replace(tzinfo=None)
    stmts = [
        "INSERT INTO integrations (provider, platform, external_platform, group_id, author_id,"
        " options, filters, created_at, updated_at)"
        " VALUES ('udemy', 'default', 'x', 'g', 'a', '{}', '{}', :now, :now)",
        f"INSERT INTO course_states (integration_pk, external_id) VALUES ({ipk}, 'c1')",
        f"INSERT INTO stat_attempts (integration_pk, course_external_id, user_email,"
        f" first_activity_at, payload_hash) VALUES ({ipk}, 'c1', 'u@x', :now, 'h')",
        f"INSERT INTO watermarks (integration_pk, stream, value, updated_at)"
        f" VALUES ({ipk}, 'stats', :now, :now)",
        f"INSERT INTO quarantine_items (integration_pk, kind, external_id, field, first_seen_at,"
        f" last_seen_at) VALUES ({ipk}, 'course', 'c1', 'title', :now, :now)",
        f"INSERT INTO bulk_jobs (integration_pk, operation, bulk_operation_id, items, submitted_at)"
        f" VALUES ({ipk}, 'upsert', 'op-1', '[]', :now)",
        "INSERT INTO sync_runs (run_uuid, provider, platform, kind, status, dry_run, params,"
        " counts, started_at) VALUES ('uuid-1', 'udemy', 'default', 'content', 'running',"
        " false, '{}', '{}', :now)",
    ]
    engine = store.engine
    for sql in stmts[1:]:
        with engine.begin() as conn:
            conn.execute(text(sql), {"now": now})
    for sql in stmts:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(sql), {"now": now})


def test_course_round_trip_timestamps(store: StateStore, ipk: int) -> None:
    assert list(store.load_courses(ipk).columns) == COURSE_COLUMNS
    assert store.load_courses(ipk).empty

    payload = {"title": "Python", "externalId": "c1"}
    store.apply_course_results(ipk, [{
        "external_id": "c1", "action": "created", "course_id": "360c1", "payload_hash": "h1",
        "payload": payload, "extra": {"authors": ["Ann"]}, "tags": ["python"], "skills": None,
    }], now=T0)
    c = store.get_course(ipk, "c1")
    assert c is not None
    assert (c["status"], c["course_id"], c["payload"], c["tags"]) == ("active", "360c1", payload, ["python"])
    assert c["first_synced_at"] == T0 and c["last_synced_at"] == T0 and c["archived_at"] is None
    assert c["first_synced_at"].tzinfo is not None and c["skills"] is None

    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    store.apply_course_results(ipk, [{"external_id": "c1", "action": "archived",
                                      "archived_reason": "provider"}], now=t1)
    c = store.get_course(ipk, "c1")
    assert c is not None
    assert (c["status"], c["archived_reason"], c["archived_at"]) == ("archived", "provider", t1)
    assert c["payload_hash"] == "h1" and c["course_id"] == "360c1"  # untouched columns kept

    store.apply_course_results(ipk, [{"external_id": "c1", "action": "restored",
                                      "payload_hash": "h2"}], now=t2)
    c = store.get_course(ipk, "c1")
    assert c is not None
    assert (c["status"], c["archived_reason"], c["restored_at"]) == ("active", None, t2)
    assert c["archived_at"] == t1 and c["first_synced_at"] == T0 and c["payload_hash"] == "h2"

    store.apply_course_results(ipk, [{"external_id": "c1", "action": "tags", "tags": ["py", "ml"]}], now=t3)
    df = store.load_courses(ipk)
    row = df.set_index("external_id").loc["c1"]
    assert row["tags"] == ["py", "ml"] and row["payload_hash"] == "h2" and row["status"] == "active"
    assert store.get_course(ipk, "c1")["first_synced_at"] == T0  # type: ignore[index]

    with pytest.raises(ValueError):
        store.apply_course_results(ipk, [{"external_id": "c1", "action": "deleted"}], now=t3)


def test_loaded_courses_decode_json_columns_into_objects_of_their_own(store: StateStore, ipk: int) -> None:
    rows = [
        {"external_id": f"c{i}", "action": "created", "course_id": f"k{i}", "payload_hash": "h",
         "extra": {"authors": ["Ann"], "filter_lang": "en"}, "tags": ["a"], "skills": ["s"] if i else None}
        for i in range(3)
    ]
    store.apply_course_results(ipk, rows, now=T0)
    df = store.load_courses(ipk, with_extra=True).set_index("external_id")
    assert df.loc["c1", "extra"] == {"authors": ["Ann"], "filter_lang": "en"} and df.loc["c1", "tags"] == ["a"]
    assert df.loc["c0", "skills"] is None and df.loc["c2", "skills"] == ["s"]
    # identical stored values still decode to distinct objects: mutating one row leaves the others
    assert df.loc["c1", "tags"] is not df.loc["c2", "tags"] and df.loc["c1", "extra"] is not df.loc["c2", "extra"]


def test_courses_bulk_20000(store: StateStore, ipk: int) -> None:
    n = 20_000
    rows = [
        {"external_id": f"c{i}", "action": "created", "course_id": f"k{i}", "payload_hash": f"h{i}",
         "payload": {"title": f"t{i}"}, "tags": ["a", "b"]}
        for i in range(n)
    ]
    store.apply_course_results(ipk, rows[:10_000], now=T0)
    store.apply_course_results(ipk, rows[10_000:], now=T0)
    # mixed-shape batch: updates of existing + archives
    store.apply_course_results(ipk, [
        *({"external_id": f"c{i}", "action": "updated", "payload_hash": f"x{i}"} for i in range(5_000)),
        *({"external_id": f"c{i}", "action": "archived", "archived_reason": "missing"}
          for i in range(5_000, 10_000)),
    ], now=T0 + timedelta(hours=1))
    df = store.load_courses(ipk)
    assert len(df) == n and list(df.columns) == COURSE_COLUMNS
    idx = df.set_index("external_id")
    assert idx.loc["c1", "payload_hash"] == "x1"
    assert idx.loc["c6000", "status"] == "archived" and idx.loc["c6000", "archived_reason"] == "missing"
    assert idx.loc["c19999", "tags"] == ["a", "b"]
    assert (df["status"] == "archived").sum() == 5_000


def test_stat_attempts(store: StateStore, ipk: int) -> None:
    df = store.load_attempts(ipk)
    assert df.empty and "first_activity_at" in df.columns
    paris = timezone(timedelta(hours=1))
    a1 = T0.astimezone(paris)  # same instant as T0, other zone
    a2 = T0 + timedelta(days=10)
    store.apply_stat_results(ipk, [
        {"course_external_id": "c1", "user_email": "u@x", "first_activity_at": a2,
         "completed": False, "payload_hash": "p2"},
        {"course_external_id": "c1", "user_email": "u@x", "first_activity_at": a1,
         "completed": False, "payload_hash": "p1"},
        {"course_external_id": "c2", "user_email": "u@x", "first_activity_at": a1,
         "completed": True, "payload_hash": "q1", "attempt_no": 1},
    ], now=T0)
    store.apply_stat_results(ipk, [
        {"course_external_id": "c1", "user_email": "u@x", "first_activity_at": T0,
         "completed": True, "payload_hash": "p1b"},
    ], now=T0 + timedelta(days=11))
    df = store.load_attempts(ipk).sort_values(["course_external_id", "first_activity_at"])
    assert len(df) == 3
    assert str(df["first_activity_at"].dt.tz) == "UTC"
    c1 = df[df.course_external_id == "c1"]
    assert list(c1.attempt_no) == [1, 2]
    assert list(c1.completed) == [True, False] and list(c1.payload_hash) == ["p1b", "p2"]
    assert c1.iloc[0].first_activity_at == pd.Timestamp(T0)
    assert store.load_open_attempts(ipk).shape == (3, 6)


def test_watermarks(store: StateStore, ipk: int) -> None:
    assert store.get_watermark(ipk, "stats") is None
    store.set_watermark(ipk, "stats", T0)
    assert store.get_watermark(ipk, "stats") == T0
    later = (T0 + timedelta(days=1)).astimezone(timezone(timedelta(hours=-5)))
    store.set_watermark(ipk, "stats", later)
    got = store.get_watermark(ipk, "stats")
    assert got == later and got is not None and got.utcoffset() == timedelta(0)


def test_runs_and_outcomes(store: StateStore) -> None:
    r1 = store.start_run("udemy", "default", "content", dry_run=False, params={"full": True},
                         flow_run_id="fr-1")
    r2 = store.start_run("coursera", "default", "stats", dry_run=True, params={})
    run = store.get_run(r1)
    assert run is not None and run["status"] == "running" and len(run["run_uuid"]) == 36
    assert run["started_at"].tzinfo is not None and run["ended_at"] is None

    outcomes = [
        {"kind": "course", "external_id": "c1", "outcome": "created"},
        {"kind": "course", "external_id": "c2", "outcome": "failed", "field": "title",
         "reason": "400 bad"},
    ]
    assert store.add_outcomes(r1, outcomes) == 2
    store.finish_run(r1, "completed_with_errors", {"created": 1, "failed": 1}, error=None)
    run = store.get_run(r1)
    assert run is not None and run["status"] == "completed_with_errors"
    assert run["counts"] == {"created": 1, "failed": 1} and run["ended_at"] is not None

    df = store.run_outcomes(r1)
    assert list(df.outcome) == ["created", "failed"] and df.iloc[1]["field"] == "title"
    assert store.run_outcomes(r2).empty
    assert [r["id"] for r in store.list_runs()] == [r2, r1]
    assert [r["id"] for r in store.list_runs(provider="udemy")] == [r1]
    assert store.last_successful_run("udemy", "default", "content")["id"] == r1  # type: ignore[index]
    with pytest.raises(ValueError):
        store.add_outcomes(r1, [{"kind": "course", "external_id": "x", "outcome": "exploded"}])
    with pytest.raises(ValueError):
        store.finish_run(r2, "weird", {})


def test_quarantine_upsert_and_resolve(store: StateStore, ipk: int) -> None:
    t1 = T0 + timedelta(days=1)
    store.quarantine(ipk, "course", [
        {"external_id": "c1", "field": "title", "reason": "empty"},
        {"external_id": "c2", "field": None, "reason": "bad"},
    ], now=T0)
    store.quarantine(ipk, "course", [{"external_id": "c1", "field": "title", "reason": "still empty"}], now=t1)
    df = store.open_quarantine(ipk)
    assert len(df) == 2
    c1 = df.set_index("external_id").loc["c1"]
    assert c1["first_seen_at"] == pd.Timestamp(T0) and c1["last_seen_at"] == pd.Timestamp(t1)
    assert c1["reason"] == "still empty" and c1["provider"] == "udemy"
    assert df.set_index("external_id").loc["c2", "field"] is None

    assert store.resolve_quarantine(ipk, "course", ["c1", "zzz"], now=t1) == 1
    assert list(store.open_quarantine(ipk).external_id) == ["c2"]
    assert store.resolve_quarantine(ipk, "stat", ["c2"], now=t1) == 0  # other kind untouched

    # seen again: reopened, first_seen_at kept
    store.quarantine(ipk, "course", [{"external_id": "c1", "field": "title", "reason": "again"}],
                     now=t1 + timedelta(days=1))
    df = store.open_quarantine()
    assert set(df.external_id) == {"c1", "c2"}
    assert df.set_index("external_id").loc["c1", "first_seen_at"] == pd.Timestamp(T0)


def test_bulk_jobs(store: StateStore, ipk: int) -> None:
    run = store.start_run("udemy", "default", "content", dry_run=False, params={})
    items = [{"external_id": "c1", "payload_hash": "h1"}]
    store.record_bulk_job(ipk, run, "upsert", "op-1", items)
    store.record_bulk_job(ipk, None, "stats", "op-2", [["c1", "u@x", T0.isoformat()]])
    pending = store.pending_bulk_jobs(ipk)
    assert [j["bulk_operation_id"] for j in pending] == ["op-1", "op-2"]
    assert pending[0]["items"] == items and pending[0]["run_pk"] == run
    store.confirm_bulk_job("op-1")
    store.confirm_bulk_job("op-2", status="failed")
    assert store.pending_bulk_jobs(ipk) == []
    with pytest.raises(KeyError):
        store.confirm_bulk_job("missing")
    with pytest.raises(IntegrityError):
        store.record_bulk_job(ipk, run, "upsert", "op-1", [])


def test_two_stores_share_file(url: str) -> None:
    a, b = StateStore(url), StateStore(url)
    pk = a.upsert_integration("edflex", "default")["id"]
    assert b.get_integration("edflex", "default")["id"] == pk  # type: ignore[index]
    assert get_engine(url) is a.engine


def test_frames_keep_none_and_dtypes(store: StateStore, ipk: int) -> None:
    store.apply_course_results(ipk, [{"external_id": "c1", "action": "created"}], now=T0)
    row = store.load_courses(ipk).iloc[0]
    assert row["course_id"] is None and row["archived_reason"] is None and row["tags"] is None
    empty = store.load_attempts(ipk)
    assert str(empty["attempt_no"].dtype) == "int64" and str(empty["completed"].dtype) == "bool"
    assert store.open_quarantine(ipk).empty


def test_mapped_chunks_are_kept_replaced_and_pruned_per_integration_and_stream(store: StateStore, ipk: int) -> None:
    other = int(store.upsert_integration("coursera", "default", external_platform="c", group_id="g", author_id="a")["id"])
    blob = bytes(range(256)) * 1000  # binary, not text
    store.save_mapped_chunk(ipk, "courses", "", [["d1", "2"]], "ctx", blob)
    store.save_mapped_chunk(ipk, "courses", "2", [["d2", "3"], ["d3", None]], "ctx", b"two")
    store.save_mapped_chunk(ipk, "learning_paths", "", [["p1", None]], "ctx", b"paths")
    store.save_mapped_chunk(other, "courses", "", [["c1", None]], "ctx", b"other")
    assert store.mapped_chunk_index(ipk, "courses") == {
        "": {"pages": [["d1", "2"]], "context_key": "ctx"},
        "2": {"pages": [["d2", "3"], ["d3", None]], "context_key": "ctx"},
    }
    assert store.mapped_chunk(ipk, "courses", "") == blob and store.mapped_chunk(ipk, "courses", "9") is None
    store.save_mapped_chunk(ipk, "courses", "2", [["d4", None]], "ctx2", b"replaced")
    assert store.mapped_chunk(ipk, "courses", "2") == b"replaced"
    assert store.mapped_chunk_index(ipk, "courses")["2"] == {"pages": [["d4", None]], "context_key": "ctx2"}
    assert store.prune_mapped_chunks(ipk, "courses", [""]) == 1
    assert set(store.mapped_chunk_index(ipk, "courses")) == {""}
    assert store.mapped_chunk(ipk, "learning_paths", "") == b"paths" and store.mapped_chunk(other, "courses", "") == b"other"


def test_a_read_only_store_reads_without_migrating_and_cannot_write(url: str) -> None:
    from sqlalchemy.exc import DBAPIError

    written = StateStore(url)
    pk = written.upsert_integration("udemy", "default", integration_id="i-1")["id"]
    reader = StateStore.read_only(url)
    assert reader.schema_state()[0] == "current"
    assert [i["integration_id"] for i in reader.list_integrations()] == ["i-1"]
    with pytest.raises(DBAPIError):
        reader.set_integration_fields(pk, active=False)
    assert written.get_integration("udemy")["active"] is True


def test_attempts_written_in_bulk_meet_rows_written_through_sqlalchemy_on_their_key(store: StateStore, ipk: int) -> None:
    """The bulk path (driver executemany on SQLite, COPY on PostgreSQL) stores instants as
    SQLAlchemy does: an attempt written before by SQLAlchemy is updated in place, never doubled."""
    from learnsync.statestore.models import StatAttempt

    first = T0 + timedelta(microseconds=123_456)
    with store.engine.begin() as conn:
        conn.execute(StatAttempt.__table__.insert(), [{
            "integration_pk": ipk, "course_external_id": "c1", "user_email": "u@x", "first_activity_at": first,
            "attempt_no": 1, "completed": False, "payload_hash": "old", "last_sent_at": T0,
        }])
    frame = pd.DataFrame({
        "course_external_id": ["c1", "c2", "c2"],
        "user_email": ["u@x", "u@x", "u@x"],
        "first_activity_at": pd.to_datetime([first, T0, T0 + timedelta(days=3)], utc=True),
        "attempt_no": [1, 1, 2],
        "completed": [True, False, False],
        "payload_hash": ["new", "h2", "h3"],
    })
    assert store.apply_stat_frame(ipk, frame, now=T0 + timedelta(days=4)) == 3
    got = store.load_attempts(ipk).sort_values(["course_external_id", "first_activity_at"]).reset_index(drop=True)
    assert len(got) == 3
    assert got.loc[0, "payload_hash"] == "new" and bool(got.loc[0, "completed"]) and got.loc[0, "first_activity_at"] == pd.Timestamp(first)
    assert list(got["attempt_no"]) == [1, 1, 2] and list(got["payload_hash"]) == ["new", "h2", "h3"]
    assert str(got["first_activity_at"].dt.tz) == "UTC"
    pairs = [("c1", "u@x"), ("c2", "u@x"), ("c9", "u@x")]
    assert sorted(store.load_attempts_for(ipk, pairs)["payload_hash"]) == ["h2", "h3", "new"]


def test_a_key_twice_in_one_bulk_write_keeps_the_last_copy(store: StateStore, ipk: int) -> None:
    frame = pd.DataFrame({
        "course_external_id": ["c1", "c1"], "user_email": ["u@x", "u@x"],
        "first_activity_at": pd.to_datetime([T0, T0], utc=True), "attempt_no": [1, 1],
        "completed": [False, True], "payload_hash": ["first", "last"],
    })
    store.apply_stat_frame(ipk, frame)
    got = store.load_attempts(ipk)
    assert len(got) == 1 and got["payload_hash"].iat[0] == "last" and bool(got["completed"].iat[0])


def test_many_pairs_read_back_their_own_attempts_only(store: StateStore, ipk: int) -> None:
    n = 1_000  # more pairs than one query carries
    frame = pd.DataFrame({
        "course_external_id": [f"c{i}" for i in range(n)], "user_email": ["u@x"] * n,
        "first_activity_at": pd.to_datetime([T0] * n, utc=True), "attempt_no": [1] * n,
        "completed": [False] * n, "payload_hash": [f"h{i}" for i in range(n)],
    })
    store.apply_stat_frame(ipk, frame)
    wanted = [(f"c{i}", "u@x") for i in range(0, n, 2)] + [("c1", "other@x")]
    got = store.load_attempts_for(ipk, wanted)
    assert sorted(got["payload_hash"]) == sorted(f"h{i}" for i in range(0, n, 2))
    assert list(got.columns) == ["course_external_id", "user_email", "first_activity_at", "attempt_no", "completed", "payload_hash"]


def test_many_outcomes_are_kept_in_order_with_their_reasons_masked(store: StateStore) -> None:
    from learnsync.core.redaction import register

    register("s3cr3t-value-for-outcomes")
    run = store.start_run("udemy", "default", "stats")
    outcomes = [{"kind": "stat", "external_id": f"c{i}|u@x", "outcome": "created"} for i in range(12_000)]
    outcomes.append({"kind": "stat", "external_id": "c|u", "outcome": "failed", "reason": "token s3cr3t-value-for-outcomes refused"})
    assert store.add_outcomes(run, outcomes) == len(outcomes)
    got = store.run_outcomes(run)
    assert len(got) == len(outcomes) and got["external_id"].iloc[11_999] == "c11999|u@x"
    assert "s3cr3t" not in got["reason"].iloc[-1] and got["outcome"].iloc[-1] == "failed"
    assert str(got["created_at"].dt.tz) == "UTC"


def test_nothing_parked_is_one_probe(store: StateStore, ipk: int) -> None:
    assert not store.has_parked_stats(ipk)
    assert store.unpark_superseded(ipk, [("c1", "u@x", T0)]) == 0
    rows = pd.DataFrame({"course_external_id": ["c1"], "user_email": ["u@x"], "progress": [10], "time_spent_ms": [5],
                         "first_activity_at": [T0], "last_activity_at": [T0], "completed_at": [pd.NaT]})
    assert store.park_stats(ipk, rows, "course_not_synced") == 1
    assert store.has_parked_stats(ipk)
    assert store.unpark_superseded(ipk, [("c1", "u@x", T0)]) == 1 and not store.has_parked_stats(ipk)


def test_sqlite_bulk_rows_through_json_are_stored_exactly_as_the_driver_binds_them(tmp_path, monkeypatch) -> None:
    """A batch goes to SQLite as one JSON parameter: every value keeps its text, number, flag or
    NULL (and its SQLite type) as `executemany` stores it, the last copy of a key wins, and a
    value JSON cannot carry (bytes; an int past 64 bits, which the driver refuses too) sends its
    batch through `executemany`."""
    from sqlalchemy import Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, create_engine

    from learnsync.statestore import bulk_rows

    table = Table(
        "t", MetaData(), Column("k", String, primary_key=True), Column("n", Integer), Column("f", Boolean),
        Column("x", Float), Column("s", String), Column("b", LargeBinary),
    )
    rows = [
        ("a", 1, True, 1.5, 'quote " and \\ backslash', None), ("b", None, False, None, "ünïcødé 🎓", None),
        ("c", 2**62, None, -0.0, "", None), ("a", 7, False, 2.25, "second copy of a", None),
    ]
    awkward = [("d", 3, True, 1.0, "bytes", b"\x00\x01")]

    def stored(name: str, batches: list[list[tuple]], json: bool) -> list[tuple]:
        engine = create_engine(f"sqlite:///{tmp_path / name}")
        table.metadata.create_all(engine)
        calls: list[str] = []
        original = bulk_rows._json_rows
        monkeypatch.setattr(bulk_rows, "_json_rows", lambda batch: (calls.append("json"), original(batch) if json else None)[1])
        with engine.begin() as conn:
            for batch in batches:
                bulk_rows.upsert_rows(conn, table, ["k", "n", "f", "x", "s", "b"], batch, ["k"], ["n", "f", "x", "s", "b"])
        with engine.connect() as conn:
            out = conn.exec_driver_sql("SELECT k, n, typeof(n), f, typeof(f), x, typeof(x), s, typeof(s), b FROM t ORDER BY k").all()
        engine.dispose()
        assert len(calls) == len(batches)
        return [tuple(r) for r in out]

    through_json = stored("json.db", [rows], json=True)
    assert through_json == stored("many.db", [rows], json=False)
    assert [r[0] for r in through_json] == ["a", "b", "c"] and through_json[0][1] == 7 and through_json[0][7] == "second copy of a"
    assert bulk_rows._json_rows(awkward) is None and bulk_rows._json_rows([("h", 2**70)]) is None
    with_awkward = stored("awkward.db", [awkward], json=True)  # bound by the driver: stored all the same
    assert [(r[0], r[1], r[9]) for r in with_awkward] == [("d", 3, b"\x00\x01")]
