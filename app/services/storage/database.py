"""The app database: one SQLite file (DataPaths.database_file) shared by every stored feature.

- Opening applies the pragmas every connection needs (WAL, foreign keys, busy timeout) and brings
  the schema up to date with the ordered MIGRATIONS list, tracked in `PRAGMA user_version`.
  Migrations are frozen SQL, not `metadata.create_all()`: a step must create the same thing
  forever, whatever the ORM classes look like later. tests/services/test_models_registry.py checks
  that the migrated schema and the ORM tables agree.
- A database written by a newer Lantern is left alone (DatabaseTooNew).
- A file that is not a SQLite database, or is damaged, is never deleted: it is renamed aside to
  `<name>.corrupt-<timestamp>` (with its -wal/-shm files), a fresh database is created, and
  DatabaseCorrupt tells the user where the old one is. Models on disk are untouched and can be
  registered again with `lantern models import`.
- sqlite3/SQLAlchemy exceptions are translated to LanternErrors here (`translate_errors`), once.

Transactions: pysqlite starts them lazily and not before DDL, so we turn its own handling off and
emit BEGIN ourselves (the recipe in SQLAlchemy's SQLite docs); that makes migrations atomic.
`writing(engine)` gives an engine whose transactions start with BEGIN IMMEDIATE, so read-then-write
sessions wait on busy_timeout for the write lock instead of failing with SQLITE_BUSY under WAL.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import URL, Connection, DateTime, Engine, create_engine, event, exc
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.core.errors import DiskFull, LanternError
from app.core.i18n import _

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "lantern_begin"

# SQLite primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26


class DatabaseUnavailable(RuntimeError, LanternError):
    """The app database cannot be opened, read or written (locked, read-only, I/O error).

    The database errors live here rather than in app.core.errors only because this change could
    not edit that file; move them there.
    """


class DatabaseCorrupt(DatabaseUnavailable):
    """The database file is not SQLite or is damaged; see debug_context['moved_to']."""


class DatabaseTooNew(DatabaseUnavailable):
    """The database was written by a newer Lantern with a schema this one does not know."""


class Base(DeclarativeBase):
    """Declarative base for every table in the app database."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; SQLite itself has no time zones, so store naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# --- migrations -------------------------------------------------------------------------------
# MIGRATIONS[n] turns a version-n database into version n+1. Append; never edit a released step.

def _v1_installed_models(conn: Connection) -> None:
    conn.exec_driver_sql("""
        CREATE TABLE installed_models (
            pk INTEGER NOT NULL PRIMARY KEY,
            id VARCHAR NOT NULL,
            display_name VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            source_ref VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            managed BOOLEAN NOT NULL,
            format VARCHAR NOT NULL,
            backend VARCHAR NOT NULL,
            size_bytes INTEGER NOT NULL,
            sha256 VARCHAR,
            verified_at DATETIME,
            status VARCHAR NOT NULL,
            catalog_id VARCHAR,
            quant VARCHAR,
            architecture VARCHAR,
            context_length INTEGER,
            has_chat_template BOOLEAN,
            measured_tps FLOAT,
            added_at DATETIME NOT NULL
        )""")
    conn.exec_driver_sql("CREATE UNIQUE INDEX ix_installed_models_id ON installed_models (id)")
    conn.exec_driver_sql("CREATE INDEX ix_installed_models_sha256 ON installed_models (sha256)")


def _v2_lesson_progress(conn: Connection) -> None:
    conn.exec_driver_sql("""
        CREATE TABLE lesson_progress (
            course_id VARCHAR NOT NULL,
            lesson_id VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            updated_at DATETIME NOT NULL,
            PRIMARY KEY (course_id, lesson_id)
        )""")


def _v3_backend_names(conn: Connection) -> None:
    # The backend column used "llama_cpp" while the inference registry says "llama.cpp": one name now.
    conn.exec_driver_sql("UPDATE installed_models SET backend = 'llama.cpp' WHERE backend = 'llama_cpp'")


