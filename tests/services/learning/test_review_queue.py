"""The review queue read from a real learning record (SQLite), and the same schedule on a second device
after a sync through the real sync server."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG, AttemptFacts, ReviewFacts, card_id_for
from app.core.learning.quiz import QuizQuestion
from app.core.learning.review import AGAIN, GOOD, replay
from app.services.learning.review_queue import ReviewQueue, event_time
from app.services.storage.learning_record import LearningRecord
from tests.core.learning.test_review import COURSE, LISTS, LOOPS, RECORDED, WHILE
from tests.support.sync_devices import PASSWORD, Device, new_user
from tests.support.sync_server import SyncServerProcess

LESSON = {LOOPS: "05-loops", WHILE: "05-loops", LISTS: "06-lists"}


def question(qid: str) -> QuizQuestion:
    """The questions the recorded reviews are of: a choice, an output and a short answer."""
    lesson = LESSON[qid]
    if qid == LOOPS:
        return QuizQuestion(COURSE, lesson, "for", "choice", "What does `for x in xs` do?", "runs once per item",
                            options=("runs once per item", "runs forever", "runs once"), answer=0,
                            section_title="For loops", origin="authored", id=qid)
    if qid == WHILE:
        return QuizQuestion(COURSE, lesson, "while", "output", "What does this print?", "0\n1\n2\n",
                            code="i = 0\nwhile i < 3:\n    print(i)\n    i += 1\n", section_title="While loops",
                            origin="authored", id=qid)
    return QuizQuestion(COURSE, lesson, "append", "short", "What does `list.append` do?",
                        "It adds one item at the end of the list.", section_title="Adding items",
                        origin="authored", id=qid)


def record_review(record: LearningRecord, review: ReviewFacts, *, course: str = COURSE) -> None:
    """What answering a question writes: the graded attempt (carrying the question) and its review."""
    q = question(review.question_id)
    shown = {k: v for k, v in q.to_json().items() if k != "checks"}
    correct = review.rating >= GOOD
    attempt = AttemptFacts(q.id, q.section, q.kind, "an answer", correct, 1.0 if correct else 0.0,
                           question=shown, source="review")
    record.record_event(QUIZ_ATTEMPT, course, q.lesson_id, attempt.data())
    record.record_event(REVIEW_LOG, course, q.lesson_id, review.data())


def fill(record: LearningRecord, reviews: Iterable[ReviewFacts]) -> None:
    for review in reviews:
        record_review(record, review)


@pytest.fixture
def record(tmp_path):
    rec = LearningRecord(tmp_path / "one" / "lantern.sqlite3")
    yield rec
    rec.close()


def test_the_queue_holds_the_due_questions_rebuilt_from_their_attempts(record):
    fill(record, RECORDED)
    queue = ReviewQueue(record)
    cards = queue.cards(COURSE)
    assert cards == replay(RECORDED)  # the record's events replay exactly like the facts themselves
    last_due = max(c.due for c in cards.values())
    assert queue.due(now=min(c.due for c in cards.values()) - timedelta(seconds=1)) == []
    items = queue.due(COURSE, now=last_due)
    assert [i.card_id for i in items] == sorted(cards, key=lambda c: (cards[c].due, c))
    by_question = {i.question.id: i for i in items}
    assert set(by_question) == {LOOPS, WHILE, LISTS}
    assert by_question[LOOPS].question == question(LOOPS)
    assert by_question[WHILE].question.code == question(WHILE).code
    assert by_question[LISTS].lesson_id == "06-lists" and by_question[LISTS].section == "append"
    assert by_question[LOOPS].due == cards[card_id_for(COURSE, LOOPS)].due
    assert by_question[LOOPS].state == "review"
    assert queue.due("another-course", now=last_due) == []


def test_the_newest_attempt_gives_the_question_and_broken_ones_are_counted(record):
    at = "2025-03-01T09:00:00+00:00"
    fill(record, [ReviewFacts(card_id_for(COURSE, LOOPS), LOOPS, "for", AGAIN, at)])
    newer = {k: v for k, v in question(LOOPS).to_json().items() if k != "checks"} | {"prompt": "Reworded?"}
    record.record_event(QUIZ_ATTEMPT, COURSE, "05-loops",
                        AttemptFacts(LOOPS, "for", "choice", "1", True, 1.0, question=newer).data())
    # A review of a question no attempt carried, and one whose question is unreadable.
    record.record_event(REVIEW_LOG, COURSE, "06-lists", ReviewFacts(card_id_for(COURSE, "q-gone"), "q-gone",
                                                                    "append", GOOD, at).data())
    record.record_event(QUIZ_ATTEMPT, COURSE, "06-lists",
                        AttemptFacts("q-bad", "x", "short", "a", True, 1.0, question={"kind": "short"}).data())
    record.record_event(REVIEW_LOG, COURSE, "06-lists", ReviewFacts(card_id_for(COURSE, "q-bad"), "q-bad",
                                                                    "x", GOOD, at).data())
    queue = ReviewQueue(record).queue(now=datetime(2026, 1, 1, tzinfo=UTC))
    assert [i.question.prompt for i in queue.items] == ["Reworded?"]
    assert queue.skipped == 2


def test_mastery_and_stats_from_the_record(record):
    fill(record, RECORDED)
    queue = ReviewQueue(record)
    mastery = queue.mastery(COURSE)
    assert set(mastery) == {"05-loops", "06-lists"}
    lists = [r for r in RECORDED if r.question_id == LISTS]
    assert mastery["06-lists"].attempts == len(lists) and mastery["06-lists"].sections == 1
    now = datetime(2025, 5, 18, 18, 0, tzinfo=UTC)
    stats = queue.stats(COURSE, now=now, utc_offset_s=7 * 3600)
    assert stats.cards == 3 and stats.retention_reviews > 0
    assert stats.mastery == mastery
    # Attempts are dated by when they were written (today, here): none within 30 days of May 2025.
    assert sum(d.attempts for d in stats.attempts_per_day) == 0
    written = event_time(record.events()[-1])  # not "now": the test may run across midnight
    today = queue.stats(COURSE, now=written, utc_offset_s=0)
    assert today.attempts_per_day[-1].attempts == len(RECORDED) and today.streak_days == 1


@pytest.mark.parametrize("seed", range(5))
def test_any_arrival_order_gives_the_same_schedule(tmp_path, record, seed):
    """Events that reach a device in another order (pages in any order) are read back in clock order."""
    fill(record, RECORDED)
    events = record.events()
    random.Random(seed).shuffle(events)
    other = LearningRecord(tmp_path / f"other-{seed}" / "lantern.sqlite3")
    try:
        for start in range(0, len(events), 5):
            other.apply_remote(events[start:start + 5], cursor_name="test.cursor", cursor=start)
        now = datetime(2025, 6, 1, tzinfo=UTC)
        assert ReviewQueue(other).cards() == ReviewQueue(record).cards()
        assert ReviewQueue(other).due(now=now) == ReviewQueue(record).due(now=now)
    finally:
        other.close()


# -- two devices through the real sync server --------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with SyncServerProcess() as running:
        yield running


@pytest.fixture
def devices(tmp_path):
    made: list[Device] = []

    def make(name: str) -> Device:
        device = Device(tmp_path / name)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


def same_everywhere(a: Device, b: Device, now: datetime) -> None:
    qa, qb = ReviewQueue(a.record), ReviewQueue(b.record)
    assert qb.cards() == qa.cards()
    assert qb.due(now=now) == qa.due(now=now)
    assert qb.stats(now=now, utc_offset_s=3600) == qa.stats(now=now, utc_offset_s=3600)
    assert qb.mastery(COURSE) == qa.mastery(COURSE)


def test_two_devices_compute_the_same_schedule_after_a_sync(server, devices):
    laptop, phone = devices("laptop"), devices("phone")
    user = new_user("review")
    laptop.client.register(server.url, user, PASSWORD, "laptop")
    phone.client.login(server.url, user, PASSWORD, "phone")

    fill(laptop.record, RECORDED)
    assert laptop.client.sync_now().pushed == 2 * len(RECORDED)
    assert phone.client.sync_now().pulled == 2 * len(RECORDED)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    same_everywhere(laptop, phone, now)
    due = ReviewQueue(phone.record).due(now=now)
    assert {i.question.id for i in due} == {LOOPS, WHILE, LISTS}

    # The phone reviews what was due; both sync; the schedule moved, identically on both.
    before = ReviewQueue(phone.record).cards()
    for n, item in enumerate(due):
        rating = AGAIN if item.question.id == WHILE else GOOD
        at = (now + timedelta(minutes=n)).isoformat(timespec="microseconds")
        record_review(phone.record, ReviewFacts(item.card_id, item.question.id, item.section, rating, at))
    phone.client.sync_now()
    laptop.client.sync_now()
    after = ReviewQueue(laptop.record).cards()
    assert after != before and all(after[c].reps == before[c].reps + 1 for c in before)
    assert after[card_id_for(COURSE, WHILE)].state == "relearning"
    same_everywhere(laptop, phone, now + timedelta(days=1))
