"""Alembic's environment for the sync server's database (run through app.services.sync.server.migrate)."""

from __future__ import annotations

from alembic import context

from app.services.sync.server.db import make_engine, writing
from app.services.sync.server.models import Base

# Any constant: the key of the advisory lock that makes concurrent upgrades on PostgreSQL wait in turn.
_MIGRATION_LOCK = 0x4C414E54  # "LANT"


def _url() -> str:
    url = context.config.attributes.get("db_url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations with `lantern-sync-server migrate --db URL`")
    return str(url)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = writing(make_engine(_url(), pool_size=1, max_overflow=0))
    try:
        with engine.connect() as connection, connection.begin():
            # One transaction for the whole upgrade (SQLite's DDL is transactional too, since db.py
            # emits BEGIN itself); on SQLite it began IMMEDIATE, so it holds the write lock already.
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True,
                              render_as_batch=connection.dialect.name == "sqlite")
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
