"""How well the learner knows each section and lesson, estimated from their quiz attempts.

The estimate is meant to be explained in one sentence to the learner, so it is a plain weighted mean,
not a fitted model:

    mastery(section) = Σ wᵢ·scoreᵢ / Σ wᵢ,   wᵢ = DECAY ** (number of attempts made after attempt i)

over the section's attempts in the order made (scores 0..1 as graded; reviews count like quizzes).
The newest attempt weighs 1, the one before it 0.7, then 0.49, ...: what the learner can do now
matters more than what they could not do a week ago, and one lucky answer does not erase a history
of wrong ones. A section never attempted has no mastery (None), not 0: nothing is known about it.
`attempts` travels with every value so a reader can tell a guess (1 attempt) from a record (10).

mastery(lesson) = the plain mean of its attempted sections' mastery, with how many sections that was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.learning.events import AttemptFacts

DECAY = 0.7


@dataclass(frozen=True)
class LessonAttempt:
    """An attempt with the lesson it belongs to (the event's lesson_id) and when it was made."""

    lesson_id: str
    facts: AttemptFacts
    at: datetime | None = None  # aware; the event's clock time (used by the statistics, not by mastery)


@dataclass(frozen=True)
class SectionMastery:
    lesson_id: str
    section: str
    mastery: float | None   # 0..1; None: never attempted
    attempts: int
    correct: int


@dataclass(frozen=True)
class LessonMastery:
    lesson_id: str
    mastery: float | None   # mean over attempted sections; None: none attempted
    sections: int           # how many sections were attempted
    attempts: int


def weighted_mastery(scores: Sequence[float]) -> float | None:
    """The formula above for one section's scores, oldest first."""
    if not scores:
        return None
    weights = [DECAY ** (len(scores) - 1 - i) for i in range(len(scores))]
    total = sum(w * min(max(float(s), 0.0), 1.0) for w, s in zip(weights, scores, strict=True))
    return total / sum(weights)


def section_mastery(attempts: Iterable[LessonAttempt]) -> dict[tuple[str, str], SectionMastery]:
    """Mastery per (lesson_id, section anchor) that has attempts; `attempts` in the order made."""
    grouped: dict[tuple[str, str], list[AttemptFacts]] = {}
    for attempt in attempts:
        grouped.setdefault((attempt.lesson_id, attempt.facts.section), []).append(attempt.facts)
    return {key: SectionMastery(key[0], key[1], weighted_mastery([f.score for f in facts]), len(facts),
                                sum(1 for f in facts if f.correct))
            for key, facts in grouped.items()}


def mastery_of(lesson_id: str, section: str,
               by_section: Mapping[tuple[str, str], SectionMastery]) -> SectionMastery:
    """One section's mastery, with None for a section never attempted."""
    return by_section.get((lesson_id, section)) or SectionMastery(lesson_id, section, None, 0, 0)


def lesson_mastery(attempts: Iterable[LessonAttempt],
                   lessons: Iterable[str] = ()) -> dict[str, LessonMastery]:
    """Mastery per lesson that has attempts, plus every lesson in `lessons` (None when never attempted)."""
    by_lesson: dict[str, list[SectionMastery]] = {lesson: [] for lesson in lessons}
    for value in section_mastery(attempts).values():
        by_lesson.setdefault(value.lesson_id, []).append(value)
    out = {}
    for lesson_id, sections in by_lesson.items():
        known = [s.mastery for s in sections if s.mastery is not None]
        out[lesson_id] = LessonMastery(lesson_id, sum(known) / len(known) if known else None, len(known),
                                       sum(s.attempts for s in sections))
    return out
