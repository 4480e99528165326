"""Run leases: at most one run per (provider, platform, kind) at a time, across processes.

A run takes the lease before it writes anything and gives it back when it ends; while it runs,
a heartbeat thread pushes `expires_at` forward. A run that dies (kill -9, lost machine) stops
renewing: once `expires_at` is past, the next run takes the lease over.

On PostgreSQL the lease is also a session advisory lock, held on a connection of its own for
the run's whole life: the server frees it the moment that connection dies, so a killed run's
lease is taken over at once, without waiting for it to expire.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.engine import Engine

from learnsync.statestore.models import RunLease, utcnow

log = logging.getLogger("learnsync.leases")

ADVISORY_NAMESPACE = 7140361  # first key of the two-key advisory locks learnsync takes for leases


def new_holder() -> str:
    """An id naming this process (host and pid, for the operator) and this run (a random part)."""
    return f"{socket.gethostname()} pid {os.getpid()} #{uuid.uuid4().hex[:8]}"


class RunInProgress(RuntimeError):
    """Another run of the same provider, platform and kind holds the lease."""

    def __init__(self, provider: str, platform: str, kind: str, holder: dict[str, Any] | None) -> None:
        self.provider, self.platform, self.kind = provider, platform, kind
        self.holder = holder
        if holder:
            since = holder["acquired_at"].strftime("%Y-%m-%d %H:%M:%S UTC")
            who = f"is running since {since}, holder {holder['holder']}"
        else:
            who = "is starting"
        super().__init__(f"another {kind} run of {provider} on {platform} {who}; try again later")

    def __reduce__(self) -> Any:  # crosses processes intact (Dask workers, Prefect results)
        return type(self), (self.provider, self.platform, self.kind, self.holder)


def _advisory_key(provider: str, platform: str, kind: str) -> int:
    digest = hashlib.sha256(f"{provider}\0{platform}\0{kind}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


@dataclass
class Lease:
    """A lease this process holds. `release()` gives it back (idempotent)."""

    leases: RunLeases
    provider: str
    platform: str
    kind: str
    holder: str
    ttl: float
    acquired_at: datetime
    _lock_conn: Connection | None = None
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None
    lost: bool = False  # a renewal found another holder: this run no longer owns the lease

    def renew(self) -> bool:
        """Push the expiry `ttl` seconds ahead; False when the lease is no longer ours."""
        ok = self.leases._renew(self)
        if not ok:
            self.lost = True
        return ok

    def start_heartbeat(self, interval: float | None = None) -> None:
        """Renew from a daemon thread every `interval` seconds (default a third of the TTL): a
        busy event loop or a long computation does not let the lease expire under the run."""
        if self._thread is not None:
            return
        every = interval if interval is not None else max(0.05, self.ttl / 3)
        self._stop = threading.Event()

        def beat() -> None:
            assert self._stop is not None
            while not self._stop.wait(every):
                try:
                    if not self.renew():
                        log.warning("%s run lease of %s on %s was taken over by another run", self.kind, self.provider, self.platform)
                        return
                except Exception as exc:  # the database is away for a moment: try again next beat
                    log.warning("run lease heartbeat failed: %s", exc)

        self._thread = threading.Thread(target=beat, daemon=True, name=f"lease-{self.provider}-{self.kind}")
        self._thread.start()

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.leases._release(self)


class RunLeases:
    """The `run_leases` table of one state store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def current(self, provider: str, platform: str, kind: str) -> dict[str, Any] | None:
        """The lease row of (provider, platform, kind), expired or not, or None."""
        t = RunLease.__table__
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            row = conn.execute(select(t).where(*self._key(provider, platform, kind))).mappings().first()
        return dict(row) if row else None

    def acquire(self, provider: str, platform: str, kind: str, holder: str, ttl: float) -> Lease:
        """Take the lease for `ttl` seconds (renew it to keep it), or raise RunInProgress.

        Free, expired or already `holder`'s: taken. On PostgreSQL, a row whose advisory lock
        nobody holds belongs to a dead session: taken too.
        """
        if not ttl > 0:
            raise ValueError(f"lease TTL must be a positive number of seconds, got {ttl!r}")
        lock_conn = self._advisory_lock(provider, platform, kind) if self._postgres else None
        if self._postgres and lock_conn is None:
            raise RunInProgress(provider, platform, kind, self.current(provider, platform, kind))
        try:
            now = utcnow()
            values = {"holder": holder, "acquired_at": now, "heartbeat_at": now, "expires_at": now + timedelta(seconds=ttl)}
            t = RunLease.__table__
            key = self._key(provider, platform, kind)
            with self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, so no other writer in between
                row = conn.execute(select(t).where(*key)).mappings().first()
                if row is None:
                    conn.execute(insert(t).values(provider=provider, platform=platform, kind=kind, **values))
                elif row["holder"] == holder or row["expires_at"] <= now or lock_conn is not None:
                    if row["holder"] != holder:
                        log.warning(
                            "%s run lease of %s on %s taken over from %s (%s)", kind, provider, platform, row["holder"],
                            "its session is gone" if lock_conn is not None and row["expires_at"] > now else "expired",
                        )
                    taken = conn.execute(
                        update(t).where(*key, t.c.holder == row["holder"], t.c.expires_at == row["expires_at"]).values(**values)
                    ).rowcount
                    if taken != 1:  # pragma: no cover - serialised by the write lock / advisory lock
                        raise RunInProgress(provider, platform, kind, dict(row))
                else:
                    raise RunInProgress(provider, platform, kind, dict(row))
        except BaseException:
            if lock_conn is not None:
                self._unlock(lock_conn, provider, platform, kind)
            raise
        return Lease(self, provider, platform, kind, holder, ttl, now, _lock_conn=lock_conn)

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _key(provider: str, platform: str, kind: str) -> tuple[Any, ...]:
        t = RunLease.__table__
        return (t.c.provider == provider, t.c.platform == platform, t.c.kind == kind)

    def _advisory_lock(self, provider: str, platform: str, kind: str) -> Connection | None:
        """A connection holding the session advisory lock of the key, or None when another has it."""
        conn = self.engine.connect()
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": ADVISORY_NAMESPACE, "key": _advisory_key(provider, platform, kind)}
            ).scalar()
            conn.commit()  # a session lock outlives the transaction; no transaction stays open
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return None
        return conn

    def _unlock(self, conn: Connection, provider: str, platform: str, kind: str) -> None:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": ADVISORY_NAMESPACE, "key": _advisory_key(provider, platform, kind)})
            conn.commit()
        except Exception:  # the session is gone: so is its lock
            conn.invalidate()
        finally:
            conn.close()

    def _renew(self, lease: Lease) -> bool:
        t = RunLease.__table__
        now = utcnow()
        with self.engine.begin() as conn:
            return conn.execute(
                update(t)
                .where(*self._key(lease.provider, lease.platform, lease.kind), t.c.holder == lease.holder)
                .values(heartbeat_at=now, expires_at=now + timedelta(seconds=lease.ttl))
            ).rowcount == 1

    def _release(self, lease: Lease) -> None:
        t = RunLease.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(t).where(*self._key(lease.provider, lease.platform, lease.kind), t.c.holder == lease.holder))
        finally:
            if lease._lock_conn is not None:
                conn_, lease._lock_conn = lease._lock_conn, None
                self._unlock(conn_, lease.provider, lease.platform, lease.kind)
