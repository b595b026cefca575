"""The database layer: a dead connection is retried once, and the duplicate check uses the id index."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.services.sync.server.helpers import event

POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _kill_server_connections(db_url: str) -> int:
    """Terminate every other backend connected to the test database (a PostgreSQL restart, as the
    server's pool sees it)."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


@POSTGRESQL_ONLY  # SQLite has no connections to drop
def test_requests_survive_the_database_dropping_their_connections(api, db_url):
    account = api.register()
    api.push_ok(account.token, [event()])
    assert _kill_server_connections(db_url) >= 1
    # Reads and writes each find a dead pooled connection, and go through on a fresh one.
    assert len(api.pull_all(account.token)) == 1
    assert _kill_server_connections(db_url) >= 1
    assert api.push_ok(account.token, [event()]).cursor == 2
    assert [r.seq for r in api.pull_all(account.token)] == [1, 2]


@POSTGRESQL_ONLY
def test_the_duplicate_check_finds_ids_through_the_primary_key(api, db_url):
    from app.services.sync.server.store import _KNOWN_IDS

    account = api.register()
    api.push_ok(account.token, [event() for _ in range(50)])
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: only an index plan is comparable
            plan = "\n".join(conn.execute(text(f"EXPLAIN {_KNOWN_IDS['postgresql'].text}"),
                                          {"ids": '["00000000-0000-7000-8000-000000000000"]'}).scalars())
    finally:
        engine.dispose()
    assert "records_pkey" in plan, plan
