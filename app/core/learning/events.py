"""What the learning loop writes into the learning record (so it syncs), one builder per event kind.

Every attempt, hint and review is an append-only event (app/services/storage/learning_record.py); the
views (mastery, the review schedule, statistics) are rebuilt from them, so a second device that
receives the same events computes the same state. Field names here are the wire format: never rename.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUIZ_ATTEMPT = "quiz.attempt"
HINT_REQUEST = "hint.request"
REVIEW_LOG = "review.log"

# Learner text kept in an event is capped so one event stays far below a sync record's 64 KiB.
TEXT_CAP = 4000


def _cap(text: str) -> str:
    return text if len(text) <= TEXT_CAP else text[:TEXT_CAP]


@dataclass(frozen=True)
class AttemptFacts:
    """One graded answer to a quiz question (event `quiz.attempt`, lesson_id = the question's lesson)."""

    question_id: str
    section: str          # the anchor of the section the question comes from
    kind: str             # "choice" | "short" | "output"
    answer: str           # what the learner answered (the option's text for a choice)
    correct: bool
    score: float          # 0..1 (a short answer may be partly right)
    reason: str = ""      # the one-line feedback shown
    question: Mapping[str, Any] | None = None  # QuizQuestion.to_json() without checks: a review on another
                                               # device shows the question again from the events alone
    hints_used: int = 0   # hint levels shown before this answer
    source: str = "quiz"  # "quiz" | "review"

    def data(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "section": self.section, "kind": self.kind,
                "answer": _cap(self.answer), "correct": self.correct, "score": round(float(self.score), 4),
                "reason": _cap(self.reason), "question": dict(self.question or {}), "hints_used": self.hints_used,
                "source": self.source}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AttemptFacts:
        return cls(question_id=str(data.get("question_id", "")), section=str(data.get("section", "")),
                   kind=str(data.get("kind", "")), answer=str(data.get("answer", "")),
                   correct=bool(data.get("correct", False)), score=float(data.get("score", 0.0) or 0.0),
                   reason=str(data.get("reason", "")), question=dict(data.get("question") or {}),
                   hints_used=int(data.get("hints_used", 0) or 0), source=str(data.get("source", "quiz")))


@dataclass(frozen=True)
class HintFacts:
    """One hint shown (event `hint.request`): the level it reached and what it was made from."""

    exercise_id: str      # a stable id of the exercise (or quiz question) the hint is for
    section: str
    level: int            # 1 nudge, 2 concept, 3 worked step, 4 solution
    attempt: str          # the learner's own code or text the hint read
    diagnosis: Mapping[str, str]  # {"error": ..., "strategy": ..., "intention": ...}
    hint: str
    leak_checked: bool = True

    def data(self) -> dict[str, Any]:
        return {"exercise_id": self.exercise_id, "section": self.section, "level": self.level,
                "attempt": _cap(self.attempt), "diagnosis": {k: _cap(str(v)) for k, v in self.diagnosis.items()},
                "hint": _cap(self.hint), "leak_checked": self.leak_checked}


@dataclass(frozen=True)
class ReviewFacts:
    """One FSRS review (event `review.log`): replaying these in (reviewed_at, event id) order on any
    device gives the same schedule (app/core/learning/review.py)."""

    card_id: str          # Lantern's own id: "<course_id>/<question_id>"
    question_id: str
    section: str
    rating: int           # fsrs.Rating: 1 Again, 2 Hard, 3 Good, 4 Easy
    reviewed_at: str      # ISO 8601 UTC with microseconds, the time the answer was graded

    def data(self) -> dict[str, Any]:
        return {"card_id": self.card_id, "question_id": self.question_id, "section": self.section,
                "rating": self.rating, "reviewed_at": self.reviewed_at}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ReviewFacts:
        return cls(card_id=str(data.get("card_id", "")), question_id=str(data.get("question_id", "")),
                   section=str(data.get("section", "")), rating=int(data.get("rating", 0) or 0),
                   reviewed_at=str(data.get("reviewed_at", "")))


def card_id_for(course_id: str, question_id: str) -> str:
    return f"{course_id}/{question_id}"
