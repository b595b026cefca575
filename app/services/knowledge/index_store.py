"""A course's search index on disk: chunks, their vectors and an FTS5 lexical index in one SQLite file.

One file per course (`<index_dir>/<course id>/chunks.sqlite3`), beside the hnswlib file. The SQLite
file is the source of truth: every lesson is replaced in one transaction (its chunks, their vectors
and their FTS rows together), and `generation` counts those commits. The hnswlib file is a cache of
the vectors stored here, saved with the generation it matches; when a crash leaves it behind (or it
is missing or damaged) it is rebuilt from these vectors, so indexing resumes without re-embedding.

This uses the standard library's sqlite3 rather than the app database's SQLAlchemy layer: it is
derived data (deleting the folder only costs a re-index), and FTS5 virtual tables, bm25() and bulk
inserts are plain SQL that the ORM would only wrap.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.courses import CourseChunk
from app.core.errors import DiskFull, IndexNotReady
from app.core.i18n import _

SCHEMA = 1
# remove_diacritics 2: a learner typing "vong lap" without Vietnamese accents still finds "vòng lặp".
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


@dataclass(frozen=True)
class StoredChunk:
    label: int
    chunk: CourseChunk


@dataclass(frozen=True)
class LessonState:
    lesson_id: str
    content_hash: str
    chunk_count: int


def _chunk_row(row: sqlite3.Row) -> StoredChunk:
    return StoredChunk(row["label"], CourseChunk(
        lesson_id=row["lesson_id"], ordinal=row["ordinal"], titles=tuple(json.loads(row["titles"])),
        anchors=tuple(json.loads(row["anchors"])), text=row["text"], token_count=row["token_count"],
        lesson_title=row["lesson_title"], chunk_hash=row["chunk_hash"]))


class IndexStore:
    """Not thread-safe: one indexing or search worker uses a store at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise _translate(exc, path) from exc
        self._db.row_factory = sqlite3.Row
        with self._errors():
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._create()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _create(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA:
            return
        if version > SCHEMA:
            raise IndexNotReady(_("The search index at {path} was made by a newer Lantern.").format(path=self.path),
                                hint=_("Update Lantern, or delete that folder and index the course again."))
        with self.transaction() as db:
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("""CREATE TABLE lessons (lesson_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL,
                          chunk_count INTEGER NOT NULL)""")
            db.execute("""CREATE TABLE chunks (label INTEGER PRIMARY KEY, lesson_id TEXT NOT NULL,
                          ordinal INTEGER NOT NULL, titles TEXT NOT NULL, anchors TEXT NOT NULL, text TEXT NOT NULL,
                          lesson_title TEXT NOT NULL, token_count INTEGER NOT NULL, chunk_hash TEXT NOT NULL,
                          vector BLOB NOT NULL)""")
            db.execute("CREATE INDEX chunks_lesson ON chunks (lesson_id, ordinal)")
            db.execute(f"CREATE VIRTUAL TABLE chunks_fts USING fts5(heading, body, tokenize = '{FTS_TOKENIZER}')")
            db.execute(f"PRAGMA user_version = {SCHEMA}")

    # --- metadata -----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self._errors():
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, db: sqlite3.Connection, **values: Any) -> None:
        upsert = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        db.executemany(upsert, [(k, str(v)) for k, v in values.items()])

    @property
    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def lessons(self) -> dict[str, LessonState]:
        with self._errors():
            rows = self._db.execute("SELECT lesson_id, content_hash, chunk_count FROM lessons").fetchall()
        return {r[0]: LessonState(r[0], r[1], r[2]) for r in rows}

    def chunk_count(self) -> int:
        with self._errors():
            return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    # --- writing ------------------------------------------------------------------------------

    def reset(self, **meta: Any) -> None:
        """Forget every lesson (a new embedding model or chunking makes every vector stale)."""
        with self.transaction() as db:
            db.execute("DELETE FROM chunks")
            db.execute("DELETE FROM chunks_fts")
            db.execute("DELETE FROM lessons")
            db.execute("DELETE FROM meta")
            self.set_meta(db, generation=self.generation + 1, **meta)

    def replace_lesson(self, lesson_id: str, content_hash: str, chunks: Sequence[CourseChunk],
                       vectors: np.ndarray[Any, Any]) -> tuple[list[int], list[int]]:
        """Swap a lesson's chunks for new ones in one transaction; returns (removed labels, new labels)."""
        with self.transaction() as db:
            removed = self._delete_lesson(db, lesson_id)
            next_label = int(self._meta_in(db, "next_label") or 0)
            labels = list(range(next_label, next_label + len(chunks)))
            db.executemany(
                """INSERT INTO chunks (label, lesson_id, ordinal, titles, anchors, text, lesson_title, token_count,
                   chunk_hash, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(label, c.lesson_id, c.ordinal, json.dumps(c.titles, ensure_ascii=False),
                  json.dumps(c.anchors, ensure_ascii=False), c.text, c.lesson_title, c.token_count, c.chunk_hash,
                  np.asarray(v, dtype=np.float32).tobytes())
                 for label, c, v in zip(labels, chunks, vectors, strict=True)])
            db.executemany("INSERT INTO chunks_fts (rowid, heading, body) VALUES (?, ?, ?)",
                           [(label, " ".join((c.lesson_title, *c.titles)), c.text) for label, c in zip(labels, chunks,
                                                                                                     strict=True)])
            db.execute("INSERT INTO lessons (lesson_id, content_hash, chunk_count) VALUES (?, ?, ?)",
                       (lesson_id, content_hash, len(chunks)))
            self.set_meta(db, next_label=next_label + len(chunks), generation=self._generation_in(db) + 1)
        return removed, labels

    def remove_lesson(self, lesson_id: str) -> list[int]:
        with self.transaction() as db:
            removed = self._delete_lesson(db, lesson_id)
            self.set_meta(db, generation=self._generation_in(db) + 1)
        return removed

    def _delete_lesson(self, db: sqlite3.Connection, lesson_id: str) -> list[int]:
        removed = [r[0] for r in db.execute("SELECT label FROM chunks WHERE lesson_id = ?", (lesson_id,))]
        db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(label,) for label in removed])
        db.execute("DELETE FROM chunks WHERE lesson_id = ?", (lesson_id,))
        db.execute("DELETE FROM lessons WHERE lesson_id = ?", (lesson_id,))
        return removed

    def _meta_in(self, db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _generation_in(self, db: sqlite3.Connection) -> int:
        return int(self._meta_in(db, "generation") or 0)

    # --- reading ------------------------------------------------------------------------------

    def all_vectors(self, dimension: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(labels, vectors) of every chunk, to rebuild the vector index."""
        with self._errors():
            rows = self._db.execute("SELECT label, vector FROM chunks ORDER BY label").fetchall()
        labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dimension)
        return labels, vectors

    def hashes_and_vectors(self, dimension: int) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Every chunk's text hash and vector: what a course pack ships as precomputed embeddings."""
        with self._errors():
            rows = self._db.execute("SELECT chunk_hash, vector FROM chunks ORDER BY label").fetchall()
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dimension)
        return [r[0] for r in rows], vectors

    def chunks(self, labels: Iterable[int]) -> dict[int, StoredChunk]:
        wanted = list(labels)
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._errors():
            rows = self._db.execute(
                f"SELECT label, lesson_id, ordinal, titles, anchors, text, lesson_title, token_count, chunk_hash "
                f"FROM chunks WHERE label IN ({marks})", wanted).fetchall()
        return {r["label"]: _chunk_row(r) for r in rows}

    def lexical_search(self, match: str, *, limit: int) -> list[tuple[int, float]]:
        """(label, bm25 score; lower is better) for an FTS5 MATCH expression, best first. Heading words
        weigh double: a question naming a section's topic should find that section."""
        if not match:
            return []
        with self._errors():
            rows = self._db.execute(
                "SELECT rowid, bm25(chunks_fts, 2.0, 1.0) AS score FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY score LIMIT ?", (match, limit)).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def close(self) -> None:
        self._db.close()


def _translate(exc: BaseException, path: Path) -> Exception:
    text = str(exc).lower()
    if isinstance(exc, sqlite3.Error) and (("full" in text and "disk" in text) or
                                           getattr(exc, "sqlite_errorcode", 0) & 0xFF == 13):
        return DiskFull(_("The disk holding the search index ({path}) is full.").format(path=path),
                        hint=_("Free some disk space, then index the course again; finished lessons are kept."))
    if "malformed" in text or "not a database" in text:
        return IndexNotReady(_("The search index at {path} is damaged.").format(path=path),
                             hint=_("Delete the folder {parent} and index the course again.").format(
                                    parent=path.parent),
                             debug_context={"error": str(exc)})
    return IndexNotReady(_("The search index at {path} cannot be used: {exc}.").format(path=path, exc=exc),
                         hint=_("Check the disk and its permissions, then index the course again."),
                         debug_context={"error": str(exc)})
