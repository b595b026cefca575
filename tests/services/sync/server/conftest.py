"""Fixtures for the sync server's tests: every test runs on SQLite and on PostgreSQL.

`db_url` is a fresh, migrated database per test: a copy of a SQLite file migrated once per session,
or `CREATE DATABASE ... TEMPLATE` of a PostgreSQL database migrated once per session (a file copy
on the server, ~0.1 s). PostgreSQL comes from tests/support/postgres.py (LANTERN_TEST_POSTGRES_URL;
skipped without it, failed under CI=true).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.sync.server.helpers import Api, FakeClock
from tests.support import postgres

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.services.sync.server import migrate

    path = tmp_path_factory.mktemp("sync-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[str, str]]:
    from app.services.sync.server import migrate

    admin = postgres.require_postgres()
    name = postgres.create_database(admin, prefix="lantern_tpl")
    try:
        migrate.upgrade(postgres.database_url(admin, name))
        yield admin, name
    finally:
        postgres.drop_database(admin, name)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "sync.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin, template = request.getfixturevalue("pg_template")
    with postgres.temporary_database(admin, template=template) as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_api(db_url: str, clock: FakeClock) -> Iterator[Callable[..., Api]]:
    """make_api(**create_app options, client=(host, port)) -> an Api over an in-process TestClient."""
    from fastapi.testclient import TestClient

    from app.services.sync.server.app import create_app
    from app.services.sync.server.auth import cheap_test_hasher
    from app.services.sync.server.ratelimit import RateLimits

    opened: list[Any] = []

    def make(*, client: tuple[str, int] = ("192.0.2.10", 50000), **options: Any) -> Api:
        options.setdefault("password_hasher", cheap_test_hasher())
        options.setdefault("clock", clock)
        options.setdefault("rate_limits", RateLimits(register_per_address=100_000))
        test_client = TestClient(create_app(db_url, **options), raise_server_exceptions=False, client=client)
        test_client.__enter__()
        opened.append(test_client)
        return Api(test_client)

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture
def restore_logging():
    """The command configures logging for its process; put the test process's back afterwards."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "lantern.sync"]
    saved = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
             for n in names}
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
