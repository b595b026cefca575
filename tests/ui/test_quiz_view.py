"""The quiz under the lesson (offscreen Qt, the real learning record in the test's SQLite database).

Questions are made here the way a course author writes them, and `quiz_for` is replaced at the op
boundary where the test is about the view (asking, feedback, the summary, Cancel); answering always goes
through the real `answer_question`, so every Submit must land in the learning record. One test runs
the real `quiz_for` without a model, one writes questions with SmolLM2 and stops it, and one grades a
short answer with it.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QRadioButton

from app.core.learning.events import QUIZ_ATTEMPT
from app.core.learning.quiz import QuizQuestion
from app.services.learning.use_cases import QuizBatch, QuizProgress
from app.services.settings_store import load_settings, paths_for
from app.ui import quiz_view
from app.ui.app_context import AppContext
from app.ui.quiz_view import QuizView

COURSE, LESSON = "python-from-zero", "05-loops"
WAIT_MS = 20_000

CHOICE = QuizQuestion(course_id=COURSE, lesson_id=LESSON, section="looping-over-a-range",
                      section_title="Looping over a range", kind="choice", prompt="Which numbers does range(5) give?",
                      options=("1 to 5", "0 to 4", "0 to 5"), answer=1, reference="0 to 4",
                      explanation="range(5) starts at 0 and stops before 5.", origin="authored")
OUTPUT = QuizQuestion(course_id=COURSE, lesson_id=LESSON, section="adding-things-up-in-a-loop",
                      section_title="Adding things up in a loop", kind="output", prompt="What does this code print?",
                      code="total = 0\nfor n in range(1, 4):\n    total += n\nprint(total)", reference="6",
                      origin="authored")
SHORT = QuizQuestion(course_id=COURSE, lesson_id=LESSON, section="counting-with-for-loops",
                     section_title="Counting with for loops", kind="short",
                     prompt="What is the variable called that a for loop stores each item in?",
                     reference="the loop variable", origin="authored")


@pytest.fixture
def ctx():
    settings = load_settings()
    context = AppContext(settings, paths_for(settings))
    yield context
    context.shutdown()


@pytest.fixture
def view(qtbot, ctx):
    widget = QuizView(ctx)
    qtbot.addWidget(widget)
    widget.show()
    widget.show_lesson(COURSE, LESSON)
    return widget


def attempts(ctx):
    return ctx.db.submit(lambda: ctx.services.record.events(kind=QUIZ_ATTEMPT)).result()


def scripted_quiz(questions, calls):
    """`quiz_for` as the view calls it, handing back `questions` after one progress report."""
    def fake(services, course_id, *, lesson_id, count, engine, progress, cancel):
        calls.append({"thread": threading.current_thread().name, "course": course_id, "lesson": lesson_id,
                      "count": count, "engine": engine})
        progress(QuizProgress(0, len(questions), questions[0].section_title))
        return QuizBatch(course_id=course_id, lesson_id=lesson_id, questions=list(questions))
    return fake


def answer(view, qtbot, text=None, option=None):
    card = view.card
    if option is not None:
        card.options.button(option).click()
    else:
        card.answer_box.setPlainText(text)
    assert card.submit_button.isEnabled()
    with qtbot.waitSignal(view.answered, timeout=WAIT_MS) as got:
        card.submit_button.click()
    return got.args[0]


def test_a_quiz_asks_each_question_records_each_answer_and_sums_up(qtbot, ctx, view, monkeypatch):
    calls = []
    monkeypatch.setattr(quiz_view, "quiz_for", scripted_quiz([CHOICE, OUTPUT, SHORT], calls))
    assert view.start_button.text() == "Quiz me on this lesson"
    with qtbot.waitSignal(view.batch_ready, timeout=WAIT_MS):
        view.start_button.click()
    assert calls[0]["course"] == COURSE and calls[0]["lesson"] == LESSON and calls[0]["count"] == 5
    assert calls[0]["thread"] != threading.main_thread().name  # written off the GUI thread
    assert calls[0]["engine"] is None  # no model loaded

    card = view.card
    assert view.pages.currentWidget() is card
    assert card.header.text() == "Question 1 of 3 · Looping over a range"
    assert card.prompt.text() == CHOICE.prompt
    radios = card.options_box.findChildren(QRadioButton)
    assert [r.text() for r in radios] == list(CHOICE.options) and not card.answer_box.isVisible()
    assert not card.submit_button.isEnabled()  # nothing chosen yet

    wrong = answer(view, qtbot, option=0)
    assert not wrong.correct
    assert card.verdict.text().endswith("✗ Not quite</b>")
    assert card.reason.text() == wrong.reason and '"0 to 4"' in wrong.reason  # the grader's line, with the key
    assert card.explanation.text() == "Why: range(5) starts at 0 and stops before 5."
    assert card.source.text() == '<a href="looping-over-a-range">From: Looping over a range</a>'
    assert card.options.button(1).text() == "✓ 0 to 4"
    assert all(b.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents) for b in card.options.buttons())
    recorded = attempts(ctx)
    assert len(recorded) == 1
    assert recorded[0].lesson_id == LESSON and recorded[0].data["question_id"] == CHOICE.id
    assert recorded[0].data["answer"] == CHOICE.options[0] and recorded[0].data["correct"] is False
    assert recorded[0].data["source"] == "quiz"
    with qtbot.waitSignal(view.section_requested) as link:
        card.source.linkActivated.emit("looping-over-a-range")
    assert link.args == [LESSON, "looping-over-a-range"]

    card.next_button.click()
    assert card.header.text() == "Question 2 of 3 · Adding things up in a loop"
    assert card.code.isVisible() and card.code.toPlainText() == OUTPUT.code
    assert card.answer_box.isVisible() and card.answer_box.placeholderText() == "Type exactly what it prints…"
    right = answer(view, qtbot, text="6\n")
    assert right.correct and card.verdict.text().endswith("✓ Right</b>")
    assert card.reason.text() == right.reason and right.by == "exact"

    card.next_button.click()
    assert card.header.text() == "Question 3 of 3 · Counting with for loops"
    short = answer(view, qtbot, text="It is the loop variable")
    assert short.correct  # without a model, by the reference's key words
    assert card.next_button.text() == "See the results"
    assert [e.data["correct"] for e in attempts(ctx)] == [False, True, True]

    with qtbot.waitSignal(view.quiz_finished) as done:
        card.next_button.click()
    assert len(done.args[0]) == 3
    assert view.pages.currentWidget() is view.summary_page
    assert view.score_label.text() == "You got 2 of 3 right."
    assert 'href="looping-over-a-range"' in view.revisit.text() and "counting" not in view.revisit.text()


def test_cancel_while_questions_are_written_is_not_an_error(qtbot, ctx, view, monkeypatch):
    started = threading.Event()

    def slow(services, course_id, *, lesson_id, count, engine, progress, cancel):
        progress(QuizProgress(0, count, "Counting with for loops"))
        started.set()
        while not cancel.cancelled:  # the model writing, token by token
            time.sleep(0.01)
        return QuizBatch(course_id=course_id, lesson_id=lesson_id, questions=[])

    monkeypatch.setattr(quiz_view, "quiz_for", slow)
    view.start_button.click()
    assert view.pages.currentWidget() is view.writing_page and not view.start_button.isEnabled()
    qtbot.waitUntil(lambda: view.writing_label.text() ==
                    "Writing question 1 of 5 from “Counting with for loops”…", timeout=WAIT_MS)
    assert view.progress_bar.maximum() == 5
    with qtbot.waitSignal(view.batch_ready, timeout=WAIT_MS):
        view.cancel_button.click()
    assert view.pages.currentWidget() is view.start_page
    assert view.notice.text() == "Stopped." and view.start_button.isEnabled()
    assert attempts(ctx) == []


def test_questions_written_before_cancel_are_still_asked(qtbot, view, monkeypatch):
    def partial(services, course_id, *, lesson_id, count, engine, progress, cancel):
        while not cancel.cancelled:
            time.sleep(0.01)
        return QuizBatch(course_id=course_id, lesson_id=lesson_id, questions=[CHOICE])

    monkeypatch.setattr(quiz_view, "quiz_for", partial)
    view.start_button.click()
    with qtbot.waitSignal(view.batch_ready, timeout=WAIT_MS):
        view.cancel()
    assert view.pages.currentWidget() is view.card and view.card.header.text().startswith("Question 1 of 1")
    assert view.notice.text() == "Stopped. Questions ready so far: 1."


def test_without_a_model_the_real_quiz_says_what_to_do(qtbot, view):
    """python-from-zero has no questions of its own: writing them needs a model, and the panel says so."""
    qtbot.waitUntil(lambda: view.start_button.isEnabled())
    view.start_button.click()
    qtbot.waitUntil(lambda: view.pages.currentWidget() is view.start_page and bool(view.notice.text()),
                    timeout=WAIT_MS)
    assert view.notice.text().startswith("Writing quiz questions needs a chat model.")
    assert view.start_button.isEnabled()


def test_another_lesson_drops_the_running_quiz(qtbot, view, monkeypatch):
    release = threading.Event()

    def waiting(services, course_id, *, lesson_id, count, engine, progress, cancel):
        release.wait(10)
        return QuizBatch(course_id=course_id, lesson_id=lesson_id, questions=[CHOICE])

    monkeypatch.setattr(quiz_view, "quiz_for", waiting)
    shown = []
    view.batch_ready.connect(shown.append)
    view.start_button.click()
    view.show_lesson(COURSE, "04-conditions")
    assert view.pages.currentWidget() is view.start_page and view.start_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: not quiz_view.Op._running, timeout=WAIT_MS)
    assert shown == [] and view.pages.currentWidget() is view.start_page  # the old lesson's questions: dropped


def test_the_lesson_tab_and_its_section_link_in_the_window(qtbot, ctx, monkeypatch):
    from app.ui.main_window import MainWindow

    ctx.state.setup_done = True
    ctx.state.course_id, ctx.state.lesson_id = COURSE, LESSON
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.courses_ready, timeout=WAIT_MS):
            window.start()
        tabs = window.learning.tabs
        assert [tabs.tabText(i) for i in range(tabs.count())] == ["Notes", "Quiz", "Hints"]
        tabs.setCurrentWidget(window.learning.quiz)
        quiz = window.learning.quiz
        assert quiz.lesson_id == LESSON
        monkeypatch.setattr(quiz_view, "quiz_for", scripted_quiz([CHOICE], []))
        with qtbot.waitSignal(quiz.batch_ready, timeout=WAIT_MS):
            quiz.start_button.click()
        answer(quiz, qtbot, option=1)
        window.reader.browser.verticalScrollBar().setValue(0)
        quiz.card.source.linkActivated.emit(CHOICE.section)
        heading = window.reader._anchor_blocks[CHOICE.section]
        assert [s.cursor.block().position() for s in window.reader.browser.extraSelections()] == [heading]
        assert window.reader.browser.verticalScrollBar().value() > 0
    finally:
        window.close()


# -- with a real model ----------------------------------------------------------------------------


@pytest.fixture
def smollm2_ctx(qtbot, ctx, smollm2_gguf, capsys):
    from app.cli import main

    assert main(["models", "import", str(smollm2_gguf)]) == 0
    capsys.readouterr()
    installed = ctx.db.submit(lambda: ctx.services.chat_model()).result()
    ctx.load_chat(installed).result(timeout=120)
    return ctx


@pytest.mark.slow
def test_smollm2_writes_questions_with_progress_and_stops_on_cancel(qtbot, smollm2_ctx, view):
    assert quiz_view.chat_engine(smollm2_ctx) is smollm2_ctx.host
    view.start_button.click()
    titles = {"Loops", "Counting with for loops", "Looping over a range", "Adding things up in a loop"}
    qtbot.waitUntil(lambda: any(f"“{t}”" in view.writing_label.text() for t in titles), timeout=60_000)
    view.cancel_button.click()
    qtbot.waitUntil(lambda: view.op is None, timeout=60_000)  # stopped at the model's next token
    assert view.notice.text() == "Stopped." or view.notice.text().startswith("Stopped. Questions ready so far")


@pytest.mark.slow
def test_smollm2_grades_a_short_answer_and_it_is_recorded(qtbot, smollm2_ctx, view):
    view.show_batch(QuizBatch(course_id=COURSE, lesson_id=LESSON, questions=[SHORT]))
    feedback = answer(view, qtbot, text="The variable that holds each item in turn")
    assert feedback.reason and view.card.reason.text() == feedback.reason
    recorded = attempts(smollm2_ctx)
    assert len(recorded) == 1 and recorded[0].data["answer"] == "The variable that holds each item in turn"
    assert recorded[0].data["score"] == feedback.score
