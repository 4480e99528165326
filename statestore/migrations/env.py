"""Alembic environment for the learnsync state store.

The URL (or an open connection in ``config.attributes["connection"]``) is passed
programmatically by :func:`statestore.db.upgrade`; no logging config is touched.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from learnsync.statestore.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("the migrations need a connection or a sqlalchemy.url (see statestore.db.upgrade)")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
