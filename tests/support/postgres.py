"""A real PostgreSQL for tests: fresh, uniquely named databases on a server named by the environment.

`LANTERN_TEST_POSTGRES_URL` is a SQLAlchemy URL to a database on a server where the test user may
create and drop databases, e.g. `postgresql+psycopg://lantern@127.0.0.1:5433/postgres`;
`.ci/postgres start` starts a throw-away server and prints it. With the variable unset,
`require_postgres()` skips the test, except under CI=true, where it fails: CI must run them.

    url = require_postgres()                         # the admin URL, or skip / fail
    with temporary_database(url) as db_url: ...      # CREATE DATABASE lantern_test_<random>, dropped after
    name = create_database(url, template="tpl")      # a copy of a prepared (migrated) database: fast
    drop_database(url, name)
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ENV = "LANTERN_TEST_POSTGRES_URL"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def admin_url() -> str | None:
    return os.environ.get(ENV) or None


def require_postgres() -> str:
    url = admin_url()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{ENV} is not set, and CI must run the PostgreSQL tests: start one with "
                        f"`eval \"$(bash .ci/postgres start)\"` (.ci/test does)", pytrace=False)
        pytest.skip(f"PostgreSQL tests need {ENV} (a URL where databases may be created); "
                    f"`eval \"$(bash .ci/postgres start)\"` starts a throw-away server")
    return url


def database_url(admin: str, name: str) -> str:
    from sqlalchemy import make_url

    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def _admin_execute(admin: str, sql: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def _check(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a database name this helper makes: {name!r}")
    return name


def create_database(admin: str, *, template: str | None = None, prefix: str = "lantern_test") -> str:
    """A new database's name (CREATE DATABASE, from `template` when given: it must have no connections)."""
    name = _check(f"{prefix}_{secrets.token_hex(6)}")
    _admin_execute(admin, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{_check(template)}"' if template else ""))
    return name


def drop_database(admin: str, name: str) -> None:
    _admin_execute(admin, f'DROP DATABASE IF EXISTS "{_check(name)}" WITH (FORCE)')


@contextmanager
def temporary_database(admin: str, *, template: str | None = None) -> Iterator[str]:
    """The URL of a fresh database, dropped afterwards (open connections to it are ended)."""
    name = create_database(admin, template=template)
    try:
        yield database_url(admin, name)
    finally:
        drop_database(admin, name)
