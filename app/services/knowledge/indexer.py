"""Index a course for search: chunk each lesson, embed the chunks, store them, keep hnswlib in step.

Incremental by lesson: a lesson whose content hash matches the indexed one is skipped, a changed one
is re-chunked and re-embedded alone, a lesson no longer in the course is removed. Each lesson is
committed on its own (IndexStore.replace_lesson), so a crash or a cancel loses at most the lesson in
progress and the next run resumes there. A new embedding model or chunking policy starts afresh:
vectors from another model are not comparable.

Vectors a course pack ships for the same embedding model (EmbeddingPack) are used for the chunks
whose text hash matches, so a big course needs no embedding work on the learner's machine.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.chunking import ChunkingPolicy, chunk_lesson
from app.core.courses import Course, CourseChunk
from app.core.errors import CourseInvalid, OperationCancelled
from app.core.i18n import _
from app.core.inference import CancelToken, EmbeddingBackend
from app.services.knowledge.index_store import IndexStore
from app.services.knowledge.vector_index import VectorIndex

log = logging.getLogger(__name__)

STORE_FILE = "chunks.sqlite3"
EMBED_BATCH = 16  # chunks per embed call: progress and cancel points every few hundred ms on a CPU
SAVE_EVERY_S = 2.0  # the hnswlib file is saved at most this often while indexing, and at the end


@dataclass(frozen=True)
class EmbedderIdentity:
    """What makes two embedders' vectors comparable: the same model file, the same settings."""

    model_id: str  # the installed model id
    pack_names: tuple[str, ...]  # names a course pack may tag vectors with (catalog id, model id)
    fingerprint: str  # e.g. "<sha256>:<dimension>"; a change means re-embedding everything


@dataclass(frozen=True)
class IndexProgress:
    lessons_done: int
    lessons_total: int
    lesson_id: str
    chunks_done: int  # within the current lesson
    chunks_total: int


@dataclass
class IndexReport:
    course_id: str
    indexed: list[str] = field(default_factory=list)  # lessons (re-)embedded this run
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_from_pack: int = 0
    restarted: str | None = None  # why everything was re-indexed, if it was
    seconds: float = 0.0


def token_counter(embedder: EmbeddingBackend) -> Callable[[str], int]:
    """Tokens of a text without the special tokens the tokenizer adds around every text."""
    overhead = len(embedder.tokenize(""))
    return lambda text: max(0, len(embedder.tokenize(text)) - overhead)


def load_pack_vectors(course_root: Path, course: Course, identity: EmbedderIdentity,
                      dimension: int) -> dict[str, np.ndarray[Any, Any]]:
    """chunk hash -> vector from the course's precomputed embeddings for this model, if it has any."""
    for pack in course.manifest.embeddings:
        if pack.model not in identity.pack_names:
            continue
        if pack.dimension != dimension:
            log.warning("%s: precomputed embeddings for %s have %d dimensions, the model has %d; ignoring them",
                        course.id, pack.model, pack.dimension, dimension)
            continue
        try:
            with np.load(course_root / pack.file, allow_pickle=False) as data:
                hashes, vectors = data["hashes"], data["vectors"]
        except (OSError, ValueError, KeyError) as exc:
            raise CourseInvalid(_("The precomputed embeddings {file} of course {id} cannot be read.").format(
                                  file=pack.file, id=course.id),
                                hint=_("Re-import the course, or remove the [[embeddings]] entry from course.toml."),
                                debug_context={"error": repr(exc)}) from exc
        if vectors.ndim != 2 or vectors.shape != (len(hashes), dimension):
            raise CourseInvalid(_("The precomputed embeddings {file} of course {id} have the wrong shape "
                                  "{shape}.").format(file=pack.file, id=course.id, shape=vectors.shape),
                                hint=_("Re-export them with `lantern courses pack`."))
        return {str(h): v.astype(np.float32) for h, v in zip(hashes, vectors, strict=True)}
    return {}


