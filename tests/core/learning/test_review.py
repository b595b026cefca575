"""The FSRS glue: ratings, and a replay that equals py-fsrs' own schedule and is the same everywhere."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fsrs import Card, Rating, Scheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.learning.events import ReviewFacts, card_id_for
from app.core.learning.review import (
    AGAIN,
    GOOD,
    HARD,
    CardState,
    SeededScheduler,
    fsrs_card_id,
    parse_reviewed_at,
    rating_for,
    replay,
    replay_steps,
    seed_for,
)

COURSE = "python-basics"
LOOPS, WHILE, LISTS = "q-loops-for", "q-loops-while", "q-lists-append"


def _review(question: str, section: str, at: str, rating: int) -> ReviewFacts:
    return ReviewFacts(card_id_for(COURSE, question), question, section, rating, at)


# A learner's first three months with three questions: learning steps minutes apart, reviews days and
# weeks apart, a forgotten card relearnt. 21 reviews, in the order they happened.
RECORDED: list[ReviewFacts] = [
    _review(LOOPS, "for", "2025-03-01T09:00:00.000000+00:00", GOOD),
    _review(WHILE, "while", "2025-03-01T09:02:10.125000+00:00", AGAIN),
    _review(WHILE, "while", "2025-03-01T09:04:00.500000+00:00", HARD),
    _review(LOOPS, "for", "2025-03-01T09:12:30.000000+00:00", GOOD),
    _review(WHILE, "while", "2025-03-01T09:20:00.000000+00:00", GOOD),
    _review(WHILE, "while", "2025-03-01T09:35:45.000000+00:00", GOOD),
    _review(LISTS, "append", "2025-03-02T20:00:00.000000+00:00", GOOD),
    _review(LISTS, "append", "2025-03-02T20:15:00.000000+00:00", GOOD),
    _review(WHILE, "while", "2025-03-03T08:30:00.000000+00:00", GOOD),
    _review(LOOPS, "for", "2025-03-04T18:00:00.000000+00:00", GOOD),
    _review(LISTS, "append", "2025-03-05T07:45:00.000000+00:00", HARD),
    _review(WHILE, "while", "2025-03-08T10:00:00.000000+00:00", AGAIN),
    _review(WHILE, "while", "2025-03-08T10:12:00.000000+00:00", GOOD),
    _review(WHILE, "while", "2025-03-10T19:00:00.000000+00:00", GOOD),
    _review(LOOPS, "for", "2025-03-12T12:00:00.000000+00:00", GOOD),
    _review(LISTS, "append", "2025-03-15T09:00:00.000000+00:00", GOOD),
    _review(LOOPS, "for", "2025-03-30T21:30:00.000000+00:00", HARD),
    _review(LOOPS, "for", "2025-04-20T08:00:00.000000+00:00", GOOD),
    _review(LOOPS, "for", "2025-05-15T17:00:00.000000+00:00", AGAIN),
    _review(LOOPS, "for", "2025-05-15T17:20:00.000000+00:00", GOOD),
    _review(LOOPS, "for", "2025-05-18T17:00:00.000000+00:00", GOOD),
]


def plain_fsrs(reviews: list[ReviewFacts], *, fuzz: bool) -> dict[str, Card]:
    """The same reviews through py-fsrs' own Scheduler, the fuzz drawn from the global generator
    seeded the way SeededScheduler seeds its own (only here, in the test)."""
    scheduler = Scheduler(enable_fuzzing=fuzz)
    cards: dict[str, Card] = {}
    count: dict[str, int] = {}
    saved = random.getstate()
    try:
        for review in sorted(reviews, key=lambda r: r.reviewed_at):
            count[review.card_id] = count.get(review.card_id, 0) + 1
            card = cards.get(review.card_id) or Card(card_id=fsrs_card_id(review.card_id))
            random.seed(seed_for(review.card_id, count[review.card_id]))
            cards[review.card_id], _ = scheduler.review_card(card, Rating(review.rating),
                                                             datetime.fromisoformat(review.reviewed_at))
    finally:
        random.setstate(saved)
    return cards


def assert_same(ours: dict[str, CardState], theirs: dict[str, Card]) -> None:
    assert set(ours) == set(theirs)
    for card_id, card in theirs.items():
        state = ours[card_id]
        assert (state.due, state.stability, state.difficulty, state.last_review, state.step) == (
            card.due, card.stability, card.difficulty, card.last_review, card.step), card_id
        assert state.state == card.state.name.lower()


@pytest.mark.parametrize(("correct", "score", "hints", "rating"), [
    (False, 0.0, 0, AGAIN), (False, 0.0, 3, AGAIN), (False, 0.4, 0, AGAIN),
    (False, 0.5, 0, HARD),                      # a partly right short answer (grading's "partly")
    (True, 1.0, 1, HARD), (True, 0.75, 0, HARD),
    (True, 1.0, 0, GOOD),
])
def test_rating_for(correct, score, hints, rating):
    assert rating_for(correct, score, hints) == rating
    assert rating_for(correct, score, hints) != Rating.Easy  # never Easy on its own


def test_unfuzzed_replay_equals_py_fsrs():
    ours = replay(RECORDED, fuzz=False)
    assert_same(ours, plain_fsrs(RECORDED, fuzz=False))
    loops = ours[card_id_for(COURSE, LOOPS)]
    assert (loops.reps, loops.lapses, loops.last_rating, loops.state) == (9, 1, GOOD, "review")
    whiles = ours[card_id_for(COURSE, WHILE)]
    assert (whiles.reps, whiles.lapses) == (8, 1)  # the first Again is no lapse: it was never learnt
    assert all(s.due.tzinfo == UTC and s.last_review.tzinfo == UTC for s in ours.values())


def test_fuzzed_replay_equals_py_fsrs_with_the_same_seeds():
    ours = replay(RECORDED)
    assert_same(ours, plain_fsrs(RECORDED, fuzz=True))
    # The fuzz is really applied: some due date differs from the unfuzzed schedule.
    unfuzzed = replay(RECORDED, fuzz=False)
    assert any(ours[c].due != unfuzzed[c].due for c in ours)
    # And another seed would have given another schedule, so equality above is not an accident.
    other = plain_fsrs([replace(r, card_id=r.card_id + "x") for r in RECORDED], fuzz=True)
    assert any(ours[c].due != other[c + "x"].due for c in ours)


def test_replay_leaves_the_global_random_generator_alone():
    random.seed(1234)
    before = random.getstate()
    first = replay(RECORDED)
    assert random.getstate() == before
    random.random()  # someone else draws in between: nothing changes for us
    assert replay(RECORDED) == first


def test_every_fuzz_draw_of_a_review_is_reproducible():
    scheduler = SeededScheduler()
    card = Card(card_id=fsrs_card_id("c"), due=datetime(2025, 1, 1, tzinfo=UTC))
    at = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(1, 6):
        a, _ = scheduler.review_card(card, Rating.Good, at, seed=seed_for("c", n))
        b, _ = SeededScheduler().review_card(card, Rating.Good, at, seed=seed_for("c", n))
        assert a.due == b.due
        card, at = a, a.due


def test_lantern_card_ids_map_to_stable_fsrs_ids():
    assert fsrs_card_id("python-basics/q-1") == fsrs_card_id("python-basics/q-1")
    assert fsrs_card_id("python-basics/q-1") != fsrs_card_id("python-basics/q-2")
    assert 0 <= fsrs_card_id("x") < 2 ** 48


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_arrival_order_does_not_change_the_schedule(rng):
    shuffled = list(RECORDED)
    rng.shuffle(shuffled)
    assert replay(shuffled) == replay(RECORDED)


def test_the_same_instant_in_another_offset_is_the_same_review():
    moved = [replace(r, reviewed_at=datetime.fromisoformat(r.reviewed_at).astimezone(
        timezone(timedelta(hours=7))).isoformat()) for r in RECORDED]
    assert replay(moved) == replay(RECORDED)
    assert parse_reviewed_at("2025-03-01T09:00:00") == datetime(2025, 3, 1, 9, tzinfo=UTC)


def test_ties_keep_input_order_and_broken_reviews_are_left_out():
    at = "2025-03-01T09:00:00+00:00"
    a = _review(LOOPS, "for", at, AGAIN)
    g = _review(LOOPS, "for", at, GOOD)
    assert replay([a, g])[a.card_id].last_rating == GOOD
    assert replay([g, a])[a.card_id].last_rating == AGAIN
    broken = [replace(g, rating=7), replace(g, reviewed_at="yesterday"), replace(g, card_id="")]
    assert replay(broken) == {}
    assert replay([*broken, a]) == replay([a])


def test_steps_record_the_state_before_each_review():
    _states, steps = replay_steps(RECORDED)
    assert len(steps) == len(RECORDED)
    loops = [s for s in steps if s.card_id == card_id_for(COURSE, LOOPS)]
    assert [s.state_before for s in loops] == ["new", "learning", "review", "review", "review", "review",
                                               "review", "relearning", "review"]
    assert [s.rating for s in loops] == [r.rating for r in RECORDED if r.question_id == LOOPS]
