"""Retrieval policy: what to search for, how to fuse the lexical and vector rankings, and when the
course does not cover a question.

- Hybrid retrieval fuses ranked lists by reciprocal rank fusion (Cormack, Clarke & Büttcher 2009):
  score(d) = Σ weight_i / (k + rank_i(d)). It needs no score calibration between bm25 and cosine,
  which live on unrelated scales; k and the weights are below, with the measurement behind them.
- Follow-ups: "and how do I stop it?" names nothing the course can match. The query is built from
  the conversation: the new question plus the learner's previous question(s). A question that looks
  like a follow-up (short, or leaning on "it/that/this", or opening with "and"/"what about") gives
  the conversation query the larger weight; any other question keeps its own query first, so a
  change of topic is not dragged back to the old one.
- Coverage: rank fusion says nothing about absolute relevance, so "is this in the course?" is
  decided on the best cosine similarity between the question and a chunk (threshold calibrated on
  the starter course's labelled questions against off-topic ones; docs/courses.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

from app.core.courses import CourseChunk

T = TypeVar("T", bound=Hashable)

# Measured on the starter course with all-MiniLM-L6-v2 (docs/courses.md): the vector side is the
# stronger one on English questions in a learner's own words, so with the paper's k = 60 and equal
# weights the weaker bm25 list pulled good vector hits down (hybrid MRR 0.747 < vector 0.763). A
# smaller k (more weight on the top ranks) and half weight for bm25 make hybrid beat both.
RRF_K = 20
_WORD = re.compile(r"\w+(?:'\w+)?", re.UNICODE)  # keeps "i'm" whole, so the stopword list can drop it
# Function words that match nearly every chunk. bm25 already discounts frequent words, but each
# OR-ed term still costs FTS5 a posting list walk and adds noise to short questions. Words that are
# also Python keywords or operators (for, while, if, in, is, with, and, or, not, as, from) are kept:
# in a programming course they name the topic.
STOPWORDS = frozenset([
    "a", "an", "are", "at", "be", "but", "by", "can", "could", "did", "do", "does", "doing", "had", "has", "have",
    "how", "i", "into", "it", "its", "me", "my", "of", "on", "so", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "who",
    "why", "will", "would", "you", "your", "yours", "about", "just", "also", "should", "shall", "may", "might",
    "must", "i'm", "i've", "please", "tell", "explain", "show", "give", "mean", "means", "meaning", "way", "ways",
    "thing", "things",
])
_FOLLOW_UP_OPENERS = ("and ", "but ", "what about", "how about", "then ", "so ", "also ", "và ", "còn ", "thế ")
_ANAPHORA = frozenset([
    "it", "its", "that", "this", "those", "these", "they", "them", "one", "ones", "there", "nó", "đó", "này", "kia",
    "chúng",
])


def reciprocal_rank_fusion(rankings: Sequence[Sequence[T]], *, weights: Sequence[float] | None = None,
                           k: int = RRF_K) -> list[tuple[T, float]]:
    """Fuse best-first rankings into one (item, score), best first; ties keep first-seen order."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[T, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def terms(text: str) -> list[str]:
    """Content words of a question, lower-cased, in order, without repeats or stopwords."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(unicodedata.normalize("NFC", text).lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def fts_match(text: str) -> str:
    """An FTS5 MATCH expression that ORs the question's terms. Each term is quoted, so nothing the
    learner types ("C++", "AND", a stray quote) is read as FTS5 syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms(text))


def is_follow_up(question: str) -> bool:
    text = unicodedata.normalize("NFC", question).strip().lower()
    words = _WORD.findall(text)
    if text.startswith(_FOLLOW_UP_OPENERS):
        return True
    content = [w for w in words if w not in STOPWORDS and w not in _ANAPHORA]
    return len(content) <= 2 or (len(words) <= 8 and any(w in _ANAPHORA for w in words))


@dataclass(frozen=True)
class FusionWeights:
    vector: float = 1.0
    lexical: float = 0.3


def fusion_weights(course_language: str, embedder_languages: Sequence[str] | None) -> FusionWeights:
    """Trust the vectors less for a course in a language the embedding model was not trained on
    (all-MiniLM is English-only; on the Vietnamese lessons bm25 is the reliable side)."""
    base = course_language.split("-")[0].lower()
    if embedder_languages is not None and base not in {lang.split("-")[0].lower() for lang in embedder_languages}:
        return FusionWeights(vector=0.5, lexical=1.0)
    return FusionWeights()


@dataclass(frozen=True)
class RetrievalQuery:
    """What to search for: the question itself, and (with history) the conversation around it."""

    question: str
    conversation: str | None = None  # previous user question(s) + this one
    follow_up: bool = False
    # The learner's own words when `question` is their question translated into the course's language
    # (app.core.query_translation): still searched, at a lower weight, for the names and code they typed.
    original: str | None = None

    def weighted(self) -> list[tuple[str, float]]:
        """(query text, RRF weight) pairs to search for."""
        extra = [(self.original, 0.5)] if self.original else []
        if self.conversation is None:
            return [(self.question, 1.0), *extra]
        if self.follow_up:
            return [(self.conversation, 1.0), (self.question, 0.5), *extra]
        return [(self.question, 1.0), (self.conversation, 0.3), *extra]


def retrieval_query(question: str, previous_questions: Sequence[str] = (), *, max_previous: int = 2) -> RetrievalQuery:
    """The query for `question` asked after `previous_questions` (oldest first)."""
    question = question.strip()
    earlier = [q.strip() for q in previous_questions if q.strip()][-max_previous:] if max_previous > 0 else []
    if not earlier:
        return RetrievalQuery(question)
    return RetrievalQuery(question, " ".join([*earlier, question]), is_follow_up(question))


@dataclass(frozen=True)
class CoveragePolicy:
    # Best question-to-chunk cosine below which the course is taken not to cover the question.
    # Calibrated for all-MiniLM-L6-v2 on the starter course (docs/courses.md): its 60 labelled questions
    # score 0.356 at the lowest, off-topic questions ("capital of France", "bake bread") 0.13-0.19.
    min_similarity: float = 0.28


def is_covered(best_similarity: float | None, policy: CoveragePolicy | None = None) -> bool:
    policy = policy or CoveragePolicy()
    return best_similarity is not None and best_similarity >= policy.min_similarity


SearchMode = Literal["hybrid", "lexical", "vector"]


@dataclass(frozen=True)
class Hit:
    label: int
    chunk: CourseChunk
    score: float  # fused (RRF) score, or the single ranking's score in lexical/vector mode
    similarity: float | None  # cosine to the closest query, when the vector side found it


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    best_similarity: float | None
    covered: bool
    # The question's own embedding, computed for the search anyway: the router's classifier reads it,
    # so deciding costs no second embedding call.
    query_vector: tuple[float, ...] | None = None


@runtime_checkable
class Searcher(Protocol):
    """Search over one course (app.services.knowledge.search.CourseSearcher is the hybrid one)."""

    def search(self, query: RetrievalQuery | str, *, k: int = 5, mode: SearchMode = "hybrid",
               policy: CoveragePolicy | None = None) -> SearchResult: ...

    def close(self) -> None: ...