def save_pack_vectors(path: Path, hashes: Sequence[str], vectors: np.ndarray[Any, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez_compressed(fh, hashes=np.asarray(hashes, dtype=str), vectors=np.asarray(vectors, dtype=np.float32))


def index_folder(index_dir: Path, course_id: str) -> Path:
    return index_dir / course_id


def index_course(course: Course, *, index_dir: Path, embedder: EmbeddingBackend, identity: EmbedderIdentity,
                 course_root: Path | None = None, policy: ChunkingPolicy | None = None,
                 progress: Callable[[IndexProgress], None] | None = None,
                 cancel: CancelToken | None = None) -> IndexReport:
    """Bring the course's index up to date. Raises OperationCancelled after committing finished lessons."""
    policy = policy or ChunkingPolicy()
    started = time.perf_counter()
    report = IndexReport(course.id)
    folder = index_folder(index_dir, course.id)
    store = IndexStore(folder / STORE_FILE)
    try:
        settings = json.dumps({"embedder": identity.fingerprint, "max_tokens": policy.max_tokens,
                               "overlap": policy.overlap_tokens, "dimension": embedder.dimension})
        if store.meta("settings") != settings:
            if store.meta("settings") is not None:
                report.restarted = _("the embedding model or chunking changed")
                log.info("%s: %s; re-indexing every lesson", course.id, report.restarted)
            store.reset(settings=settings, embedder=identity.model_id, dimension=embedder.dimension)
        vectors = VectorIndex.open(folder, store, embedder.dimension)
        pack = load_pack_vectors(course_root, course, identity, embedder.dimension) if course_root else {}
        count = token_counter(embedder)
        indexed = store.lessons()
        wanted = {lesson.id for lesson in course.lessons}
        for gone in sorted(set(indexed) - wanted):
            vectors.apply(store.remove_lesson(gone), [], np.empty((0, embedder.dimension), np.float32))
            report.removed.append(gone)
        last_save = time.monotonic()
        total = len(course.lessons)
        for done, lesson in enumerate(course.lessons):
            state = indexed.get(lesson.id)
            if state is not None and state.content_hash == lesson.content_hash:
                report.unchanged += 1
                continue
            chunks = chunk_lesson(lesson, count_tokens=count, policy=policy)

            def on_batch(n: int, lesson_id: str = lesson.id, done: int = done, size: int = len(chunks)) -> None:
                if progress:
                    progress(IndexProgress(done, total, lesson_id, n, size))

            matrix = _vectors_for(chunks, embedder, pack, report, cancel, on_batch)
            removed, labels = store.replace_lesson(lesson.id, lesson.content_hash, chunks, matrix)
            vectors.apply(removed, labels, matrix)
            report.indexed.append(lesson.id)
            if progress:
                progress(IndexProgress(done + 1, total, lesson.id, len(chunks), len(chunks)))
            if time.monotonic() - last_save > SAVE_EVERY_S:
                vectors.save(folder, generation=store.generation)
                last_save = time.monotonic()
        if report.indexed or report.removed or report.restarted:
            vectors.save(folder, generation=store.generation)
    except OperationCancelled:
        # Finished lessons are committed; the vector file may lag and is rebuilt from the store next time.
        raise
    finally:
        store.close()
    report.seconds = time.perf_counter() - started
    return report


def _vectors_for(chunks: list[CourseChunk], embedder: EmbeddingBackend, pack: dict[str, np.ndarray[Any, Any]],
                 report: IndexReport, cancel: CancelToken | None,
                 on_batch: Callable[[int], object]) -> np.ndarray[Any, Any]:
    matrix = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    todo = []
    for i, chunk in enumerate(chunks):
        if chunk.chunk_hash in pack:
            matrix[i] = pack[chunk.chunk_hash]
            report.chunks_from_pack += 1
        else:
            todo.append(i)
    done = len(chunks) - len(todo)
    for start in range(0, len(todo), EMBED_BATCH):
        if cancel is not None and cancel.cancelled:
            raise OperationCancelled()
        batch = todo[start:start + EMBED_BATCH]
        embedded = embedder.embed([chunks[i].embed_text for i in batch], cancel)
        matrix[batch] = np.asarray(embedded, dtype=np.float32)
        report.chunks_embedded += len(batch)
        done += len(batch)
        on_batch(done)
    return matrix
