"""How a course's index compares with the course and the current embedding model, read without
loading the embedder (the course list and `courses list` show it for every course)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.courses import Course
from app.services.knowledge.index_store import IndexStore
from app.services.knowledge.indexer import STORE_FILE, index_folder

IndexState = Literal["ready", "stale", "not indexed"]


@dataclass(frozen=True)
class IndexStatus:
    state: IndexState  # "stale": some lessons changed, or it was built with another embedder
    chunks: int
    changed_lessons: int  # lessons to (re-)embed or remove on the next `courses index`
    embedder: str | None  # the embedding model the index was built with

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def index_status(course: Course, *, index_dir: Path, embedder_fingerprint: str | None) -> IndexStatus:
    """`embedder_fingerprint` is the current embedding model's (None when none is installed)."""
    path = index_folder(index_dir, course.id) / STORE_FILE
    if not path.exists():
        return IndexStatus("not indexed", 0, len(course.lessons), None)
    store = IndexStore(path)
    try:
        indexed = store.lessons()
        chunks = store.chunk_count()
        built_with = store.meta("embedder")
        settings = json.loads(store.meta("settings") or "{}")
    finally:
        store.close()
    changed = sum(1 for lesson in course.lessons
                  if indexed.get(lesson.id) is None or indexed[lesson.id].content_hash != lesson.content_hash)
    changed += len(set(indexed) - {lesson.id for lesson in course.lessons})
    if embedder_fingerprint is not None and settings.get("embedder") != embedder_fingerprint:
        return IndexStatus("stale", chunks, len(course.lessons), built_with)
    if not chunks:
        return IndexStatus("not indexed", 0, len(course.lessons), built_with)
    return IndexStatus("stale" if changed else "ready", chunks, changed, built_with)
