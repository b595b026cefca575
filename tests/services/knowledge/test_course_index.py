"""Indexing and hybrid search over real courses with the real all-MiniLM GGUF, real hnswlib and SQLite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.core.errors import IndexNotReady
from app.core.retrieval import retrieval_query
from app.services.knowledge.course_files import read_course
from app.services.knowledge.course_library import CourseLibrary, builtin_course_dirs
from app.services.knowledge.index_store import IndexStore
from app.services.knowledge.indexer import STORE_FILE, EmbedderIdentity, index_course, save_pack_vectors
from app.services.knowledge.search import CourseSearcher

pytestmark = pytest.mark.slow

STARTER = next(d for d in builtin_course_dirs() if (d / "python-from-zero").is_dir()) / "python-from-zero"
IDENTITY = EmbedderIdentity("minilm", ("all-minilm-l6-v2",), "minilm-test")
OFF_TOPIC = ["What is the capital of France?", "How do I bake sourdough bread?", "Who won the 2018 World Cup?",
             "What causes the seasons on Earth?", "How many calories are in an apple?"]


class CountingEmbedder:
    """The real embedder, counting what it is asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.embedded: list[str] = []

    def tokenize(self, text):
        return self.inner.tokenize(text)

    def embed(self, texts, cancel=None):
        self.embedded.extend(texts)
        return self.inner.embed(texts, cancel)


@pytest.fixture(scope="module")
def embedder(minilm_gguf):
    from app.services.inference.llama_embedder import load_llama_embedder

    model = load_llama_embedder(minilm_gguf, model_id="minilm")
    yield model
    model.close()


@pytest.fixture(scope="module")
def starter_index(tmp_path_factory, embedder):
    index_dir = tmp_path_factory.mktemp("indexes")
    course = read_course(STARTER)
    index_course(course, index_dir=index_dir, embedder=embedder, identity=IDENTITY, course_root=STARTER)
    searcher = CourseSearcher(course.id, index_dir=index_dir, embedder=embedder, identity=IDENTITY)
    yield course, searcher
    searcher.close()


def _rank(hits, lesson, anchor):
    return next((i for i, h in enumerate(hits, start=1) if h.chunk.covers(lesson, anchor)), None)


def test_follow_up_question_retrieves_the_section_from_the_conversation(starter_index):
    _, searcher = starter_index
    query = retrieval_query("and how do I stop it?", ["How do I write a while loop?"])
    assert query.follow_up
    hits = searcher.search(query, k=4).hits
    assert _rank(hits, "05-loops", "stopping-a-loop-early-break") == 1, [h.chunk.anchor for h in hits]
    # The same words after another conversation mean something else, and find something else.
    crash = ["My program crashes with a ValueError when the user types letters instead of a number."]
    hits = searcher.search(retrieval_query("and how do I stop it?", crash), k=4).hits
    assert _rank(hits, "09-errors-and-exceptions", "handling-errors-with-try-and-except") <= 2
    assert _rank(hits, "05-loops", "stopping-a-loop-early-break") != 1
    # A follow-up that names its topic only through the conversation is lifted to the top by it.
    question = "and how do I stop it from erasing what was there?"
    with_history = searcher.search(retrieval_query(question, ["How do I open a file for writing?"]), k=4).hits
    alone = searcher.search(question, k=4).hits
    assert _rank(with_history, "10-files", "appending-instead-of-overwriting") == 1
    assert _rank(alone, "10-files", "appending-instead-of-overwriting") != 1


def test_off_topic_questions_are_not_covered_and_course_questions_are(starter_index):
    course, searcher = starter_index
    for question in OFF_TOPIC:
        result = searcher.search(question)
        assert not result.covered, (question, result.best_similarity)
    covered = [searcher.search(q.question).covered for q in course.questions]
    assert all(covered), [q.question for q, c in zip(course.questions, covered, strict=True) if not c]


