"""The state store's tests run on SQLite files, and on PostgreSQL when LEARNSYNC_TEST_PG_URL
names a server (CI starts a throw-away one): each test then gets a database of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

from learnsync.statestore.db import dispose_engines
from learnsync.statestore.store import StateStore

PG_URL = os.environ.get("LEARNSYNC_TEST_PG_URL")  # e.g. postgresql+psycopg://user@host/postgres


@pytest.fixture(autouse=True)
def _dispose() -> Iterator[None]:
    yield
    dispose_engines()


def _pg_database() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server of ``LEARNSYNC_TEST_PG_URL``."""
    assert PG_URL
    name = f"learnsync_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL, reason="PostgreSQL not available (set LEARNSYNC_TEST_PG_URL)"))]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def store(url: str) -> StateStore:
    return StateStore(url)
