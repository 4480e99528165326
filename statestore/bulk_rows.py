"""Many rows written in one statement's worth of driver calls: the state store's bulk path.

A stats run confirms up to a million attempts and as many item outcomes. SQLAlchemy's
executemany binds each value through its type processors (a third of the time goes to
datetimes alone); here rows arrive as plain tuples of driver-ready values and go to the
driver directly:

- SQLite: one `INSERT .. SELECT .. FROM json_each(?) ON CONFLICT DO UPDATE` per 50,000 rows (the
  rows as one JSON parameter; `executemany` for values JSON cannot carry), datetimes as the
  text SQLAlchemy itself stores (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC), so rows written either way
  compare, sort and read back the same;
- PostgreSQL: `COPY` into a temporary table, then one `INSERT .. SELECT .. ON CONFLICT`.

Both run inside the caller's transaction (the SQLAlchemy connection's own driver connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, Table

SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
_BATCH = 50_000  # rows per executemany (bounds the driver's parameter memory)


def driver_connection(conn: Connection) -> Any:
    """The DBAPI connection under `conn` (sqlite3 or psycopg): a connection in use always has one."""
    driver = conn.connection.driver_connection
    assert driver is not None, "the connection has no DBAPI connection"
    return driver


def stamp(value: datetime | None, dialect: str) -> Any:
    """One UTC instant as the driver takes it for a `UTCDateTime` column."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(tzinfo=None).strftime(SQLITE_STAMP) if dialect == "sqlite" else value


def stamps(values: pd.Series, dialect: str) -> list[Any]:
    """A column of instants (tz-aware or UTC-naive) as driver values; NaT gives None."""
    utc = pd.to_datetime(values, utc=True)
    missing = utc.isna().to_numpy()
    if dialect == "sqlite":
        text = np.datetime_as_string(utc.dt.tz_localize(None).to_numpy(dtype="datetime64[us]"), unit="us")
        out = np.char.replace(text.astype(str), "T", " ").astype(object)
    else:
        out = np.array(utc.dt.to_pydatetime(), dtype=object)
    if missing.any():
        out[missing] = None
    return out.tolist()


def upsert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """`INSERT rows ON CONFLICT (keys) DO UPDATE SET update = excluded.update` (DO NOTHING when
    `update` is empty); values in `columns` order, as the driver takes them."""
    if not rows:
        return
    dialect = conn.dialect.name
    cols = ", ".join(columns)
    action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)) if update else "DO NOTHING"
    conflict = f"ON CONFLICT ({', '.join(keys)}) {action}"
    driver = driver_connection(conn)
    if dialect == "sqlite":
        _executemany(driver, f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join('?' * len(columns))}) {conflict}", rows)
    elif dialect == "postgresql":
        staging = f"_bulk_{table.name}"
        with driver.cursor() as cursor:
            # the columns' types only (no constraint, no default): dropped with the transaction
            cursor.execute(f"DROP TABLE IF EXISTS {staging}")
            cursor.execute(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {cols} FROM {table.name} WITH NO DATA")
            with cursor.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # the last copy of a key wins, as a sequence of single-row upserts would
            ordered = f"SELECT DISTINCT ON ({', '.join(keys)}) {cols} FROM (SELECT {cols}, row_number() OVER () AS _n FROM {staging}) s ORDER BY {', '.join(keys)}, _n DESC"
            cursor.execute(f"INSERT INTO {table.name} ({cols}) {ordered} {conflict}")
    else:  # pragma: no cover
        raise NotImplementedError(f"bulk upsert not supported on {dialect}")


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Plain `INSERT` of many rows (no conflict possible: e.g. a run's item outcomes)."""
    if not rows:
        return
    cols = ", ".join(columns)
    driver = driver_connection(conn)
    if conn.dialect.name == "postgresql":
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    _executemany(driver, f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join('?' * len(columns))})", rows)


_JSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_rows(rows: Sequence[tuple[Any, ...]]) -> str | None:
    """The rows as one JSON array of arrays, when every value is a plain str, int, float, bool
    or None (what the driver would bind as is); else None."""
    try:
        return orjson.dumps(rows, option=_JSON_OPTIONS).decode()
    except TypeError:  # a datetime, bytes, an int past 64 bits, a subclass...: bound by the driver
        return None


def _executemany(driver: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """SQLite: the statement over the rows in batches, on the driver's own cursor.

    A batch goes as one statement reading its rows from one JSON parameter (`json_each`):
    sqlite3 lets go of the GIL for each step of a statement, so an `executemany` in a worker
    thread waits for the GIL at every row while the event loop's thread is busy (ten times its
    own time); one statement is one step, run while the other thread goes on."""
    head, _, tail = sql.partition(" VALUES (")
    width = tail.split(")", 1)[0].count("?")
    conflict = tail.split(")", 1)[1]
    select = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(width))
    from_json = f"{head} SELECT {select} FROM json_each(?) WHERE true{conflict}"  # WHERE: SQLite's upsert-after-SELECT rule
    cursor = driver.cursor()
    try:
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            text = _json_rows(batch)
            if text is None:
                cursor.executemany(sql, batch)
            else:
                cursor.execute(from_json, (text,))
    finally:
        cursor.close()
