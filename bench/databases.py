"""Where the benchmark's state DBs live: SQLite files in its work directory (the default), or
databases of one PostgreSQL server (`--postgres URL`, or `--postgres auto`: a throw-away local
server started for the run, as `.ci/run` starts one)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

PG_PORT = 55433


class StateDatabases:
    def __init__(self, workdir: str, server_url: str | None = None) -> None:
        self.workdir, self.server_url = workdir, server_url

    @property
    def kind(self) -> str:
        return "PostgreSQL" if self.server_url else "SQLite"

    def fresh(self, name: str) -> str:
        """An empty state DB named `name` (dropped first if it exists)."""
        if self.server_url is None:
            path = os.path.join(self.workdir, f"{name}.db")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            return f"sqlite:///{path}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        return self._url(name)

    def copy(self, source_url: str, name: str) -> str:
        """A consistent copy of a state DB (for runs that must start from the same state)."""
        if self.server_url is None:
            target = os.path.join(self.workdir, f"{name}.db")
            if os.path.exists(target):
                os.remove(target)
            with sqlite3.connect(source_url.removeprefix("sqlite:///")) as src, sqlite3.connect(target) as dst:
                src.backup(dst)
            return f"sqlite:///{target}"
        from sqlalchemy.engine import make_url

        source = make_url(source_url).database
        self._admin(
            # a template must have no session: the benchmark's own pooled ones are closed
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{source}' AND pid <> pg_backend_pid()",
            f'DROP DATABASE IF EXISTS "{name}"',
            f'CREATE DATABASE "{name}" TEMPLATE "{source}"',
        )
        return self._url(name)

    def _url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        assert self.server_url is not None
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def _admin(self, *statements: str) -> None:
        from sqlalchemy import create_engine, text

        assert self.server_url is not None
        engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()


@contextmanager
def local_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server on a Unix socket (initdb and pg_ctl as the postgres user);
    yields its URL and removes it at the end."""
    initdb = shutil.which("initdb") or _debian_bin("initdb")
    if initdb is None:
        raise SystemExit("--postgres auto: no initdb on this machine; give a server URL instead")
    bindir = os.path.dirname(initdb)
    root = tempfile.mkdtemp(prefix="learnsync-bench-pg-")
    os.chmod(root, 0o755)
    as_postgres: list[str] = ["su", "postgres", "-s", "/bin/sh", "-c"] if os.geteuid() == 0 else ["/bin/sh", "-c"]
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    data = os.path.join(root, "data")
    start = (
        f"'{bindir}/initdb' -D '{data}' -A trust -U postgres >/dev/null && "
        f"'{bindir}/pg_ctl' -D '{data}' -o \"-k '{root}' -p {PG_PORT} -c listen_addresses=''\" -l '{root}/log' -w start >/dev/null"
    )
    subprocess.run([*as_postgres, start], check=True)
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={PG_PORT}"
    finally:
        subprocess.run([*as_postgres, f"'{bindir}/pg_ctl' -D '{data}' -m fast stop >/dev/null"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _debian_bin(name: str) -> str | None:
    base = "/usr/lib/postgresql"
    versions = sorted(os.listdir(base), reverse=True) if os.path.isdir(base) else []
    for version in versions:
        path = os.path.join(base, version, "bin", name)
        if os.path.exists(path):
            return path
    return None