def test_a_topic_change_after_a_conversation_is_still_judged_on_its_own(starter_index):
    _, searcher = starter_index
    query = retrieval_query("What is the capital of France?", ["How do I write a while loop?"])
    assert not searcher.search(query).covered


def test_hits_are_one_per_section_and_carry_similarity(starter_index):
    _, searcher = starter_index
    hits = searcher.search("How do I add an item to the end of a list?", k=5).hits
    sections = [(h.chunk.lesson_id, h.chunk.anchors) for h in hits]
    assert len(sections) == len(set(sections)) == 5
    assert hits[0].chunk.lesson_id == "06-lists-and-tuples"
    assert all(h.similarity is None or -1.0 <= h.similarity <= 1.0 for h in hits)


def test_searching_with_another_embedder_or_unindexed_course_is_refused(starter_index, embedder, tmp_path):
    course, searcher = starter_index
    with pytest.raises(IndexNotReady, match="not been indexed"):
        CourseSearcher("nothing-here", index_dir=tmp_path, embedder=embedder, identity=IDENTITY)
    index_dir = Path(searcher._store.path).parent.parent
    other = EmbedderIdentity("other", ("other",), "another-model-sha")
    with pytest.raises(IndexNotReady, match="another embedding model"):
        CourseSearcher(course.id, index_dir=index_dir, embedder=embedder, identity=other)


def _small_course(tmp_path: Path, lessons=("04-conditions", "05-loops", "06-lists-and-tuples")) -> Path:
    src = tmp_path / "src"
    (src / "lessons").mkdir(parents=True)
    for lesson in lessons:  # without prerequisites: they name lessons this small course leaves out
        text = (STARTER / "lessons" / f"{lesson}.md").read_text(encoding="utf-8")
        kept = [line for line in text.splitlines(keepends=True) if not line.startswith("prerequisites:")]
        (src / "lessons" / f"{lesson}.md").write_text("".join(kept), encoding="utf-8")
    listed = ", ".join(f'"lessons/{lesson}.md"' for lesson in lessons)
    (src / "course.toml").write_text(textwrap.dedent(f"""\
        id = "mini"
        title = "Mini"
        version = "1.0.0"
        language = "en"
        lessons = [{listed}]
        """), encoding="utf-8")
    return src


def test_reimport_of_a_changed_lesson_reembeds_only_that_lesson(tmp_path, embedder):
    src = _small_course(tmp_path)
    library = CourseLibrary(tmp_path / "courses")
    index_dir = tmp_path / "indexes"
    counting = CountingEmbedder(embedder)
    installed = library.import_path(src).course
    first = index_course(library.load("mini"), index_dir=index_dir, embedder=counting, identity=IDENTITY,
                         course_root=installed.root)
    assert first.indexed == ["04-conditions", "05-loops", "06-lists-and-tuples"]

    loops = src / "lessons" / "05-loops.md"
    loops.write_text(loops.read_text(encoding="utf-8") + "\n## Counting down with a walrus\n\nThe walrus "
                     "operator := assigns inside a while condition.\n", encoding="utf-8")
    library.import_path(src)
    counting.embedded.clear()
    second = index_course(library.load("mini"), index_dir=index_dir, embedder=counting, identity=IDENTITY,
                          course_root=installed.root)
    assert second.indexed == ["05-loops"] and second.unchanged == 2
    store = IndexStore(index_dir / "mini" / STORE_FILE)
    try:
        loops_chunks = store.lessons()["05-loops"].chunk_count
        assert second.chunks_embedded == len(counting.embedded) == loops_chunks
        assert all("Loops" in text for text in counting.embedded)  # only the loops lesson's chunks
    finally:
        store.close()
    searcher = CourseSearcher("mini", index_dir=index_dir, embedder=embedder, identity=IDENTITY)
    try:
        hits = searcher.search("what does the walrus operator do in a while condition?", k=3).hits
        assert hits[0].chunk.anchor == "counting-down-with-a-walrus"
        assert searcher._vectors.count == searcher._store.chunk_count()
    finally:
        searcher.close()

    # A lesson dropped from the course is removed from the index; a new embedding model starts afresh.
    third = index_course(read_course(_small_course(tmp_path / "b", ("04-conditions", "06-lists-and-tuples"))),
                         index_dir=index_dir, embedder=counting, identity=IDENTITY)
    assert third.removed == ["05-loops"] and third.indexed == []
    fourth = index_course(library.load("mini"), index_dir=index_dir, embedder=counting,
                          identity=EmbedderIdentity("minilm", ("minilm",), "a-different-file"))
    assert fourth.restarted and len(fourth.indexed) == 3