def _v4_answer_ledger(conn: Connection) -> None:
    # The savings ledger (app.services.storage.ledger): one row per tutor answer. "where" is an SQL
    # keyword, so that field is stored as `location`.
    conn.exec_driver_sql("""
        CREATE TABLE answer_ledger (
            id INTEGER NOT NULL PRIMARY KEY,
            at DATETIME NOT NULL,
            course_id VARCHAR NOT NULL,
            question_kind VARCHAR NOT NULL,
            route VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            reason_code VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            location VARCHAR NOT NULL,
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL,
            ttft_s FLOAT,
            total_s FLOAT NOT NULL,
            cost_usd FLOAT NOT NULL,
            cost_if_cloud_usd FLOAT,
            fell_back BOOLEAN NOT NULL,
            fallback_reason VARCHAR,
            quality VARCHAR,
            cloud_probability FLOAT,
            local_attempt_s FLOAT,
            source VARCHAR NOT NULL
        )""")
    conn.exec_driver_sql("CREATE INDEX ix_answer_ledger_at ON answer_ledger (at)")


def _v5_learning_record(conn: Connection) -> None:
    # The learning record (app.services.storage.learning_record): append-only events and register
    # changes that sync between devices; lesson_progress becomes a view derived from the events.
    # `pushed` is 1 once the sync server has the record (pulled records arrive pushed).
    conn.exec_driver_sql("""
        CREATE TABLE sync_events (
            id VARCHAR NOT NULL PRIMARY KEY,
            kind VARCHAR NOT NULL,
            hlc VARCHAR NOT NULL,
            course_id VARCHAR NOT NULL,
            lesson_id VARCHAR,
            data VARCHAR NOT NULL,
            pushed BOOLEAN NOT NULL
        )""")
    conn.exec_driver_sql("CREATE INDEX ix_sync_events_lesson ON sync_events (course_id, lesson_id)")
    conn.exec_driver_sql("CREATE INDEX ix_sync_events_hlc ON sync_events (hlc)")
    conn.exec_driver_sql("CREATE INDEX ix_sync_events_pushed ON sync_events (pushed)")
    conn.exec_driver_sql("""
        CREATE TABLE sync_changes (
            id VARCHAR NOT NULL PRIMARY KEY,
            entity VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            value VARCHAR NOT NULL,
            hlc VARCHAR NOT NULL,
            base VARCHAR NOT NULL,
            pushed BOOLEAN NOT NULL
        )""")
    conn.exec_driver_sql("CREATE INDEX ix_sync_changes_key ON sync_changes (entity, key)")
    conn.exec_driver_sql("CREATE INDEX ix_sync_changes_hlc ON sync_changes (hlc)")
    conn.exec_driver_sql("CREATE INDEX ix_sync_changes_pushed ON sync_changes (pushed)")
    conn.exec_driver_sql("CREATE TABLE sync_meta (name VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL)")
    # This device's clock node: random, made once, never leaves the record's timestamps.
    import json
    import os
    import uuid as _uuid

    node = os.urandom(8).hex()
    conn.exec_driver_sql("INSERT INTO sync_meta (name, value) VALUES ('node', ?)", (node,))
    # Progress kept before the learning record becomes its first events, so nothing is lost on upgrade.
    rows = conn.exec_driver_sql("SELECT course_id, lesson_id, state, updated_at FROM lesson_progress").fetchall()
    counter = 0
    for course_id, lesson_id, state, updated_at in rows:
        at = datetime.fromisoformat(str(updated_at)).replace(tzinfo=UTC)
        ms = int(at.timestamp() * 1000)
        for kind in ("lesson.opened", "lesson.done") if state == "done" else ("lesson.opened",):
            rand = int.from_bytes(os.urandom(10), "big")  # a UUIDv7 (app.core.sync.ids, frozen here)
            value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
            hlc = f"{ms:016d}-{counter % 0x10000:04x}-{node}"
            counter += 1
            conn.exec_driver_sql(
                "INSERT INTO sync_events (id, kind, hlc, course_id, lesson_id, data, pushed) "
                "VALUES (?, ?, ?, ?, ?, ?, 0)",
                (str(_uuid.UUID(int=value)), kind, hlc, course_id, lesson_id, json.dumps({})))


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_installed_models,  # 0 -> 1
    _v2_lesson_progress,   # 1 -> 2
    _v3_backend_names,     # 2 -> 3
    _v4_answer_ledger,     # 3 -> 4
    _v5_learning_record,   # 4 -> 5
]
SCHEMA_VERSION = len(MIGRATIONS)


