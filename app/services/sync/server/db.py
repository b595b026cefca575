"""Engines and transactions for SQLite and PostgreSQL.

SQLite (one machine): every connection gets WAL, a busy timeout and foreign keys; pysqlite's own
transaction handling is turned off and we emit BEGIN ourselves (the recipe in SQLAlchemy's SQLite
docs, as app/services/storage/database.py does), so a write transaction starts with BEGIN
IMMEDIATE and waits on busy_timeout for the write lock instead of failing with SQLITE_BUSY when it
upgrades from reading. That lock also serialises pushes, which PostgreSQL does with a row lock.

PostgreSQL: psycopg 3, READ COMMITTED, a fixed connection pool per process (Database says why
it does not overflow or ping, and how a dead connection is retried).

Parameters are hidden from SQLAlchemy's error messages (`hide_parameters`): a logged error must
never carry a password hash, a token digest or a record body.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from app.services.storage.database import switch_to_wal

T = TypeVar("T")
log = logging.getLogger("lantern.sync")
BUSY_TIMEOUT_MS = 10_000
_BEGIN_OPTION = "lantern_sync_begin"


def backend_name(url: str) -> str:
    """"sqlite" or "postgresql": what logs and benchmarks may say about a database URL."""
    return make_url(url).get_backend_name()


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        switch_to_wal(cursor)  # the desktop database's retry: a fresh file's WAL switch does not wait
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 0) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("the sync server needs a SQLite file (sqlite:///path/to/sync.db), not a memory database")
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=max_overflow, **kwargs)
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=3600, **kwargs)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql+psycopg://")


def writing(engine: Engine) -> Engine:
    """The same engine and pool; on SQLite its transactions take the write lock up front."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
    return engine


class Database:
    """One engine per process. `run(work, write=...)` is how requests use it: `work(session)` in one
    transaction, committed when it returns; run once more on a fresh connection when the first one
    turned out dead (a restarted PostgreSQL, a proxy that dropped it). That is safe because every
    write the server makes is idempotent or harmless to repeat (a push skips known ids; a repeated
    login makes one more device), and it costs nothing while connections are fine, unlike checking
    each connection before use (`pool_pre_ping`, a round trip per request).

    The pool does not overflow: a burst waits for one of `pool_size` connections rather than
    opening (and, PostgreSQL forking a backend for each, paying for) connections it closes again.
    """

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 0) -> None:
        self.url = url
        self.backend = backend_name(url)
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        # Reads on PostgreSQL run in autocommit: no BEGIN and COMMIT round trips, and each statement
        # sees what was committed when it started, which is all a pull needs (store.py).
        reader = self.engine.execution_options(isolation_level="AUTOCOMMIT") if self.backend == "postgresql" \
            else self.engine
        self._reader = sessionmaker(bind=reader, expire_on_commit=False)
        self._writer = sessionmaker(bind=writing(self.engine), expire_on_commit=False)
        self._write_lock: AbstractContextManager[Any] = threading.Lock() if self.backend == "sqlite" else nullcontext()

    def run(self, work: Callable[[Session], T], *, write: bool) -> T:
        for attempt in (1, 2):
            try:
                with self.write() if write else self.read() as session:
                    return work(session)
            except DBAPIError as err:
                if attempt == 2 or not err.connection_invalidated:
                    raise
                log.warning("database_reconnect", extra={"fields": {"backend": self.backend}})
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        # SQLite has one writer at a time, and a writer waiting in busy_timeout polls with growing
        # sleeps (up to 100 ms), so under load the unlucky wait seconds. Queued on a lock in this
        # process they start the moment the last one commits; other processes still wait in SQLite.
        with self._write_lock, self._writer() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
