"""The eval's answer cache: one SQLite row per (model file, prompt version, settings, query, course).

A rerun of `lantern eval tutor` only asks the model what changed: a new model file (by sha256), a new
prompt version, new decoding settings, an edited query or an edited course. Each answer is committed
as soon as it is finished, so Ctrl-C (or a crash) loses at most the answer being written. Judge scores
are cached the same way, keyed by the judge model and the exact answer text.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from app.core.errors import LanternError
from app.core.evaluation.records import AnswerRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, model_sha256 TEXT NOT NULL, prompt_version TEXT NOT NULL, query_id TEXT NOT NULL,
    record TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')));
CREATE TABLE IF NOT EXISTS judge_scores (
    key TEXT PRIMARY KEY, score REAL, created_at TEXT NOT NULL DEFAULT (datetime('now')));
"""


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class AnswerCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path)
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LanternError(f"The eval cache {path} cannot be opened ({exc}).",
                               hint="Delete the file (it only holds cached answers) or run with --no-cache.") from exc

    def get(self, key: str) -> AnswerRecord | None:
        row = self._db.execute("SELECT record FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return AnswerRecord.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return None  # written by an older layout: compute it again

    def put(self, key: str, record: AnswerRecord, *, model_sha256: str, prompt_version: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO answers (key, model_sha256, prompt_version, query_id, record) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (key, model_sha256, prompt_version, record.query_id,
                              json.dumps(record.to_dict(), ensure_ascii=False)))

    def judge_score(self, key: str) -> tuple[bool, float | None]:
        """(found, score): a judge that gave no usable score is cached as None too."""
        row = self._db.execute("SELECT score FROM judge_scores WHERE key = ?", (key,)).fetchone()
        return (False, None) if row is None else (True, row[0])

    def put_judge_score(self, key: str, score: float | None) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO judge_scores (key, score) VALUES (?, ?)", (key, score))

    def close(self) -> None:
        self._db.close()
