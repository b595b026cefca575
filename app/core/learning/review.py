"""The FSRS review schedule of quiz questions (py-fsrs), rebuilt from `review.log` events.

The schedule is never stored: every device replays the same review events and must reach the same
due dates. Two things in py-fsrs stand in the way, and this module removes both:

- its fuzz (a small random spread of review intervals, so cards learnt together do not stay due
  together) draws from Python's GLOBAL random generator. `SeededScheduler` draws it instead from a
  `random.Random` seeded by sha256("<card_id>:<n>"), n being the card's review number (1, 2, ...), so
  the n-th review of a card gets the same fuzz on every machine, and nobody else's random numbers
  are consumed or disturbed;
- its cards default to an id made of the epoch milliseconds at creation. Lantern's own card id
  (`events.card_id_for`, "<course>/<question>") is hashed to a stable int instead (`fsrs_card_id`).

Reviews are applied per card in (reviewed_at, input order) order; the service passes events in
hybrid-clock order, which every device shares, so a tie is broken the same way everywhere.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fsrs import Card, Rating, ReviewLog, Scheduler, State
from fsrs.scheduler import FUZZ_RANGES

from app.core.learning.events import ReviewFacts

AGAIN, HARD, GOOD, EASY = (int(r) for r in (Rating.Again, Rating.Hard, Rating.Good, Rating.Easy))
STATE_NAMES = {State.Learning: "learning", State.Review: "review", State.Relearning: "relearning"}
PARTIAL_SCORE = 0.5  # a short answer scored at least this (grading.VERDICT_SCORES["partly"]) is "Hard"


def rating_for(correct: bool, score: float, hints_used: int) -> int:
    """The FSRS rating of a graded answer. Lantern never rates "Easy" by itself: a learner who found a
    question easy has not told us so, and Easy stretches the next interval the most.

    wrong → Again; right after a hint, or a partly right short answer (0.5 ≤ score < 1, which the grader
    marks not correct: app/core/learning/grading.py) → Hard; right → Good."""
    if correct:
        return HARD if hints_used > 0 or score < 1.0 else GOOD
    return HARD if PARTIAL_SCORE <= score < 1.0 else AGAIN


def seed_for(card_id: str, review_number: int) -> int:
    """The fuzz seed of a card's n-th review (n from 1): the same on every device."""
    digest = hashlib.sha256(f"{card_id}:{review_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def fsrs_card_id(card_id: str) -> int:
    """A stable int for py-fsrs' `Card.card_id` (48 bits: exact in JSON numbers everywhere)."""
    return int.from_bytes(hashlib.sha256(card_id.encode()).digest()[:6], "big")


class SeededScheduler(Scheduler):
    """py-fsrs' Scheduler whose interval fuzz comes from a per-review seed, not the global generator.

    Everything else (stability, difficulty, steps, interval formula) is py-fsrs' own code; only
    `_get_fuzzed_interval`, its one use of `random()`, is redone here with the same ranges
    (tests/core/learning/test_review.py checks it against py-fsrs with the global generator seeded
    alike, so a py-fsrs upgrade that changes the fuzz fails there). Not thread-safe: use one per thread."""

    def __init__(self, *, enable_fuzzing: bool = True) -> None:
        super().__init__(enable_fuzzing=enable_fuzzing)
        self._rng: random.Random | None = None

    def review_card(self, card: Card, rating: Rating, review_datetime: datetime | None = None,
                    review_duration: int | None = None, *, seed: int | None = None) -> tuple[Card, ReviewLog]:
        """py-fsrs' review, fuzzed from `seed` (default: one made from the card id and its last review)."""
        if seed is None:
            last = card.last_review.isoformat() if card.last_review else ""
            seed = seed_for(f"{card.card_id}@{last}", 0)
        self._rng = random.Random(seed)
        try:
            return super().review_card(card, rating, review_datetime, review_duration)
        finally:
            self._rng = None

    def _get_fuzzed_interval(self, *, interval: timedelta) -> timedelta:
        interval_days = interval.days
        if interval_days < 2.5:  # py-fsrs fuzzes no interval shorter than this
            return interval
        delta = 1.0
        for fuzz_range in FUZZ_RANGES:
            delta += fuzz_range["factor"] * max(min(float(interval_days), fuzz_range["end"]) - fuzz_range["start"],
                                                0.0)
        min_ivl = max(2, round(interval_days - delta))
        max_ivl = min(round(interval_days + delta), self.maximum_interval)
        min_ivl = min(min_ivl, max_ivl)
        draw = (self._rng or random.Random(0)).random()
        days = min(round(draw * (max_ivl - min_ivl + 1) + min_ivl), self.maximum_interval)
        return timedelta(days=days)


@dataclass(frozen=True)
class CardState:
    """A question's place in the review schedule after its reviews so far."""

    card_id: str
    question_id: str
    section: str
    due: datetime            # aware, UTC
    state: str               # "learning" | "review" | "relearning"
    stability: float
    difficulty: float
    last_review: datetime    # aware, UTC
    reps: int                # reviews applied
    lapses: int              # "Again" ratings after the first review (a first Again is not forgetting)
    last_rating: int
    step: int | None = None  # py-fsrs' learning/relearning step; None in the review state


@dataclass(frozen=True)
class ReviewStep:
    """One applied review, with the state the card was in before it (retention counts only reviews of
    cards already in the review state: a learning step is not a test of memory)."""

    card_id: str
    reviewed_at: datetime
    rating: int
    state_before: str        # "new" for a card's first review
    due_after: datetime


def parse_reviewed_at(text: str) -> datetime | None:
    """An ISO 8601 time as aware UTC (a time without an offset counts as UTC); None if unreadable."""
    try:
        at = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _valid(review: ReviewFacts) -> datetime | None:
    if not review.card_id or review.rating not in (AGAIN, HARD, GOOD, EASY):
        return None
    return parse_reviewed_at(review.reviewed_at)


def replay_steps(reviews: Iterable[ReviewFacts], *, fuzz: bool = True) -> tuple[dict[str, CardState],
                                                                                   list[ReviewStep]]:
    """Every card's state and every applied review, in application order. A review with no card id,
    an unknown rating or an unreadable time is left out (an event from a newer or broken device)."""
    ordered = sorted(((at, index, review) for index, review in enumerate(reviews)
                      if (at := _valid(review)) is not None), key=lambda item: (item[0], item[1]))
    scheduler = SeededScheduler(enable_fuzzing=fuzz)
    cards: dict[str, Card] = {}
    states: dict[str, CardState] = {}
    steps: list[ReviewStep] = []
    for at, _index, review in ordered:
        previous = states.get(review.card_id)
        card = cards.get(review.card_id) or Card(card_id=fsrs_card_id(review.card_id), due=at)
        reps = (previous.reps if previous else 0) + 1
        card, _log = scheduler.review_card(card, Rating(review.rating), at, seed=seed_for(review.card_id, reps))
        cards[review.card_id] = card
        lapses = (previous.lapses if previous else 0) + (1 if previous and review.rating == AGAIN else 0)
        assert card.stability is not None and card.difficulty is not None and card.last_review is not None
        states[review.card_id] = CardState(
            card_id=review.card_id, question_id=review.question_id, section=review.section, due=card.due,
            state=STATE_NAMES[card.state], stability=float(card.stability), difficulty=float(card.difficulty),
            last_review=card.last_review, reps=reps, lapses=lapses, last_rating=review.rating, step=card.step)
        steps.append(ReviewStep(review.card_id, at, review.rating,
                                previous.state if previous else "new", card.due))
    return states, steps


def replay(reviews: Iterable[ReviewFacts], *, fuzz: bool = True) -> dict[str, CardState]:
    """Each card's state after its reviews: the same input gives the same output on any machine."""
    return replay_steps(reviews, fuzz=fuzz)[0]

