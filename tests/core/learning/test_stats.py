"""Learning statistics: due counts, retention, streak and the per-day chart, in the learner's local days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.core.learning.events import AttemptFacts, ReviewFacts
from app.core.learning.mastery import LessonAttempt
from app.core.learning.review import AGAIN, GOOD, HARD, replay_steps
from app.core.learning.stats import WINDOW_DAYS, learning_stats, retention, stats_json, streak

HANOI = timezone(timedelta(hours=7))
NOW = datetime(2025, 3, 20, 20, 0, tzinfo=UTC)  # 03:00 on 21 March in Hanoi


def review(card: str, at: datetime, rating: int) -> ReviewFacts:
    return ReviewFacts(f"c/{card}", card, "s", rating, at.isoformat())


def attempt(at: datetime, score: float = 1.0) -> LessonAttempt:
    return LessonAttempt("05-loops", AttemptFacts("q", "for", "choice", "a", score == 1.0, score), at)


def test_streak_counts_back_from_today_or_from_yesterday():
    today = date(2025, 3, 20)
    days = [today - timedelta(days=i) for i in (0, 1, 2, 4)]
    assert streak(days, today) == 3
    assert streak(days[1:], today) == 2  # not yet today: the streak still stands until midnight
    assert streak(days[2:], today) == 0
    assert streak([], today) == 0


def test_local_days_decide_the_streak_and_the_chart():
    # 22:30 UTC on the 18th, 19th and 20th are the 19th, 20th and 21st in Hanoi.
    attempts = [attempt(datetime(2025, 3, d, 22, 30, tzinfo=UTC)) for d in (18, 19)]
    utc = learning_stats(attempts, {}, [], now=NOW, tz=UTC)
    hanoi = learning_stats(attempts, {}, [], now=NOW, tz=HANOI)
    assert utc.streak_days == 2          # the 18th and 19th; the 20th (today) is not over
    assert hanoi.streak_days == 2        # the 19th and 20th; the 21st (today there) is not over
    assert len(hanoi.attempts_per_day) == WINDOW_DAYS
    assert hanoi.attempts_per_day[-1].day == date(2025, 3, 21)
    assert [d.attempts for d in hanoi.attempts_per_day[-3:]] == [1, 1, 0]
    assert [d.attempts for d in utc.attempts_per_day[-3:]] == [1, 1, 0]
    assert utc.attempts_per_day[-1].day == date(2025, 3, 20)
    old = learning_stats([attempt(NOW - timedelta(days=45))], {}, [], now=NOW)
    assert sum(d.attempts for d in old.attempts_per_day) == 0


def test_due_counts_and_retention():
    t0 = NOW - timedelta(days=20)
    reviews = [review("a", t0, GOOD), review("a", t0 + timedelta(minutes=15), GOOD),  # learning -> review
               review("a", t0 + timedelta(days=3), AGAIN),                           # a review: forgotten
               review("a", t0 + timedelta(days=3, minutes=12), GOOD),                # relearning step
               review("b", t0, GOOD), review("b", t0 + timedelta(minutes=15), GOOD),
               review("b", t0 + timedelta(days=4), HARD),                            # a review: recalled
               review("c", NOW - timedelta(minutes=5), AGAIN)]                       # new: due in a minute
    reviews += [review("d", NOW - timedelta(hours=1), GOOD), review("d", NOW - timedelta(minutes=45), GOOD),
                review("e", NOW - timedelta(minutes=2), GOOD)]                        # next step in 10 minutes
    cards, steps = replay_steps(reviews, fuzz=False)
    share, n = retention(steps, now=NOW)
    assert (share, n) == (0.5, 2)  # learning steps are no test of memory
    assert cards["c/d"].due == datetime(2025, 3, 22, 19, 15, tzinfo=UTC)   # two days: later this week
    assert cards["c/e"].due == NOW + timedelta(minutes=8)                   # today, not yet
    stats = learning_stats([], cards, steps, now=NOW, tz=UTC)
    assert (stats.cards, stats.due_now, stats.due_today, stats.due_this_week) == (5, 3, 4, 1)
    assert stats.retention == 0.5 and stats.retention_reviews == 2
    assert stats.streak_days == 1  # c, d and e were reviewed today
    assert retention(steps, now=NOW + timedelta(days=40)) == (None, 0)
    # Due at 06:00 UTC tomorrow: that is still today in Hanoi (13:00), tomorrow in UTC.
    morning = {**cards, "c/e": replace(cards["c/e"], due=datetime(2025, 3, 21, 6, tzinfo=UTC))}
    assert learning_stats([], morning, steps, now=NOW, tz=UTC).due_today == 3
    assert learning_stats([], morning, steps, now=NOW, tz=HANOI).due_today == 4


def test_no_activity_and_the_json_shape():
    stats = learning_stats([], {}, [], now=NOW)
    assert (stats.cards, stats.due_today, stats.retention, stats.streak_days) == (0, 0, None, 0)
    data = stats_json(learning_stats([attempt(NOW, 0.5)], {}, [], now=NOW))
    assert data["retention"] is None and data["streak_days"] == 1
    assert data["mastery"] == {"05-loops": {"mastery": pytest.approx(0.5), "sections": 1, "attempts": 1}}
    assert data["attempts_per_day"][-1] == {"day": "2025-03-20", "attempts": 1}
