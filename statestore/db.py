"""Engine, session factory and Alembic upgrade for the state store."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _is_memory_sqlite(url: str) -> bool:
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and (u.database in (None, "", ":memory:"))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, busy_timeout, foreign keys and IMMEDIATE write transactions."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)

    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    if _is_memory_sqlite(url):
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) emit BEGIN, see the "begin" hook below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not _is_memory_sqlite(url):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front so busy_timeout applies (no SQLITE_BUSY on upgrade).
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or _is_memory_sqlite(url):
        return None
    return Path(str(u.database)).expanduser()


def make_read_only_engine(url: str) -> Engine:
    """An engine that can only read: SQLite opened with mode=ro (immutable when even its journal
    cannot be read in place, e.g. a read-only folder), PostgreSQL in read-only transactions.
    Never creates a file or folder, never migrates."""
    u = make_url(url)
    path = sqlite_file(url)
    if path is None:
        if u.get_backend_name() == "postgresql":
            return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c default_transaction_read_only=on"})
        return create_engine(url, pool_pre_ping=True)
    if not path.exists():
        raise FileNotFoundError(2, "no state DB file", str(path))
    resolved = path.resolve()
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        engine = create_engine(
            f"sqlite:///file:{resolved}?{flags}&uri=true",
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            poolclass=StaticPool,
        )
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
            return engine
        except Exception:
            engine.dispose()
            if flags.endswith("immutable=1"):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def schema_state(engine: Engine) -> tuple[str, str | None, str | None]:
    """("current" | "older" | "newer" | "empty", the database's revision, this code's head)."""
    head = head_revision()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return "empty", None, head
    if current == head:
        return "current", current, head
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except Exception:
        known = None
    return ("older" if known is not None else "newer"), current, head


def get_engine(url: str) -> Engine:
    """Process-wide cached engine for ``url``."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Dispose all cached engines (tests, forks)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory that keeps loaded values usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """Alembic config pointing at the packaged migrations (works from any cwd)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """Revision id of the newest migration."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """Revision the database is at (None when never migrated)."""
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on ``url`` (or an engine)."""
    engine = url if isinstance(url, Engine) else get_engine(url)
    if revision == "head" and current_revision(engine) == head_revision():
        return
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE serialises concurrent upgrades
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7140360)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
