"""The learning-progress view over real answers in the test's SQLite learning record (offscreen Qt).

Answers go through the real `answer_question`; the numbers on screen are checked against the
statistics the review queue computes from the same record, and the charts against what was answered.
"""

from __future__ import annotations

import pytest

from app.core.learning.quiz import QuizQuestion
from app.services.learning.review_queue import ReviewQueue
from app.services.learning.use_cases import answer_question
from app.services.settings_store import load_settings, paths_for
from app.ui.app_context import AppContext
from app.ui.progress_view import LearningProgressView

COURSE = "python-from-zero"
WAIT_MS = 20_000


def choice(lesson: str, section: str, prompt: str) -> QuizQuestion:
    return QuizQuestion(course_id=COURSE, lesson_id=lesson, section=section, kind="choice", prompt=prompt,
                        options=("yes", "no", "maybe"), answer=0, reference="yes", origin="authored")


RANGE = choice("05-loops", "looping-over-a-range", "Does range(5) stop before 5?")
ACCUMULATE = choice("05-loops", "adding-things-up-in-a-loop", "Is total = 0 created before the loop?")
ELSE = choice("04-conditions", "choosing-between-options-else-and-elif", "Does else run when the condition is false?")


@pytest.fixture
def ctx():
    settings = load_settings()
    context = AppContext(settings, paths_for(settings))
    yield context
    context.shutdown()


def on_db(ctx, fn):
    return ctx.db.submit(fn).result()


def courses(ctx):
    return {COURSE: on_db(ctx, lambda: ctx.services.library.load(COURSE))}


def open_view(qtbot, ctx) -> LearningProgressView:
    view = LearningProgressView(ctx, courses(ctx), course_id=COURSE)
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.stats_shown, timeout=WAIT_MS):
        view.reload()
    return view


def test_numbers_and_charts_come_from_the_learning_record(qtbot, ctx):
    for question, answer in ((RANGE, "1"), (ACCUMULATE, "2"), (ELSE, "1")):  # right, wrong, right
        on_db(ctx, lambda q=question, a=answer: answer_question(ctx.services, q, a))
    expected = on_db(ctx, lambda: ReviewQueue(ctx.services.record).stats(COURSE))
    view = open_view(qtbot, ctx)
    stats = view.stats
    assert view.pages.currentIndex() == 1
    assert stats.cards == expected.cards == 3 and stats.streak_days == 1 and stats.retention is None
    values = {key: card.value.text() for key, card in view.cards.items()}
    assert values == {"due_today": str(expected.due_today), "due_this_week": str(expected.due_this_week),
                      "retention": "—", "streak": "1", "cards": "3"}
    assert [c.caption.text() for c in view.cards.values()] == ["due today", "due later this week",
                                                               "retention (30 days)", "day streak",
                                                               "questions in review"]

    lessons = [lesson.id for lesson in courses(ctx)[COURSE].lessons]
    assert view.mastery_lessons == list(reversed(lessons))  # the first lesson at the top
    widths = dict(zip(view.mastery_lessons, view.mastery_bars.opts["width"], strict=True))
    assert widths["05-loops"] == pytest.approx(50.0)   # one section right, one wrong
    assert widths["04-conditions"] == pytest.approx(100.0)
    assert sum(widths.values()) == pytest.approx(150.0)  # no bar for the lessons never quizzed
    ticks = view.mastery_plot.getPlotItem().getAxis("left")._tickLevels[0]
    assert ticks[-1][1] == "Your first program" and ticks[0][1] == "Project: a quiz game"

    heights = list(view.attempt_bars.opts["height"])
    assert len(heights) == 30 and heights[-1] == 3 and sum(heights) == 3  # all three today
    assert [d.attempts for d in stats.attempts_per_day] == heights


def test_no_answers_yet_says_so(qtbot, ctx):
    view = open_view(qtbot, ctx)
    assert view.pages.currentWidget() is view.empty_label
    assert view.empty_label.text().startswith("No quiz answers in this course yet.")
    assert view.mastery_bars is None and view.attempt_bars is None


def test_the_view_menu_opens_it(qtbot, ctx):
    from app.ui.main_window import MainWindow

    ctx.state.setup_done = True
    ctx.state.course_id, ctx.state.lesson_id = COURSE, "05-loops"
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.courses_ready, timeout=WAIT_MS):
            window.start()
        action = window.learning.progress_action
        assert action.text() == "Learning progress…" and action in window.view_menu.actions()
        action.trigger()
        dialog = window.learning.progress_dialog
        qtbot.waitUntil(lambda: dialog.view.stats is not None, timeout=WAIT_MS)
        assert dialog.isVisible() and dialog.view.course_id == COURSE
        dialog.close()
    finally:
        window.close()
