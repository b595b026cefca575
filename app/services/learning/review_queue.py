"""The review queue, mastery and statistics, read from the learning record.

Nothing here is stored: the schedule is replayed from `review.log` events and a due question is
rebuilt from the newest `quiz.attempt` event that carried it, so a device that synced the events
shows the same queue as the one that recorded them (app/core/learning/review.py says why the replay
is deterministic). A card whose question cannot be rebuilt (no attempt carried it yet, or it was
written by a newer version) is left out of the queue and counted in `skipped`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG, AttemptFacts, ReviewFacts
from app.core.learning.mastery import LessonAttempt, LessonMastery, lesson_mastery
from app.core.learning.quiz import QuizQuestion
from app.core.learning.review import CardState, ReviewStep, replay_steps
from app.core.learning.stats import LearningStats, learning_stats
from app.core.sync.hlc import Timestamp
from app.core.sync.records import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueItem:
    card_id: str
    course_id: str
    lesson_id: str
    section: str
    question: QuizQuestion
    due: datetime        # aware, UTC
    state: str           # "learning" | "review" | "relearning"


@dataclass(frozen=True)
class DueQueue:
    items: list[DueItem]
    skipped: int         # due cards whose question could not be rebuilt


def event_time(event: Event) -> datetime:
    """When an event was written, from its hybrid-clock timestamp (aware UTC)."""
    return datetime.fromtimestamp(Timestamp.parse(event.hlc).wall_ms / 1000, UTC)


def local_tz(utc_offset_s: int | None) -> tzinfo:
    """A fixed offset if given, else this machine's offset from UTC now."""
    if utc_offset_s is not None:
        return timezone(timedelta(seconds=utc_offset_s))
    return datetime.now().astimezone().tzinfo or UTC


class ReviewQueue:
    """Reads one learning record (`LearningRecord`, or anything with its `events(course_id=, kind=)`)."""

    def __init__(self, record: Any) -> None:
        self.record = record

    # -- reading the events ----------------------------------------------------------------------

    def _reviews(self, course_id: str | None) -> tuple[list[ReviewFacts], dict[str, tuple[str, str]]]:
        """The review facts in clock order, and each card's (course_id, lesson_id)."""
        facts, where = [], {}
        for event in self.record.events(course_id=course_id, kind=REVIEW_LOG):
            review = ReviewFacts.from_data(event.data)
            facts.append(review)
            where[review.card_id] = (event.course_id, event.lesson_id or "")
        return facts, where

    def _attempts(self, course_id: str | None) -> list[tuple[Event, AttemptFacts]]:
        out = []
        for event in self.record.events(course_id=course_id, kind=QUIZ_ATTEMPT):
            try:
                out.append((event, AttemptFacts.from_data(event.data)))
            except (TypeError, ValueError):
                log.warning("skipping an unreadable quiz attempt %s", event.id)
        return out

    def cards(self, course_id: str | None = None) -> dict[str, CardState]:
        """Every card's replayed state."""
        return replay_steps(self._reviews(course_id)[0])[0]

    # -- the queue -------------------------------------------------------------------------------

    def queue(self, course_id: str | None = None, *, now: datetime | None = None) -> DueQueue:
        """The cards due at `now` (default: now), most overdue first."""
        now = now or datetime.now(UTC)
        facts, where = self._reviews(course_id)
        cards = replay_steps(facts)[0]
        questions: dict[tuple[str, str], dict[str, Any]] = {}
        for event, attempt in self._attempts(course_id):  # clock order: the newest wins
            if attempt.question:
                questions[(event.course_id, attempt.question_id)] = dict(attempt.question)
        items, skipped = [], 0
        for card in sorted(cards.values(), key=lambda c: (c.due, c.card_id)):
            if card.due > now:
                continue
            course, lesson = where[card.card_id]
            question = _rebuild(questions.get((course, card.question_id)))
            if question is None:
                skipped += 1
                continue
            items.append(DueItem(card.card_id, course, lesson or question.lesson_id, card.section or question.section,
                                 question, card.due, card.state))
        if skipped:
            log.info("%d due review(s) left out: their question could not be rebuilt", skipped)
        return DueQueue(items, skipped)

    def due(self, course_id: str | None = None, *, now: datetime | None = None) -> list[DueItem]:
        return self.queue(course_id, now=now).items

    # -- mastery and statistics ------------------------------------------------------------------

    def _lesson_attempts(self, course_id: str | None) -> list[LessonAttempt]:
        return [LessonAttempt(event.lesson_id or "", attempt, event_time(event))
                for event, attempt in self._attempts(course_id)]

    def mastery(self, course_id: str | None = None) -> dict[str, LessonMastery]:
        """Mastery per lesson (attempted lessons only) of one course, or of all when None."""
        return lesson_mastery(self._lesson_attempts(course_id))

    def stats(self, course_id: str | None = None, *, now: datetime | None = None,
              utc_offset_s: int | None = None) -> LearningStats:
        """The statistics at `now`, with days in the learner's local time (`utc_offset_s` east of UTC;
        default: this machine's time zone)."""
        now = now or datetime.now(UTC)
        cards, steps = self._replay(course_id)
        return learning_stats(self._lesson_attempts(course_id), cards, steps, now=now, tz=local_tz(utc_offset_s))

    def _replay(self, course_id: str | None) -> tuple[dict[str, CardState], list[ReviewStep]]:
        return replay_steps(self._reviews(course_id)[0])


def _rebuild(data: dict[str, Any] | None) -> QuizQuestion | None:
    if not data:
        return None
    try:
        question = QuizQuestion.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None
    if question.kind not in ("choice", "short", "output") or (question.kind == "choice" and not question.options):
        return None
    return question
