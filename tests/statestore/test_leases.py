"""Run leases in the state store: one run per (provider, platform, kind), a dead run's lease
freed (by expiry; on PostgreSQL at once, its advisory lock dies with its session), its row
left 'running' marked crashed. On SQLite files, and on PostgreSQL with LEARNSYNC_TEST_PG_URL."""

from __future__ import annotations

import threading
import time

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from learnsync.statestore.db import alembic_config, upgrade
from learnsync.statestore.leases import RunInProgress
from learnsync.statestore.store import StateStore

KEY = ("udemy", "default", "content")


@pytest.mark.rule("RUN-01")
def test_a_held_lease_refuses_a_second_holder_with_who_and_since(store: StateStore) -> None:
    first = store.leases.acquire(*KEY, holder="host-a pid 1", ttl=60)
    with pytest.raises(RunInProgress) as busy:
        store.leases.acquire(*KEY, holder="host-b pid 2", ttl=60)
    message = str(busy.value)
    since = first.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert message == f"another content run of udemy on default is running since {since}, holder host-a pid 1; try again later"
    assert store.leases.current(*KEY)["holder"] == "host-a pid 1"
    other = store.leases.acquire("udemy", "default", "stats", holder="host-b pid 2", ttl=60)  # another kind: free
    first.release()
    second = store.leases.acquire(*KEY, holder="host-b pid 2", ttl=60)
    assert store.leases.current(*KEY)["holder"] == "host-b pid 2"
    second.release()
    other.release()
    assert store.leases.current(*KEY) is None


@pytest.mark.rule("RUN-02")
def test_a_lease_nobody_renews_expires_and_is_taken_over(store: StateStore) -> None:
    dead = store.leases.acquire(*KEY, holder="killed run", ttl=0.3)
    with pytest.raises(RunInProgress):
        store.leases.acquire(*KEY, holder="next run", ttl=60)
    time.sleep(0.5)
    if store.engine.dialect.name == "postgresql":
        dead._lock_conn.invalidate()  # the dead process's session ends with it
        dead._lock_conn = None
    taken = store.leases.acquire(*KEY, holder="next run", ttl=60)
    assert store.leases.current(*KEY)["holder"] == "next run"
    assert dead.renew() is False and dead.lost  # the old holder, if it woke up, learns it lost it
    taken.release()


@pytest.mark.rule("RUN-02")
def test_the_heartbeat_keeps_a_long_run_s_lease(store: StateStore) -> None:
    lease = store.leases.acquire(*KEY, holder="long run", ttl=0.4)
    lease.start_heartbeat()
    time.sleep(1.2)  # three lifetimes
    with pytest.raises(RunInProgress):
        store.leases.acquire(*KEY, holder="another", ttl=60)
    lease.release()
    store.leases.acquire(*KEY, holder="another", ttl=60).release()


@pytest.mark.rule("RUN-01")
def test_racing_acquirers_get_exactly_one_lease(store: StateStore) -> None:
    won: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(6)

    def contender(i: int) -> None:
        start.wait()
        try:
            store.leases.acquire(*KEY, holder=f"contender {i}", ttl=60)
            won.append(f"contender {i}")
        except RunInProgress:
            refused.append(f"contender {i}")

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 5
    assert store.leases.current(*KEY)["holder"] == won[0]


@pytest.mark.rule("RUN-02")
def test_on_postgresql_a_dead_session_s_lease_is_taken_over_at_once(store: StateStore) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    dead = store.leases.acquire(*KEY, holder="killed run", ttl=3600)
    with pytest.raises(RunInProgress):
        store.leases.acquire(*KEY, holder="next run", ttl=60)
    dead._lock_conn.invalidate()  # the process died: its connection, and its advisory lock, are gone
    dead._lock_conn = None
    taken = store.leases.acquire(*KEY, holder="next run", ttl=60)  # the row still says "killed run", unexpired
    assert store.leases.current(*KEY)["holder"] == "next run"
    taken.release()


@pytest.mark.rule("RUN-02")
def test_runs_left_running_are_marked_crashed_by_the_lease_holder(store: StateStore) -> None:
    killed = store.start_run("udemy", "default", "content")
    other_kind = store.start_run("udemy", "default", "stats")
    other_platform = store.start_run("udemy", "eu", "content")
    dry = store.start_run("udemy", "default", "content", dry_run=True)
    done = store.start_run("udemy", "default", "content")
    store.finish_run(done, "completed", {})
    assert store.mark_crashed_runs("udemy", "default", ["content"], "the next content run") == [killed]
    row = store.get_run(killed)
    assert row["status"] == "crashed" and row["ended_at"] is not None and "stopped without finishing" in row["error"]
    assert [store.get_run(pk)["status"] for pk in (other_kind, other_platform, dry, done)] == ["running", "running", "running", "completed"]
    assert store.last_successful_run("udemy", "default", "content")["id"] == done  # crashed is no success


def test_migration_0003_adds_run_leases_on_top_of_0002_and_downgrades(url: str) -> None:
    upgrade(url, "0002")
    engine = create_engine(url)
    assert "run_leases" not in inspect(engine).get_table_names()
    upgrade(url)
    assert "run_leases" in inspect(engine).get_table_names()
    cfg = alembic_config(url)
    command.downgrade(cfg, "0002")
    assert "run_leases" not in inspect(engine).get_table_names()
    engine.dispose()
