"""Alembic, driven from code: `upgrade(url)` at start-up and by `lantern-sync-server migrate`.

The migration scripts ship inside the package (migrations/, package data), so an installed server
migrates without an alembic.ini. Concurrent starts are safe: on PostgreSQL the upgrade holds an
advisory lock for its transaction, on SQLite the transaction begins IMMEDIATE (migrations/env.py),
so a second process waits and then finds nothing to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.services.sync.server.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["db_url"] = url  # not a main option: ConfigParser would interpolate '%' in a password
    return config


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """(the revision before, the revision after)."""
    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    return before, current_revision(url)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def is_current(url: str) -> bool:
    return current_revision(url) == head_revision()
