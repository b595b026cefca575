"""The learner's statistics page: what is due, how much they retain, their streak and their work per day.

Pure: built from attempts, the replayed review schedule and "now". Days are the learner's LOCAL days
(`tz`): a streak or a "due today" that flipped at midnight UTC would be wrong for most of the world.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from app.core.learning.mastery import LessonAttempt, LessonMastery, lesson_mastery
from app.core.learning.review import HARD, CardState, ReviewStep

WINDOW_DAYS = 30   # retention and the attempts chart look this far back
WEEK_DAYS = 7


@dataclass(frozen=True)
class DayCount:
    day: date
    attempts: int


@dataclass(frozen=True)
class LearningStats:
    cards: int                 # questions in the review schedule
    due_now: int               # due at `now` (overdue included)
    due_today: int             # due before the learner's local midnight (due_now included)
    due_this_week: int         # due after today, within the next WEEK_DAYS local days
    retention: float | None    # share of reviews of review-state cards rated Hard or better, last 30 days
    retention_reviews: int     # how many reviews that share is of
    streak_days: int
    attempts_per_day: tuple[DayCount, ...]  # the last 30 local days, oldest first, today last
    mastery: Mapping[str, LessonMastery] = field(default_factory=dict)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The start of `day` in `tz`, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def retention(steps: Iterable[ReviewStep], *, now: datetime, days: int = WINDOW_DAYS) -> tuple[float | None, int]:
    """(share rated ≥ Hard, count) of the reviews of cards already in the review state in the last `days`.
    Learning steps are left out: rating a card again ten minutes after meeting it tests no memory."""
    since = now - timedelta(days=days)
    ratings = [s.rating for s in steps if s.state_before == "review" and since < s.reviewed_at <= now]
    if not ratings:
        return None, 0
    return sum(1 for r in ratings if r >= HARD) / len(ratings), len(ratings)


def streak(days_active: Iterable[date], today: date) -> int:
    """Consecutive active days ending today; a streak not yet extended today still counts up to
    yesterday (the day is not over)."""
    active = set(days_active)
    day = today if today in active else today - timedelta(days=1)
    count = 0
    while day in active:
        count += 1
        day -= timedelta(days=1)
    return count


def learning_stats(attempts: Sequence[LessonAttempt], cards: Mapping[str, CardState], steps: Sequence[ReviewStep],
                   *, now: datetime, tz: tzinfo = UTC, lessons: Iterable[str] = ()) -> LearningStats:
    """`attempts` in the order made (each with its time); `cards` and `steps` from review.replay_steps."""
    today = now.astimezone(tz).date()
    end_today = local_midnight(today + timedelta(days=1), tz)
    end_week = local_midnight(today + timedelta(days=1 + WEEK_DAYS), tz)
    dues = [c.due for c in cards.values()]
    share, reviewed = retention(steps, now=now)

    attempt_days = [a.at.astimezone(tz).date() for a in attempts if a.at is not None]
    review_days = [s.reviewed_at.astimezone(tz).date() for s in steps]
    first = today - timedelta(days=WINDOW_DAYS - 1)
    per_day = dict.fromkeys((first + timedelta(days=i) for i in range(WINDOW_DAYS)), 0)
    for day in attempt_days:
        if day in per_day:
            per_day[day] += 1
    return LearningStats(
        cards=len(cards), due_now=sum(1 for d in dues if d <= now), due_today=sum(1 for d in dues if d < end_today),
        due_this_week=sum(1 for d in dues if end_today <= d < end_week), retention=share, retention_reviews=reviewed,
        streak_days=streak((d for d in (*attempt_days, *review_days) if d <= today), today),
        attempts_per_day=tuple(DayCount(day, n) for day, n in per_day.items()),
        mastery=lesson_mastery(attempts, lessons))


def stats_json(stats: LearningStats) -> dict[str, object]:
    """The statistics as plain JSON values (the CLI's --json and the GUI read the same shape)."""
    return {"cards": stats.cards, "due_now": stats.due_now, "due_today": stats.due_today,
            "due_this_week": stats.due_this_week,
            "retention": None if stats.retention is None else round(stats.retention, 4),
            "retention_reviews": stats.retention_reviews, "streak_days": stats.streak_days,
            "attempts_per_day": [{"day": d.day.isoformat(), "attempts": d.attempts} for d in stats.attempts_per_day],
            "mastery": {lesson: {"mastery": None if m.mastery is None else round(m.mastery, 4),
                                 "sections": m.sections, "attempts": m.attempts}
                        for lesson, m in sorted(stats.mastery.items())}}
