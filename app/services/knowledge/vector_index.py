"""The hnswlib vector index of a course's chunks, kept in step with its IndexStore.

Labels are the store's chunk labels (never reused), so a hit maps straight back to its chunk.
Replaced lessons' labels are marked deleted and their slots reused (allow_replace_deleted).
M, ef_construction and ef were chosen with benchmarks/vector_search.py (100k vectors; figures in
docs/benchmarks.md): search is set_ef(HNSW_EF_SEARCH) explicitly, never hnswlib's default ef=10.
The file is saved atomically with a sidecar naming the store generation it matches; an index
whose sidecar disagrees with the store (a crash between the two) is rebuilt from the stored vectors.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.services.knowledge.index_store import IndexStore

log = logging.getLogger(__name__)

# benchmarks/vector_search.py, 100k clustered 384-d: M=16 keeps recall@10 1.000 at ef=64; M=12 saves only 2% of file
HNSW_M = 16
# benchmarks/vector_search.py, 100k clustered 384-d, M=16: build 2,959 vectors/s on 2 threads, file 168 MB, load 0.2 s
HNSW_EF_CONSTRUCTION = 200
# benchmarks/vector_search.py, 100k 384-d on the 2-core box (2026-11-21): recall@10 1.000 at ef=64 on the default
# clustered set, but 0.968 at ef=64 / 0.996 at ef=128 on bigger clusters; ef=128 costs 0.38 ms p50, so take it.
HNSW_EF_SEARCH = 128

INDEX_FILE = "vectors.hnsw"
SIDECAR_FILE = "vectors.json"
_MIN_CAPACITY = 1024


class VectorIndex:
    def __init__(self, index: Any, *, dimension: int) -> None:
        self._index = index
        self.dimension = dimension
        self._count = len(index.get_ids_list())  # live (not deleted) items; kept here, as hnswlib lists ids in O(n)

    @classmethod
    def empty(cls, dimension: int, capacity: int = _MIN_CAPACITY) -> VectorIndex:
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=dimension)
        index.init_index(max_elements=max(capacity, _MIN_CAPACITY), ef_construction=HNSW_EF_CONSTRUCTION,
                         M=HNSW_M, allow_replace_deleted=True)
        index.set_ef(HNSW_EF_SEARCH)
        return cls(index, dimension=dimension)

    @classmethod
    def rebuild(cls, store: IndexStore, dimension: int) -> VectorIndex:
        labels, vectors = store.all_vectors(dimension)
        index = cls.empty(dimension, capacity=len(labels) * 2)
        if len(labels):
            index._index.add_items(vectors, labels)
            index._count = len(labels)
        return index

    @classmethod
    def open(cls, folder: Path, store: IndexStore, dimension: int) -> VectorIndex:
        """The saved index if it matches the store's generation, else one rebuilt from the store."""
        import hnswlib

        sidecar = _read_sidecar(folder / SIDECAR_FILE)
        if (sidecar.get("generation") == store.generation and sidecar.get("dimension") == dimension
                and (folder / INDEX_FILE).exists()):
            try:
                index = hnswlib.Index(space="cosine", dim=dimension)
                index.load_index(str(folder / INDEX_FILE), max_elements=int(sidecar.get("capacity", 0)),
                                 allow_replace_deleted=True)
                index.set_ef(HNSW_EF_SEARCH)
                if len(index.get_ids_list()) == store.chunk_count():
                    return cls(index, dimension=dimension)
                log.warning("vector index %s holds a different number of chunks than the store; rebuilding", folder)
            except (RuntimeError, ValueError, OSError) as exc:
                log.warning("vector index %s is unreadable (%s); rebuilding it from the stored vectors", folder, exc)
        else:
            log.info("vector index in %s is missing or behind the store; rebuilding it", folder)
        started = time.perf_counter()
        index = cls.rebuild(store, dimension)
        log.info("rebuilt vector index of %d chunks in %.2f s", index.count, time.perf_counter() - started)
        index.save(folder, generation=store.generation)
        return index

    @property
    def count(self) -> int:
        return self._count

    def apply(self, removed: list[int], labels: list[int], vectors: np.ndarray[Any, Any]) -> None:
        """Mirror one IndexStore.replace_lesson: drop the old labels, add the new vectors."""
        for label in removed:
            try:
                self._index.mark_deleted(label)
                self._count -= 1
            except RuntimeError:
                log.debug("label %d was not in the vector index", label)
        if not labels:
            return
        needed = self._index.get_current_count() + len(labels)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, self._index.get_max_elements() * 2))
        self._index.add_items(np.asarray(vectors, dtype=np.float32), np.asarray(labels, dtype=np.int64),
                              replace_deleted=True)
        self._count += len(labels)

    def search(self, vector: np.ndarray[Any, Any], k: int) -> list[tuple[int, float]]:
        """(label, cosine similarity), best first."""
        k = min(k, self.count)
        if k <= 0:
            return []
        self._index.set_ef(max(HNSW_EF_SEARCH, k))  # hnswlib needs ef >= k
        labels, distances = self._index.knn_query(np.asarray(vector, dtype=np.float32)[None, :], k=k)
        return [(int(label), 1.0 - float(d)) for label, d in zip(labels[0], distances[0], strict=True)]

    def save(self, folder: Path, *, generation: int) -> None:
        """Write the index then its sidecar, each by rename, so a crash leaves an old pair or a
        sidecar that no longer matches (which triggers a rebuild), never a torn file in use."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (INDEX_FILE + ".tmp")
        self._index.save_index(str(tmp))
        os.replace(tmp, folder / INDEX_FILE)
        side_tmp = folder / (SIDECAR_FILE + ".tmp")
        side_tmp.write_text(json.dumps({"generation": generation, "dimension": self.dimension, "count": self.count,
                                        "capacity": self._index.get_max_elements(), "M": HNSW_M,
                                        "ef_construction": HNSW_EF_CONSTRUCTION}), encoding="utf-8")
        os.replace(side_tmp, folder / SIDECAR_FILE)


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
