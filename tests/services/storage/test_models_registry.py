"""The installed-model registry on real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from app.core.errors import AmbiguousModelRef, LanternError, ModelAlreadyInstalled, ModelNotInstalled
from app.core.installed import InstalledModel
from app.services.storage import (
    SCHEMA_VERSION,
    DatabaseCorrupt,
    DatabaseTooNew,
    DatabaseUnavailable,
    ModelRegistry,
    open_database,
)
from app.services.storage.models_registry import InstalledModelRow

SHA_A = "a" * 64
SHA_B = "b" * 64
ADDED = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def model(model_id: str, **changes) -> InstalledModel:
    fields = dict(
        id=model_id, display_name=f"Model {model_id}", source="catalog",
        source_ref="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-instruct-q8_0.gguf@" + "c" * 40,
        path=f"/models/{model_id}.gguf", managed=True, format="gguf", backend="llama.cpp", size_bytes=491_400_064,
        sha256=SHA_A, verified_at=datetime(2025, 3, 4, 6, 0, tzinfo=UTC), status="ok",
        catalog_id="qwen2.5-coder-0.5b-instruct", quant="Q8_0", architecture="qwen2", context_length=32768,
        has_chat_template=True, measured_tps=41.5, added_at=ADDED,
    )
    return InstalledModel(**{**fields, **changes})


@pytest.fixture
def db_file(tmp_path):
    return tmp_path / "data" / "lantern.sqlite3"


@pytest.fixture
def registry(db_file):
    with ModelRegistry(db_file) as reg:
        yield reg


def test_round_trip_keeps_every_field(registry, db_file):
    plus7 = timezone(timedelta(hours=7))
    full = model("qwen2.5-coder-0.5b-instruct:q8_0", verified_at=datetime(2025, 3, 4, 13, 0, tzinfo=plus7))
    bare = InstalledModel(id="imported", display_name="Imported", source="import", source_ref="/home/me/x.gguf",
                          path="/home/me/x.gguf", managed=False, format="gguf", backend="llama.cpp", size_bytes=0,
                          sha256=SHA_B, added_at=ADDED)
    mlx = model("mlx-model", format="mlx", backend="mlx", sha256=None, has_chat_template=False, measured_tps=None)
    for m in (full, bare, mlx):
        assert registry.add(m) == m
    assert db_file.exists()
    got = registry.get(full.id)
    assert got == full
    assert got.verified_at == datetime(2025, 3, 4, 6, 0, tzinfo=UTC) and got.verified_at.tzinfo is UTC
    assert got.added_at == ADDED and got.added_at.tzinfo is UTC  # microseconds survive
    assert registry.get("imported") == bare and registry.get("imported").verified_at is None
    assert registry.get("mlx-model") == mlx
    assert [m.id for m in registry.list()] == ["imported", "mlx-model", "qwen2.5-coder-0.5b-instruct:q8_0"]
    assert registry.remove("imported") == bare
    assert [m.id for m in registry.list()] == ["mlx-model", "qwen2.5-coder-0.5b-instruct:q8_0"]
    with pytest.raises(ModelNotInstalled):
        registry.remove("imported")


def test_duplicate_id_is_refused_and_new_id_avoids_it(registry):
    registry.add(model("phi"))
    with pytest.raises(ModelAlreadyInstalled) as info:
        registry.add(model("phi", path="/elsewhere.gguf"))
    assert "phi" in info.value.user_message and "lantern models rm phi" in info.value.hint
    assert registry.new_id("Phi") == "phi-2"
    assert registry.new_id("Qwen 2.5 Coder") == "qwen-2.5-coder"
    assert len(registry.list()) == 1


def test_lookup_by_prefix_and_catalog_id(registry):
    registry.add(model("qwen2.5-coder-0.5b-instruct:q8_0"))
    registry.add(model("qwen2.5-coder-0.5b-instruct:q4_k_m", quant="Q4_K_M"))
    registry.add(model("smollm2-135m-instruct:q4_1", catalog_id="smollm2-135m"))
    assert registry.get("smol").id == "smollm2-135m-instruct:q4_1"
    assert registry.get("smollm2-135m").id == "smollm2-135m-instruct:q4_1"
    assert registry.get("qwen2.5-coder-0.5b-instruct:q4").id == "qwen2.5-coder-0.5b-instruct:q4_k_m"
    assert registry.get("SMOLLM2-135M-INSTRUCT:Q4_1").id == "smollm2-135m-instruct:q4_1"
    with pytest.raises(AmbiguousModelRef) as info:
        registry.get("qwen")
    assert isinstance(info.value, LanternError)
    assert "qwen2.5-coder-0.5b-instruct:q8_0" in info.value.user_message
    assert "qwen2.5-coder-0.5b-instruct:q4_k_m" in info.value.user_message
    with pytest.raises(AmbiguousModelRef):
        registry.get("qwen2.5-coder-0.5b-instruct")  # the catalog id of both


def test_unknown_id(registry):
    registry.add(model("phi"))
    with pytest.raises(ModelNotInstalled) as info:
        registry.get("llama")
    assert isinstance(info.value, KeyError) and info.value.hint == "See `lantern models list`."
    assert "llama" in str(info.value)
    for change in (lambda: registry.mark_status("ph", "ok"), lambda: registry.set_measured_speed("nope", 3.0)):
        with pytest.raises(ModelNotInstalled):  # changes need the exact id
            change()


def test_usable_only_hides_broken_and_unverified(registry):
    registry.add(model("good"))
    registry.add(model("unverified", verified_at=None))
    registry.add(model("corrupt", status="corrupt"))
    registry.add(model("missing"))
    registry.mark_status("missing", "missing")
    assert [m.id for m in registry.list(usable_only=True)] == ["good"]
    assert len(registry.list()) == 4
    when = datetime(2026, 1, 2, tzinfo=UTC)
    verified = registry.mark_verified("corrupt", at=when, size_bytes=123, sha256=SHA_B)
    assert verified.status == "ok" and verified.verified_at == when and verified.sha256 == SHA_B
    assert registry.get("corrupt") == verified
    assert [m.id for m in registry.list(usable_only=True)] == ["corrupt", "good"]
    with pytest.raises(ValueError):
        registry.mark_status("good", "broken")  # type: ignore[arg-type]
    assert registry.get("good").status == "ok"


def test_find_by_sha256_path_and_speed(registry):
    registry.add(model("a", sha256=SHA_A, path="/models/a.gguf"))
    registry.add(model("b", sha256=SHA_B, path="/models/b.gguf"))
    assert registry.find_by_sha256(SHA_B.upper()).id == "b"
    assert registry.find_by_sha256("c" * 64) is None
    assert registry.find_by_path("/models/a.gguf").id == "a"
    assert registry.find_by_path("/models//a.gguf").id == "a"
    assert registry.find_by_path("/models/c.gguf") is None
    assert registry.set_measured_speed("a", 12.25).measured_tps == 12.25
    assert registry.get("a").measured_tps == 12.25
    with pytest.raises(ValueError):
        registry.set_measured_speed("a", float("nan"))


def test_two_registries_share_the_file(db_file):
    with ModelRegistry(db_file) as one, ModelRegistry(db_file) as two:
        one.add(model("from-one"))
        assert two.get("from-one").id == "from-one"
        two.mark_status("from-one", "corrupt")
        assert one.get("from-one").status == "corrupt"
        two.remove("from-one")
        assert one.list() == []


def test_concurrent_adds_from_eight_threads_lose_nothing(registry, db_file):
    start = threading.Barrier(8)

    def add_many(thread: int) -> None:
        start.wait()
        for i in range(25):
            registry.add(model(f"t{thread}-m{i}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add_many, range(8)))
    assert len(registry.list()) == 200
    with ModelRegistry(db_file) as other:  # and another connection pool sees them all
        assert len(other.list()) == 200


def test_concurrent_adds_of_the_same_id_keep_one(db_file):
    registries = [ModelRegistry(db_file) for _ in range(8)]
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def add(reg: ModelRegistry) -> None:
        start.wait()
        try:
            reg.add(model("same"))
            outcomes.append("added")
        except ModelAlreadyInstalled:
            outcomes.append("refused")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, registries))
    assert sorted(outcomes) == ["added"] + ["refused"] * 7
    assert [m.id for m in registries[0].list()] == ["same"]
    for reg in registries:
        reg.close()


def test_reopen_after_close_keeps_data(db_file):
    reg = ModelRegistry(db_file)
    reg.add(model("kept"))
    reg.close()
    with ModelRegistry(db_file) as again:
        assert again.get("kept") == model("kept")


def test_pragmas_and_schema_version(db_file):
    engine = open_database(db_file)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION
    finally:
        engine.dispose()
    open_database(db_file).dispose()  # opening an up-to-date database again changes nothing


def test_a_fresh_database_locked_by_another_connection_is_waited_for(db_file):
    # Turning a new database to WAL fails at once while another connection holds a lock (SQLite does
    # not call the busy handler there): the wizard's two workers opening a fresh database together hit it.
    db_file.parent.mkdir(parents=True)
    other = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE held (x)")
    release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        engine = open_database(db_file)
    finally:
        release.join()
        other.close()
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_orm_table(db_file):
    engine = open_database(db_file)
    try:
        insp = inspect(engine)
        table = InstalledModelRow.__table__
        columns = {c["name"]: c for c in insp.get_columns("installed_models")}
        assert set(columns) == {c.name for c in table.columns}
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, column.name
            assert columns[column.name]["type"]._type_affinity is column.type._type_affinity, column.name
        indexes = {i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
                   for i in insp.get_indexes("installed_models")}
        assert indexes == {i.name: (tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes}
    finally:
        engine.dispose()


def test_garbage_file_is_moved_aside_not_deleted(db_file):
    db_file.parent.mkdir(parents=True)
    garbage = b"this is not a database " * 200
    db_file.write_bytes(garbage)
    (db_file.parent / (db_file.name + "-wal")).write_bytes(b"old wal")
    with pytest.raises(DatabaseCorrupt) as info:
        ModelRegistry(db_file)
    err = info.value
    aside = db_file.parent / err.debug_context["moved_to"]
    assert aside.name.startswith("lantern.sqlite3.corrupt-")
    assert aside.read_bytes() == garbage  # nothing deleted
    assert (aside.parent / (aside.name + "-wal")).read_bytes() == b"old wal"
    assert str(db_file) in err.user_message and str(aside) in err.hint and "lantern models import" in err.hint
    # a fresh, working database is in place
    with ModelRegistry(db_file) as reg:
        assert reg.list() == []
        reg.add(model("new"))
    assert aside.read_bytes() == garbage


def test_damaged_database_is_moved_aside_with_its_data(db_file):
    with ModelRegistry(db_file) as reg:
        reg.add(model("lost"))
    data = bytearray(db_file.read_bytes())
    data[100:4096] = b"\xff" * 3996  # page 1 (the schema) destroyed, header intact
    db_file.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorrupt) as info:
        ModelRegistry(db_file)
    aside = db_file.parent / info.value.debug_context["moved_to"]
    assert aside.read_bytes() == bytes(data)
    with ModelRegistry(db_file) as reg:
        assert reg.list() == []


def test_future_schema_version_is_refused_and_left_alone(db_file):
    db_file.parent.mkdir(parents=True)
    with sqlite3.connect(db_file) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(DatabaseTooNew) as info:
        ModelRegistry(db_file)
    assert "newer version of Lantern" in info.value.user_message and "Update Lantern" in info.value.hint
    assert isinstance(info.value, LanternError)
    with sqlite3.connect(db_file) as conn:  # no migration ran on it
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 5
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["future"]
    conn.close()
    assert not list(db_file.parent.glob("*.corrupt-*"))


def test_a_folder_at_the_database_path_is_a_clear_error(db_file):
    db_file.mkdir(parents=True)
    with pytest.raises(DatabaseUnavailable) as info:
        ModelRegistry(db_file)
    assert not isinstance(info.value, DatabaseCorrupt)
    assert "cannot be opened" in info.value.user_message and info.value.hint
    assert db_file.is_dir()
