"""Hybrid course search: SQLite FTS5 (bm25) and hnswlib (cosine), fused by reciprocal rank fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.errors import IndexNotReady
from app.core.i18n import _
from app.core.inference import EmbeddingBackend
from app.core.retrieval import (
    CoveragePolicy,
    FusionWeights,
    Hit,
    RetrievalQuery,
    SearchMode,
    SearchResult,
    fts_match,
    is_covered,
    reciprocal_rank_fusion,
)
from app.services.knowledge.index_store import IndexStore
from app.services.knowledge.indexer import STORE_FILE, EmbedderIdentity, index_folder
from app.services.knowledge.vector_index import VectorIndex

Mode = SearchMode
MODES: tuple[Mode, ...] = ("lexical", "vector", "hybrid")
CANDIDATES = 30  # per ranking before fusion: deep enough that a chunk ranked well by one side survives


__all__ = ["MODES", "CourseSearcher", "Hit", "Mode", "SearchResult"]


class CourseSearcher:
    """Search one indexed course (a core `Searcher`). Not thread-safe (one worker, like the embedder it uses)."""

    def __init__(self, course_id: str, *, index_dir: Path, embedder: EmbeddingBackend, identity: EmbedderIdentity,
                 weights: FusionWeights | None = None) -> None:
        folder = index_folder(index_dir, course_id)
        if not (folder / STORE_FILE).exists():
            raise IndexNotReady(_("The course '{course_id}' has not been indexed yet.").format(course_id=course_id),
                                hint=_("Run `lantern courses index {course_id}`.").format(course_id=course_id))
        self.course_id = course_id
        self.weights = weights or FusionWeights()
        self._embedder = embedder
        self._store = IndexStore(folder / STORE_FILE)
        settings = self._store.meta("settings") or ""
        if identity.fingerprint not in settings or self._store.chunk_count() == 0:
            self._store.close()
            raise IndexNotReady(
                _("The course '{course_id}' was indexed with another embedding model, or not completely.").format(
                  course_id=course_id),
                hint=_("Run `lantern courses index {course_id}` to bring its index up to date.").format(
                       course_id=course_id),
                debug_context={"embedder": identity.fingerprint, "index_settings": settings})
        self._vectors = VectorIndex.open(folder, self._store, embedder.dimension)

    def _embed(self, text: str) -> np.ndarray:
        return np.asarray(self._embedder.embed([text])[0], dtype=np.float32)

    def search(self, query: RetrievalQuery | str, *, k: int = 5, mode: Mode = "hybrid",
               policy: CoveragePolicy | None = None) -> SearchResult:
        if isinstance(query, str):
            query = RetrievalQuery(query)
        rankings: list[list[int]] = []
        weights: list[float] = []
        similarity: dict[int, float] = {}
        own_best: float | None = None  # the question's own closest chunk
        own_vector: tuple[float, ...] | None = None
        for text, weight in query.weighted():
            if mode in ("vector", "hybrid"):
                vector = self._embed(text)
                if text == (query.original or query.question) and own_vector is None:  # the learner's own words
                    own_vector = tuple(float(x) for x in vector)
                found = self._vectors.search(vector, CANDIDATES)
                for label, sim in found:
                    similarity[label] = max(sim, similarity.get(label, -1.0))
                if found and text == query.question:
                    own_best = found[0][1]
                rankings.append([label for label, _ in found])
                weights.append(weight * self.weights.vector)
            if mode in ("lexical", "hybrid"):
                rankings.append([label for label, _ in self._store.lexical_search(fts_match(text), limit=CANDIDATES)])
                weights.append(weight * self.weights.lexical)
        # A follow-up alone says too little to judge coverage, so the conversation's best match counts;
        # any other question is judged on its own, or an off-topic question after an on-topic one would pass.
        best = max(similarity.values()) if query.follow_up and similarity else own_best
        fused = reciprocal_rank_fusion(rankings, weights=weights)
        chunks = self._store.chunks(label for label, _ in fused)
        hits: list[Hit] = []
        sections: set[tuple[str, tuple[str, ...]]] = set()
        for label, score in fused:
            stored = chunks.get(label)
            if stored is None:
                continue
            # One hit per section: its overlapping neighbours add little and would crowd out other sections.
            section = (stored.chunk.lesson_id, stored.chunk.anchors)
            if section in sections:
                continue
            sections.add(section)
            hits.append(Hit(label, stored.chunk, score, similarity.get(label)))
            if len(hits) == k:
                break
        covered = True if mode == "lexical" else is_covered(best, policy)
        return SearchResult(hits, best, covered, own_vector)

    def close(self) -> None:
        self._store.close()
