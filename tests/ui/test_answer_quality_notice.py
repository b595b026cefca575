"""An answer that fails the quality check gets a gentle notice with "Try again"; a good one gets none."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.core.answer_check import check_answer
from app.core.courses import CourseChunk
from app.core.inference import FinishReason
from app.services.knowledge.tutor_session import Answer
from app.ui.chat_panel import AnswerCard, ChatPanel

pytestmark = pytest.mark.gui

QUESTION = "How do I stop a loop early?"
BREAK = CourseChunk(lesson_id="05-loops", ordinal=0, titles=("Loops", "Stopping a loop early: break"),
                    anchors=("loops", "stopping-a-loop-early-break"),
                    text="The `break` statement ends the loop immediately, even if the `for` loop has items left.",
                    token_count=20, lesson_title="Loops")


def answer(text: str, *, finish_reason: FinishReason = "stop") -> Answer:
    quality = check_answer(text, question=QUESTION, passages=[BREAK.text], covered=True, finish_reason=finish_reason)
    return Answer(text, covered=True, citations=[], passages=[BREAK], finish_reason=finish_reason,
                  model_id="qwen2.5-coder-0.5b-instruct", where="on-device", backend="llama.cpp", quality=quality)


def test_a_marker_only_answer_shows_the_notice_and_try_again_regenerates(qtbot):
    card = AnswerCard(QUESTION)
    qtbot.addWidget(card)
    card.finish(answer("[1]"))  # what Qwen2.5-Coder-0.5B answered to this question
    assert not card.quality_notice.isHidden()
    assert card.quality_label.text().startswith("This answer looks incomplete: ")
    assert card.try_again_button.text() == "Try again"
    with qtbot.waitSignal(card.regenerate_clicked, timeout=1000):
        qtbot.mouseClick(card.try_again_button, Qt.MouseButton.LeftButton)


def test_try_again_asks_the_panel_to_regenerate_the_question(qtbot):
    panel = ChatPanel()
    qtbot.addWidget(panel)
    card = panel.add_card(QUESTION)
    card.finish(answer("[1][2]"))
    with qtbot.waitSignal(panel.regenerate_requested, timeout=1000) as blocker:
        card.try_again_button.click()
    assert blocker.args == [QUESTION]


def test_a_good_answer_shows_no_notice(qtbot):
    card = AnswerCard(QUESTION)
    qtbot.addWidget(card)
    card.finish(answer("Use `break` inside an `if`: when Python reaches it, the loop ends at once and the program "
                       "goes on after it [1]. Which condition would tell your loop that it is done?"))
    assert card.quality_notice.isHidden()


def test_a_stopped_or_not_covered_answer_shows_no_notice(qtbot):
    card = AnswerCard(QUESTION)
    qtbot.addWidget(card)
    card.finish(answer("[1]", finish_reason="cancelled"))
    assert card.quality_notice.isHidden()
    other = AnswerCard("What is the capital of France?")
    qtbot.addWidget(other)
    other.finish(Answer("The course doesn't cover that.", covered=False, citations=[], passages=[]))
    assert other.quality_notice.isHidden()


def test_the_notice_follows_the_language(qtbot):
    from app.core import i18n

    card = AnswerCard(QUESTION)
    qtbot.addWidget(card)
    card.finish(answer("[1]"))
    english = card.quality_label.text()
    i18n.set_catalog("vi", {"it only points at the course passages without explaining anything": "chỉ trỏ"})
    try:
        card.retranslate()
        assert "chỉ trỏ" in card.quality_label.text() and card.quality_label.text() != english
    finally:
        i18n.reset()