# --- engine -----------------------------------------------------------------------------------

def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """PRAGMA journal_mode = WAL, waiting for a lock like every other statement.

    Turning a new database to WAL needs an exclusive lock, and SQLite fails that at once with
    "database is locked" instead of calling the busy handler: two connections opening a fresh
    database together (the setup wizard's two workers, a CLI command started beside the GUI) then
    failed. So retry here, for as long as busy_timeout would have waited. Where WAL cannot work
    (some network disks) the mode stays "delete", which is not an error.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _create_engine(path: Path) -> Engine:
    engine = create_engine(URL.create("sqlite", database=str(path)))  # no URL parsing: '?' or '#' in a path
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writing(engine: Engine) -> Engine:
    """The same engine (same pool) with transactions that take the write lock up front."""
    return engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})


def open_database(path: Path) -> Engine:
    """An engine for the app database at `path`, created or migrated to SCHEMA_VERSION.

    Raises DatabaseCorrupt (after moving the bad file aside and creating a fresh one),
    DatabaseTooNew, or DatabaseUnavailable.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatabaseUnavailable(
            _("The folder for the Lantern database, {parent}, cannot be created ({reason}).").format(
              parent=path.parent, reason=err.strerror or err),
            hint=_("Check the folder's permissions, or point LANTERN_HOME somewhere writable."),
            debug_context={"path": str(path)},
        ) from err
    if not _looks_like_sqlite(path):
        # Before SQLite opens it: on close SQLite would delete the -wal/-shm files next to it.
        _recover_from_corrupt(path, _("the file does not start with the SQLite header"))
    engine = _create_engine(path)
    try:
        _migrate(engine, path)
    except exc.DBAPIError as err:
        engine.dispose()
        if _is_corrupt(err):
            _recover_from_corrupt(path, err)  # raises DatabaseCorrupt saying where the old file went
        raise _translate(err, path) from err
    except BaseException:
        engine.dispose()
        raise
    return engine


def _migrate(engine: Engine, path: Path) -> None:
    with engine.connect() as conn:
        version = _user_version(conn)
        conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()  # reads the schema: damage shows
    _check_not_newer(version, path)
    if version == SCHEMA_VERSION:
        return
    # Another process may be migrating too: take the write lock, then look again.
    with writing(engine).connect() as conn, conn.begin():
        version = _user_version(conn)
        _check_not_newer(version, path)
        for step in MIGRATIONS[version:]:
            log.info("Migrating %s: %s", path, step.__name__)
            step(conn)
        if version != SCHEMA_VERSION:
            conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _user_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def _check_not_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise DatabaseTooNew(
            _("The Lantern database at {path} was written by a newer version of Lantern (schema {version}; this one "
              "knows up to {schema_version}).").format(path=path, version=version, schema_version=SCHEMA_VERSION),
            hint=_("Update Lantern to use it. The database was left as it is."),
            debug_context={"path": str(path), "user_version": version, "known": SCHEMA_VERSION},
        )


# --- errors -----------------------------------------------------------------------------------