def test_indexing_resumes_after_a_crash(tmp_path, embedder, minilm_gguf):
    src = _small_course(tmp_path, ("01-first-program", "02-values-and-variables", "03-strings", "04-conditions"))
    index_dir = tmp_path / "indexes"
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from app.services.inference.llama_embedder import load_llama_embedder
        from app.services.knowledge.course_files import read_course
        from app.services.knowledge.indexer import EmbedderIdentity, index_course

        def crash(p):
            if p.lessons_done == 2 and p.chunks_done == p.chunks_total:
                os._exit(9)  # killed right after the second lesson was committed

        embedder = load_llama_embedder(Path({str(minilm_gguf)!r}), model_id="minilm")
        index_course(read_course(Path({str(src)!r})), index_dir=Path({str(index_dir)!r}), embedder=embedder,
                     identity=EmbedderIdentity("minilm", ("all-minilm-l6-v2",), "minilm-test"), progress=crash)
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]

    counting = CountingEmbedder(embedder)
    report = index_course(read_course(src), index_dir=index_dir, embedder=counting, identity=IDENTITY)
    assert report.unchanged == 2 and report.indexed == ["03-strings", "04-conditions"]
    searcher = CourseSearcher("mini", index_dir=index_dir, embedder=embedder, identity=IDENTITY)
    try:
        assert searcher._vectors.count == searcher._store.chunk_count()  # rebuilt in step with the store
        assert set(searcher._store.lessons()) == {"01-first-program", "02-values-and-variables", "03-strings",
                                                  "04-conditions"}
        hits = searcher.search("What is the >>> prompt and how do I leave the interactive shell?", k=3).hits
        assert any(h.chunk.lesson_id == "01-first-program" for h in hits)  # committed before the crash: searchable
    finally:
        searcher.close()


def test_precomputed_pack_vectors_are_used_instead_of_embedding(tmp_path, embedder):
    src = _small_course(tmp_path)
    index_dir = tmp_path / "indexes"
    index_course(read_course(src), index_dir=index_dir, embedder=embedder, identity=IDENTITY)
    store = IndexStore(index_dir / "mini" / STORE_FILE)
    hashes, vectors = store.hashes_and_vectors(embedder.dimension)
    store.close()
    save_pack_vectors(src / "embeddings" / "all-minilm-l6-v2.npz", hashes, vectors)
    with (src / "course.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[embeddings]]\nmodel = "all-minilm-l6-v2"\ndimension = 384\nfile = '
                 '"embeddings/all-minilm-l6-v2.npz"\n')
    counting = CountingEmbedder(embedder)
    fresh = tmp_path / "fresh-indexes"
    report = index_course(read_course(src), index_dir=fresh, embedder=counting, identity=IDENTITY, course_root=src)
    assert report.chunks_from_pack == len(hashes) and report.chunks_embedded == 0 and not counting.embedded
    searcher = CourseSearcher("mini", index_dir=fresh, embedder=embedder, identity=IDENTITY)
    try:
        assert searcher.search("How do I stop a while loop early?").hits[0].chunk.lesson_id == "05-loops"
    finally:
        searcher.close()
