"""The savings ledger on a real SQLite file in the test's LANTERN_HOME."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect

from app.core.ledger import LedgerEntry
from app.services.paths import resolve_paths
from app.services.storage import SCHEMA_VERSION, open_database
from app.services.storage.database import MIGRATIONS
from app.services.storage.learning_record import LearningRecord
from app.services.storage.ledger import LedgerRow, LedgerStore

AT = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def entry(**changes) -> LedgerEntry:
    fields = dict(at=AT, course_id="loops", question_kind="compare", route="cloud",
                  reason="fell back: was empty", reason_code="fallback:empty", model="cloud:openai/gpt-4o-mini",
                  where="cloud", tokens_in=412, tokens_out=187, ttft_s=3.25, total_s=7.5, cost_usd=0.000174,
                  cost_if_cloud_usd=0.000174, fell_back=True, fallback_reason="empty", quality="ok",
                  cloud_probability=0.61, local_attempt_s=2.75, source="app")
    return LedgerEntry(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
def db_file():
    return resolve_paths().database_file


@pytest.fixture
def store(db_file):
    ledger = LedgerStore(db_file)
    yield ledger
    ledger.close()


def test_round_trip_keeps_every_field(store, db_file, lantern_home):
    assert db_file.is_relative_to(lantern_home)  # never the real home
    plus7 = timezone(timedelta(hours=7))
    local = entry(route="local", where="on-device", model="local:smollm2-135m-instruct:q4_1", reason_code="classifier",
                  fell_back=False, fallback_reason=None, cost_usd=0.0, cost_if_cloud_usd=None, ttft_s=None,
                  quality=None, cloud_probability=None, local_attempt_s=None, at=AT.astimezone(plus7))
    stored = [store.record(e) for e in (entry(), local)]
    assert all(s.id is not None for s in stored) and stored[0].id != stored[1].id
    assert [replace(s, id=None) for s in stored] == [entry(), local]
    got = store.entries()
    assert got == stored
    assert got[1].at == AT and got[1].at.tzinfo is UTC  # microseconds survive; read back in UTC
    assert got[1].ttft_s is None and got[1].cost_if_cloud_usd is None and got[1].saved_usd == 0.0
    assert store.count() == 2


def test_since_source_and_limit(store):
    days = [store.record(entry(at=AT + timedelta(days=i), question_kind=f"k{i}")) for i in range(4)]
    store.record(entry(source="eval"))
    assert [e.question_kind for e in store.entries(since=AT + timedelta(days=2))] == ["k2", "k3"]
    assert store.entries(since=AT + timedelta(days=2, seconds=1)) == [days[3]]
    assert store.entries() == days  # "app" by default: the eval row is not the learner's
    assert [e.source for e in store.entries(source="eval")] == ["eval"]
    assert len(store.entries(source=None)) == 5
    assert store.entries(limit=2) == days[2:]  # the newest two, oldest first
    assert store.count() == 4 and store.count(source=None) == 5
    with pytest.raises(ValueError, match="timezone-aware"):
        store.entries(since=datetime(2025, 3, 1))
    assert store.clear(source="eval") == 1
    assert store.count(source=None) == 4
    assert store.clear() == 4 and store.entries(source=None) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"route": "elsewhere"}, "route must be one of local, cloud"),
    ({"where": "moon"}, "where must be one of on-device, cloud"),
    ({"source": "test"}, "source must be one of app, eval"),
    ({"tokens_in": -1}, "tokens_in must be a finite number of at least 0"),
    ({"tokens_out": 2.5}, "tokens_out must be an integer"),
    ({"cost_usd": -0.01}, "cost_usd must be a finite number of at least 0"),
    ({"cost_if_cloud_usd": float("nan")}, "cost_if_cloud_usd must be a finite number"),
    ({"total_s": float("inf")}, "total_s must be a finite number"),
    ({"cloud_probability": 1.5}, "cloud_probability must be at most 1.0"),
    ({"at": datetime(2025, 3, 4, 5, 6)}, "at must be a timezone-aware datetime"),
    ({"question_kind": ""}, "must not be empty"),
])
def test_bad_entry_is_refused_and_nothing_is_stored(store, change, message):
    store.record(entry())
    with pytest.raises(ValueError, match=message):
        store.record(entry(**change))
    assert store.count(source=None) == 1


def test_migration_from_the_previous_version_keeps_other_tables(db_file):
    db_file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{db_file}")
    with engine.begin() as conn:  # a database as the release before the ledger left it
        for step in MIGRATIONS[:3]:
            step(conn)
        conn.exec_driver_sql("PRAGMA user_version = 3")
        conn.exec_driver_sql("INSERT INTO lesson_progress VALUES ('loops', '05-loops', 'done', '2025-03-01 10:00:00')")
    engine.dispose()
    with sqlite3.connect(db_file) as conn:
        assert "answer_ledger" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    ledger = LedgerStore(db_file)
    progress = LearningRecord(db_file)
    try:
        assert progress.states("loops") == {"05-loops": "done"}
        assert ledger.entries() == []
        ledger.record(entry())
        assert ledger.count() == 1
    finally:
        ledger.close()
        progress.close()
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_migrated_schema_matches_the_orm_table(db_file):
    engine = open_database(db_file)
    try:
        insp = inspect(engine)
        table = LedgerRow.__table__
        columns = {c["name"]: c for c in insp.get_columns("answer_ledger")}
        assert set(columns) == {c.name for c in table.columns}
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, column.name
            assert columns[column.name]["type"]._type_affinity is column.type._type_affinity, column.name
        indexes = {i["name"]: (tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes("answer_ledger")}
        assert indexes == {i.name: (tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes}
        assert indexes == {"ix_answer_ledger_at": (("at",), False)}
    finally:
        engine.dispose()


def test_the_service_container_hands_out_one_ledger(lantern_home):
    from app.services.app_services import AppServices
    from app.services.settings_store import load_settings, paths_for

    settings = load_settings()
    with AppServices(settings, paths_for(settings)) as services:
        assert services.ledger is services.ledger
        services.ledger.record(entry())
        assert services.ledger.count() == 1