def _sqlite_code(err: BaseException) -> int | None:
    orig = getattr(err, "orig", err)
    code = getattr(orig, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _looks_like_sqlite(path: Path) -> bool:
    """False only for a file that is certainly not SQLite (an empty file is a valid empty database)."""
    try:
        with path.open("rb") as fh:
            header = fh.read(16)
    except OSError:
        return True  # missing, a folder, unreadable: SQLite creates it or says why it cannot open it
    return not header or header == b"SQLite format 3\x00"


def _is_corrupt(err: BaseException) -> bool:
    code = _sqlite_code(err)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(getattr(err, "orig", err)).lower()
    return "file is not a database" in text or "malformed" in text


def _recover_from_corrupt(path: Path, err: BaseException | str) -> NoReturn:
    """Rename the damaged database (and its WAL/shared-memory files) aside, then create a fresh one."""
    if isinstance(err, BaseException):
        err = str(getattr(err, "orig", err))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 2
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    moving = path
    try:
        path.replace(aside)
        # Its -wal file must move too, or SQLite would replay an old WAL into the new database.
        for suffix in ("-wal", "-shm", "-journal"):
            moving = path.with_name(path.name + suffix)
            if moving.exists():
                moving.replace(aside.with_name(aside.name + suffix))
    except OSError as move_err:
        raise DatabaseCorrupt(
            _("The Lantern database at {path} cannot be read: it is not a SQLite database or it is damaged.").format(
              path=path),
            hint=_("Lantern could not move {moving} aside ({reason}). Quit Lantern, move or rename it yourself "
                   "(nothing needs deleting), and start again; models on disk can then be registered again with "
                   "`lantern models import`.").format(moving=moving, reason=move_err.strerror or move_err),
            debug_context={"path": str(path), "error": str(err), "moved_to": str(aside)},
        ) from move_err
    log.warning("Database %s is damaged (%s); moved aside to %s", path, err, aside)
    fresh = _create_engine(path)
    try:
        _migrate(fresh, path)
    except exc.DBAPIError as fresh_err:
        raise _translate(fresh_err, path) from fresh_err
    finally:
        fresh.dispose()
    raise DatabaseCorrupt(
        _("The Lantern database at {path} could not be read (it is not a SQLite database or it is damaged), so "
          "Lantern started a new, empty one.").format(path=path),
        hint=_("Nothing was deleted: the old file is now {aside}. Run the command again. Model files on disk are "
               "untouched; register them again with `lantern models import`.").format(aside=aside),
        debug_context={"path": str(path), "moved_to": str(aside), "error": str(err)},
    )


def _translate(err: BaseException, path: Path) -> LanternError:
    """The LanternError for a sqlite3/SQLAlchemy error on the database at `path`."""
    code = _sqlite_code(err)
    context: dict[str, Any] = {"path": str(path), "error": str(getattr(err, "orig", err)), "sqlite_code": code}
    if _is_corrupt(err):
        return DatabaseCorrupt(
            _("The Lantern database at {path} is damaged.").format(path=path),
            hint=_("Quit Lantern, rename the file (keep it: nothing needs deleting) and start again with a new "
                   "database. Model files on disk are untouched; `lantern models import` registers them again."),
            debug_context=context,
        )
    if code == _SQLITE_FULL:
        return DiskFull(
            _("The disk holding the Lantern database ({path}) is full.").format(path=path),
            hint=_("Free some disk space and try again."),
            debug_context=context,
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseUnavailable(
            _("The Lantern database at {path} is busy: another Lantern process is using it.").format(path=path),
            hint=_("Try again in a moment; if it keeps happening, close other Lantern windows and commands."),
            debug_context=context,
        )
    if code == _SQLITE_READONLY:
        return DatabaseUnavailable(
            _("The Lantern database at {path} cannot be written.").format(path=path),
            hint=_("Check that you own the file and its folder and that the disk is not read-only."),
            debug_context=context,
        )
    if code == _SQLITE_CANTOPEN:
        return DatabaseUnavailable(
            _("The Lantern database at {path} cannot be opened.").format(path=path),
            hint=_("Check that the path is a file you can read and write (not a folder), or point LANTERN_HOME "
                   "somewhere writable."),
            debug_context=context,
        )
    if code == _SQLITE_IOERR:
        return DatabaseUnavailable(
            _("The disk failed while Lantern was using its database at {path}.").format(path=path),
            hint=_("Check the disk (and that it is still connected), then try again."),
            debug_context=context,
        )
    return DatabaseUnavailable(
        _("The Lantern database at {path} failed: {error}.").format(path=path, error=context['error']),
        hint=_("Try again; if it keeps happening, run with --debug and report the log."),
        debug_context=context,
    )


@contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3/SQLAlchemy errors raised inside the block into LanternErrors."""
    try:
        yield
    except (exc.DBAPIError, sqlite3.Error) as err:
        raise _translate(err, path) from err


class DatabaseStore:
    """One table family of the app database: an engine opened (and migrated) once, and a short session
    per call — reading, or writing with the write lock taken up front — so a store can be shared
    between threads and several processes can share the file."""

    def __init__(self, database_file: Path) -> None:
        self.database_file = database_file
        self._engine = open_database(database_file)
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(writing(self._engine), expire_on_commit=False)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        maker = self._writer if write else self._reader
        with translate_errors(self.database_file), maker() as session, session.begin():
            yield session
