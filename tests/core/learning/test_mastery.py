"""Mastery: a weighted mean of attempt scores, recent ones counting more; nothing known is None, not 0."""

from __future__ import annotations

import pytest

from app.core.learning.events import AttemptFacts
from app.core.learning.mastery import (
    DECAY,
    LessonAttempt,
    lesson_mastery,
    mastery_of,
    section_mastery,
    weighted_mastery,
)


def attempt(lesson: str, section: str, score: float) -> LessonAttempt:
    facts = AttemptFacts(question_id=f"q-{section}-{score}", section=section, kind="short", answer="a",
                         correct=score == 1.0, score=score)
    return LessonAttempt(lesson, facts)


def test_the_formula_by_hand():
    # wrong, wrong, right: weights 0.49, 0.7, 1 -> 1 / 2.19
    assert weighted_mastery([0.0, 0.0, 1.0]) == pytest.approx(1 / (1 + DECAY + DECAY ** 2))
    assert weighted_mastery([1.0, 0.0, 0.0]) == pytest.approx(DECAY ** 2 / (1 + DECAY + DECAY ** 2))
    assert weighted_mastery([0.5]) == 0.5
    assert weighted_mastery([]) is None


def test_recent_attempts_count_more():
    improving = weighted_mastery([0.0, 0.0, 1.0, 1.0])
    slipping = weighted_mastery([1.0, 1.0, 0.0, 0.0])
    assert improving is not None and slipping is not None
    assert improving > 0.5 > slipping


def test_sections_and_lessons():
    attempts = [attempt("05-loops", "for", 1.0), attempt("05-loops", "while", 0.0), attempt("05-loops", "for", 0.5),
                attempt("06-lists", "append", 1.0), attempt("06-lists", "for", 0.0)]  # "for" again, another lesson
    by_section = section_mastery(attempts)
    loops_for = by_section[("05-loops", "for")]
    assert loops_for.attempts == 2 and loops_for.correct == 1
    assert loops_for.mastery == pytest.approx((DECAY * 1.0 + 0.5) / (1 + DECAY))
    assert by_section[("06-lists", "for")].mastery == 0.0  # tried and wrong: 0, known
    assert mastery_of("05-loops", "break", by_section).mastery is None  # never tried: unknown
    lessons = lesson_mastery(attempts, lessons=["05-loops", "06-lists", "07-dicts"])
    assert lessons["05-loops"].mastery == pytest.approx((loops_for.mastery + 0.0) / 2)
    assert (lessons["05-loops"].sections, lessons["05-loops"].attempts) == (2, 3)
    assert lessons["06-lists"].mastery == pytest.approx(0.5)
    assert lessons["07-dicts"].mastery is None and lessons["07-dicts"].sections == 0
    assert set(lesson_mastery(attempts)) == {"05-loops", "06-lists"}
