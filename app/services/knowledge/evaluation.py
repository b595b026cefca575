"""`lantern eval retrieval`: run a course's labelled questions through each retrieval mode."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.core.courses import LabelledQuestion
from app.core.retrieval_eval import RetrievalScores, first_relevant_rank, score_ranks
from app.services.knowledge.search import MODES, CourseSearcher, Mode

DEPTH = 10  # MRR is computed over the top 10


def evaluate_retrieval(searcher: CourseSearcher, questions: Sequence[LabelledQuestion], *,
                       modes: Sequence[Mode] = MODES,
                       progress: Callable[[int, int], None] | None = None) -> list[RetrievalScores]:
    results = []
    total = len(questions) * len(modes)
    done = 0
    for mode in modes:
        ranks = []
        for question in questions:
            hits = searcher.search(question.question, k=DEPTH, mode=mode).hits
            ranks.append(first_relevant_rank(question, [h.chunk for h in hits]))
            done += 1
            if progress:
                progress(done, total)
        results.append(score_ranks(mode, questions, ranks))
    return results
