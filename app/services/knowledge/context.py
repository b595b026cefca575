"""The course services, built once from settings and paths for the CLI and the GUI: the course library,
the embedding model, indexing, search and tutoring sessions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from app.core.catalog import Catalog
from app.core.courses import Course
from app.core.inference import CancelToken, ChatBackend
from app.core.installed import InstalledModel
from app.core.retrieval import fusion_weights
from app.core.settings import LanternSettings
from app.services.catalog_store import default_catalog
from app.services.knowledge.course_library import CourseLibrary, InstalledCourse, builtin_course_dirs
from app.services.knowledge.index_store import IndexStore
from app.services.knowledge.indexer import (
    STORE_FILE,
    EmbedderIdentity,
    IndexProgress,
    IndexReport,
    index_course,
    index_folder,
)
from app.services.knowledge.models import choose_chat_model, choose_embedder, embedder_identity, open_embedder
from app.services.knowledge.search import CourseSearcher
from app.services.knowledge.tutor_session import TutorSession
from app.services.paths import DataPaths
from app.services.storage.models_registry import ModelRegistry


@dataclass(frozen=True)
class IndexStatus:
    state: str  # "ready", "stale" (some lessons changed or another embedder), "not indexed"
    chunks: int
    changed_lessons: int  # lessons to (re-)embed or remove on the next `courses index`
    embedder: str | None  # the embedding model the index was built with

    @property
    def ready(self) -> bool:
        return self.state == "ready"


class CourseServices:
    def __init__(self, settings: LanternSettings, paths: DataPaths) -> None:
        self.settings = settings
        self.paths = paths
        self._embedder: Any = None
        self._identity: EmbedderIdentity | None = None

    @cached_property
    def library(self) -> CourseLibrary:
        return CourseLibrary(self.paths.data_dir / "courses", builtin_dirs=builtin_course_dirs())

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.paths.database_file)

    @cached_property
    def catalog(self) -> Catalog:
        return default_catalog()

    def embedding_model(self) -> InstalledModel:
        return choose_embedder(self.registry.list(), self.catalog, preferred=self.settings.embedding_model)

    def chat_model(self, preferred: str | None = None) -> InstalledModel:
        return choose_chat_model(self.registry.list(), self.catalog, preferred=preferred or self.settings.chat_model)

    def embedder(self) -> tuple[Any, EmbedderIdentity]:
        """The loaded embedding model (loaded once, kept for the session)."""
        if self._embedder is None:
            self._embedder, self._identity = open_embedder(self.embedding_model(), n_threads=self.settings.n_threads)
        assert self._identity is not None
        return self._embedder, self._identity

    def status(self, course: Course) -> IndexStatus:
        """How the course's index compares with the course and the current embedding model, without loading it."""
        path = index_folder(self.paths.index_dir, course.id) / STORE_FILE
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
        try:
            current = embedder_identity(self.embedding_model()).fingerprint
        except LookupError:
            current = None
        changed = sum(1 for lesson in course.lessons
                      if indexed.get(lesson.id) is None or indexed[lesson.id].content_hash != lesson.content_hash)
        changed += len(set(indexed) - {lesson.id for lesson in course.lessons})
        if current is not None and settings.get("embedder") != current:
            return IndexStatus("stale", chunks, len(course.lessons), built_with)
        if not chunks:
            return IndexStatus("not indexed", 0, len(course.lessons), built_with)
        return IndexStatus("stale" if changed else "ready", chunks, changed, built_with)

    def index(self, course_id: str, *, progress: Callable[[IndexProgress], None] | None = None,
              cancel: CancelToken | None = None) -> IndexReport:
        installed = self.library.get(course_id)
        course = self.library.load(course_id)
        embedder, identity = self.embedder()
        return index_course(course, index_dir=self.paths.index_dir, embedder=embedder, identity=identity,
                            course_root=installed.root, progress=progress, cancel=cancel)

    def searcher(self, course_id: str) -> CourseSearcher:
        embedder, identity = self.embedder()
        model = self.embedding_model()
        entry = next((m for m in self.catalog.models if m.id == model.catalog_id), None) if model.catalog_id else None
        weights = fusion_weights(self.library.get(course_id).language, entry.languages if entry else None)
        return CourseSearcher(course_id, index_dir=self.paths.index_dir, embedder=embedder, identity=identity,
                              weights=weights)

    def tutor(self, course: InstalledCourse, *, chat: ChatBackend, model_id: str, context_length: int,
              answer_tokens: int = 512) -> TutorSession:
        return TutorSession(course_title=course.title, searcher=self.searcher(course.id), chat=chat,
                            model_id=model_id, context_length=context_length, answer_tokens=answer_tokens)

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if "registry" in self.__dict__:
            self.registry.close()
