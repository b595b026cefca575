"""The "Review today" queue (offscreen Qt, the real learning record in the test's SQLite database).

Due items are made the way another device's sync would leave them: `quiz.attempt` and `review.log`
events written straight into the record, the reviews two days old, so the queue has to be rebuilt from
the events alone. Answering goes through the real `answer_question` with source "review".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG, AttemptFacts, ReviewFacts, card_id_for
from app.core.learning.quiz import QuizQuestion
from app.core.learning.review import AGAIN
from app.services.settings_store import load_settings, paths_for
from app.ui.app_context import AppContext
from app.ui.review_view import ReviewView, next_review_text, read_queue

COURSE, LESSON = "python-from-zero", "05-loops"
WAIT_MS = 20_000

RANGE = QuizQuestion(course_id=COURSE, lesson_id=LESSON, section="looping-over-a-range",
                     section_title="Looping over a range", kind="choice", prompt="Which numbers does range(5) give?",
                     options=("1 to 5", "0 to 4", "0 to 5"), answer=1, reference="0 to 4", origin="authored")
TOTAL = QuizQuestion(course_id=COURSE, lesson_id=LESSON, section="adding-things-up-in-a-loop",
                     section_title="Adding things up in a loop", kind="output", prompt="What does this code print?",
                     code="total = 0\nfor n in range(1, 4):\n    total += n\nprint(total)", reference="6",
                     origin="authored")


@pytest.fixture
def ctx():
    settings = load_settings()
    context = AppContext(settings, paths_for(settings))
    yield context
    context.shutdown()


def on_db(ctx, fn):
    return ctx.db.submit(fn).result()


def missed_two_days_ago(ctx, question: QuizQuestion, *, days: int = 2) -> None:
    """A wrong answer to `question` `days` ago, as its events arrive from another device."""
    stored = question.to_json()
    stored.pop("checks")
    attempt = AttemptFacts(question_id=question.id, section=question.section, kind=question.kind, answer="?",
                           correct=False, score=0.0, question=stored)
    at = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
    review = ReviewFacts(card_id=card_id_for(COURSE, question.id), question_id=question.id, section=question.section,
                         rating=AGAIN, reviewed_at=at)
    on_db(ctx, lambda: ctx.services.record.record_events([(QUIZ_ATTEMPT, COURSE, LESSON, attempt.data()),
                                                          (REVIEW_LOG, COURSE, LESSON, review.data())]))


def open_view(qtbot, ctx) -> ReviewView:
    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.queue_loaded, timeout=WAIT_MS):
        view.reload()
    return view


def test_due_items_rebuilt_from_events_are_answered_and_leave_the_queue(qtbot, ctx):
    missed_two_days_ago(ctx, RANGE, days=3)
    missed_two_days_ago(ctx, TOTAL, days=2)
    view = open_view(qtbot, ctx)
    assert [item.question.id for item in view.items] == [RANGE.id, TOTAL.id]  # most overdue first
    assert view.title.text() == "<b>Review today</b>"
    assert view.count_label.text() == "2 due now"
    card = view.card
    assert view.pages.currentWidget() is card
    assert card.header.text() == "Question 1 of 2 · Looping over a range"
    assert card.prompt.text() == RANGE.prompt and card.options.button(1).text() == "0 to 4"

    card.options.button(1).click()
    with qtbot.waitSignal(view.answered, timeout=WAIT_MS) as got:
        card.submit_button.click()
    feedback = got.args[0]
    assert feedback.correct and card.reason.text() == feedback.reason and "0 to 4" in feedback.reason
    assert card.source.text() == '<a href="looping-over-a-range">From: Looping over a range</a>'
    assert view.count_label.text() == "1 due now"
    reviews = [e for e in on_db(ctx, lambda: ctx.services.record.events(kind=QUIZ_ATTEMPT))
               if e.data["source"] == "review"]
    assert [(e.data["question_id"], e.data["correct"]) for e in reviews] == [(RANGE.id, True)]
    assert RANGE.id not in {i.question.id for i in on_db(ctx, lambda: read_queue(ctx.services.record).items)}
    with qtbot.waitSignal(view.section_requested) as link:
        card.source.linkActivated.emit(RANGE.section)
    assert link.args == [COURSE, LESSON, RANGE.section]

    card.next_button.click()
    assert card.header.text() == "Question 2 of 2 · Adding things up in a loop"
    assert card.code.toPlainText() == TOTAL.code
    card.answer_box.setPlainText("5")
    with qtbot.waitSignal(view.answered, timeout=WAIT_MS) as got:
        card.submit_button.click()
    assert not got.args[0].correct and card.reason.text() == got.args[0].reason and "6" in got.args[0].reason

    with qtbot.waitSignal(view.queue_loaded, timeout=WAIT_MS) as loaded:
        card.next_button.click()  # the end of the round: the queue is read again
    snapshot = loaded.args[0]
    assert snapshot.items == [] and snapshot.cards == 2 and snapshot.next_due > datetime.now(UTC)
    assert view.pages.currentWidget() is view.empty_label
    assert view.empty_label.text().startswith("Done: 2 reviewed.\nNothing to review")
    assert view.count_label.text() == "0 due now"


def test_nothing_scheduled_yet_says_how_reviews_start(qtbot, ctx):
    view = open_view(qtbot, ctx)
    assert view.pages.currentWidget() is view.empty_label
    assert view.empty_label.text() == ("Nothing to review yet. Take a quiz in a lesson: its questions come back "
                                       "here when they are due.")


def test_the_empty_state_names_the_next_review():
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    later_today = next_review_text(now + timedelta(minutes=10), now=now)
    later = next_review_text(now + timedelta(days=3), now=now)
    assert later_today.startswith("Nothing to review right now — next review today at ")
    assert later.startswith("Nothing to review today — next review on ") and later.endswith(".")
    local = (now + timedelta(days=3)).astimezone()
    assert str(local.year) in later and str(local.day) in later


def test_the_toolbar_shows_the_due_count_and_opens_the_review(qtbot, ctx):
    from app.ui.main_window import MainWindow

    missed_two_days_ago(ctx, RANGE)
    missed_two_days_ago(ctx, TOTAL)
    ctx.state.setup_done = True
    ctx.state.course_id, ctx.state.lesson_id = COURSE, "01-first-program"
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignals([window.courses_ready, window.learning.due_counted], timeout=WAIT_MS):
            window.start()
        action = window.learning.review_action
        assert action.text() == "Review today (2)"
        assert action in window.toolbar.actions() and action in window.view_menu.actions()
        action.trigger()
        dialog = window.learning.review_dialog
        qtbot.waitUntil(lambda: dialog.view.snapshot is not None, timeout=WAIT_MS)
        assert dialog.isVisible() and dialog.windowTitle() == "Review today"
        card = dialog.view.card
        card.options.button(1).click()
        with qtbot.waitSignal(dialog.view.answered, timeout=WAIT_MS):
            card.submit_button.click()
        assert action.text() == "Review today (1)"
        card.source.linkActivated.emit(RANGE.section)  # the lesson of the question opens at its section
        assert window.reader.current_lesson_id == LESSON
        heading = window.reader._anchor_blocks[RANGE.section]
        assert [s.cursor.block().position() for s in window.reader.browser.extraSelections()] == [heading]
        dialog.close()
    finally:
        window.close()
