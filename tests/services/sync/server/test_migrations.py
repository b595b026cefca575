"""The Alembic steps build exactly the tables models.py describes, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from app.services.sync.server import migrate
from app.services.sync.server.cli import main
from app.services.sync.server.models import Base


def test_the_migrated_schema_matches_the_models(db_url):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
    assert migrate.current_revision(db_url) == migrate.head_revision() == "0001"


def test_upgrading_again_does_nothing_and_the_command_migrates(db_url, tmp_path, restore_logging):
    assert migrate.upgrade(db_url) == ("0001", "0001")
    fresh = f"sqlite:///{tmp_path / 'new' / 'sync.db'}"
    assert main(["migrate", "--db", fresh]) == 0
    assert migrate.is_current(fresh)
    assert main(["migrate", "--data-dir", str(tmp_path / "data")]) == 0
    assert (tmp_path / "data" / "sync.db").is_file()


def test_the_database_url_may_come_from_the_environment(tmp_path, monkeypatch, restore_logging):
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("LANTERN_SYNC_DB", url)
    assert main(["migrate"]) == 0
    assert migrate.is_current(url)
