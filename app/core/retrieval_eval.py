"""Retrieval quality on labelled questions: recall@1, recall@5 and mean reciprocal rank.

A question counts as found at rank r when the r-th retrieved chunk lies in its labelled section (or
in a subsection of it): the section is what a citation points at, so that is what must be found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.courses import CourseChunk, LabelledQuestion


def first_relevant_rank(question: LabelledQuestion, retrieved: Sequence[CourseChunk]) -> int | None:
    return next((rank for rank, chunk in enumerate(retrieved, start=1)
                 if chunk.covers(question.lesson, question.section)), None)


@dataclass(frozen=True)
class RetrievalScores:
    mode: str
    questions: int
    recall_at_1: float
    recall_at_5: float
    mrr: float  # over the retrieved depth (a miss scores 0)
    missed: tuple[str, ...]  # questions not found in the top 5

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "questions": self.questions, "recall@1": round(self.recall_at_1, 4),
                "recall@5": round(self.recall_at_5, 4), "mrr": round(self.mrr, 4), "missed_at_5": list(self.missed)}


def score_ranks(mode: str, questions: Sequence[LabelledQuestion], ranks: Sequence[int | None]) -> RetrievalScores:
    if len(questions) != len(ranks):
        raise ValueError("one rank per question")
    n = len(ranks)
    if n == 0:
        return RetrievalScores(mode, 0, 0.0, 0.0, 0.0, ())
    return RetrievalScores(
        mode, n,
        recall_at_1=sum(1 for r in ranks if r == 1) / n,
        recall_at_5=sum(1 for r in ranks if r is not None and r <= 5) / n,
        mrr=sum(1.0 / r for r in ranks if r is not None) / n,
        missed=tuple(q.question for q, r in zip(questions, ranks, strict=True) if r is None or r > 5))
