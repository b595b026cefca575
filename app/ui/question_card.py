"""One quiz question on screen, answered and then explained: shared by the quiz and the review views.

A choice question shows its options as radio buttons, a short one a text box, an output one its code
(as a code block) over a multi-line box for what it prints. After Submit the card shows the verdict,
the one-line reason the grader gave, the right answer when it was missed, why it is right, and a
"From: <section>" link that asks whoever holds the lesson reader to show that section.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.core.learning.quiz import QuizQuestion
from app.ui.i18n import Retranslatable, tr

RIGHT_COLOUR, PARTLY_COLOUR, WRONG_COLOUR = "#2e9e5b", "#e0892b", "#d93025"


def section_link(feedback_or_question: Any) -> str:
    """The "From: <section>" link; its href is the section's anchor."""
    title = feedback_or_question.section_title or feedback_or_question.section
    text = tr("From: {section}").format(section=title)
    return f'<a href="{_escape(feedback_or_question.section)}">{_escape(text)}</a>'


def verdict_text(feedback: Any) -> tuple[str, str]:
    """(what the verdict says, its colour)."""
    if feedback.correct:
        return tr("✓ Right"), RIGHT_COLOUR
    if feedback.score > 0:
        return tr("◐ Partly right"), PARTLY_COLOUR
    return tr("✗ Not quite"), WRONG_COLOUR


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


class QuestionCard(Retranslatable, QWidget):
    submitted = Signal(str)        # the learner's answer, as the grader reads it ("2" = the second option)
    next_requested = Signal()
    section_requested = Signal(str, str)  # lesson_id, anchor: "From: <section>" was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.question: QuizQuestion | None = None
        self.feedback: Any = None
        self._number, self._total, self._last = 0, 0, False
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        self.header = QLabel(self)
        self.header.setObjectName("questionHeader")
        self.header.setEnabled(False)  # the muted palette colour
        self.prompt = QLabel(self)
        self.prompt.setObjectName("questionPrompt")
        self.prompt.setWordWrap(True)
        self.prompt.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.prompt.font()
        font.setBold(True)
        self.prompt.setFont(font)
        self.code = QPlainTextEdit(self)
        self.code.setObjectName("questionCode")
        self.code.setReadOnly(True)
        self.code.setFont(mono)
        self.code.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.options_box = QWidget(self)
        self.options_layout = QVBoxLayout(self.options_box)
        self.options_layout.setContentsMargins(0, 0, 0, 0)
        self.options = QButtonGroup(self)
        self.options.buttonToggled.connect(lambda *_: self._update_buttons())
        self.answer_box = QPlainTextEdit(self)
        self.answer_box.setObjectName("questionAnswer")
        self.answer_box.textChanged.connect(self._update_buttons)

        self.feedback_frame = QFrame(self)
        self.feedback_frame.setObjectName("questionFeedback")
        self.feedback_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.verdict = QLabel(self.feedback_frame)
        self.verdict.setObjectName("feedbackVerdict")
        self.reason = QLabel(self.feedback_frame)
        self.reason.setObjectName("feedbackReason")
        self.explanation = QLabel(self.feedback_frame)
        self.explanation.setObjectName("feedbackExplanation")
        for label in (self.reason, self.explanation):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source = QLabel(self.feedback_frame)
        self.source.setObjectName("feedbackSource")
        self.source.setTextFormat(Qt.TextFormat.RichText)
        self.source.linkActivated.connect(self._open_section)
        box = QVBoxLayout(self.feedback_frame)
        for label in (self.verdict, self.reason, self.explanation, self.source):
            box.addWidget(label)

        self.submit_button = QPushButton(self)
        self.submit_button.setObjectName("questionSubmit")
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self._submit)
        self.next_button = QPushButton(self)
        self.next_button.setObjectName("questionNext")
        self.next_button.clicked.connect(self.next_requested.emit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.submit_button)
        buttons.addWidget(self.next_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for part in (self.header, self.prompt, self.code, self.options_box, self.answer_box):
            layout.addWidget(part)
        layout.addWidget(self.feedback_frame)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self._busy = False
        self.retranslate()
        self.clear()

    def retranslate(self) -> None:
        self.submit_button.setText(tr("Checking…") if self._busy else tr("Submit"))
        self.next_button.setText(tr("See the results") if self._last else tr("Next"))
        if self.question is not None:
            self._show_header()
            self.answer_box.setPlaceholderText(tr("Type exactly what it prints…") if self.question.kind == "output"
                                               else tr("Your answer…"))
        if self.feedback is not None:
            self.show_feedback(self.feedback, last=self._last)

    # -- the question -------------------------------------------------------------------------------

    def clear(self) -> None:
        self.question, self.feedback = None, None
        self.feedback_frame.hide()
        self.next_button.hide()

    def show_question(self, question: QuizQuestion, *, number: int, total: int) -> None:
        self.question, self.feedback = question, None
        self._number, self._total, self._last = number, total, number >= total
        self._busy = False
        self._show_header()
        self.prompt.setText(question.prompt)
        self.code.setVisible(question.kind == "output" and bool(question.code))
        self.code.setPlainText(question.code)
        lines = max(1, question.code.count("\n") + 1)
        self.code.setFixedHeight(min(16, lines) * self.code.fontMetrics().lineSpacing() + 16)
        for button in self.options.buttons():
            self.options.removeButton(button)
            button.deleteLater()
        for index, option in enumerate(question.options if question.kind == "choice" else ()):
            radio = QRadioButton(option, self.options_box)
            self.options.addButton(radio, index)
            self.options_layout.addWidget(radio)
        self.options_box.setVisible(question.kind == "choice")
        self.answer_box.setVisible(question.kind != "choice")
        self.answer_box.clear()
        self.answer_box.setReadOnly(False)
        mono = question.kind == "output"
        self.answer_box.setFont(self.code.font() if mono else self.font())
        self.answer_box.setMaximumHeight(8 * self.code.fontMetrics().lineSpacing() + 16 if mono else 90)
        self.feedback_frame.hide()
        self.next_button.hide()
        self.submit_button.show()
        self.retranslate()
        self._update_buttons()

    def _show_header(self) -> None:
        if self.question is None:
            return
        where = self.question.section_title or self.question.section
        self.header.setText(tr("Question {n} of {total} · {section}").format(n=self._number, total=self._total,
                                                                               section=where))

    def answer_text(self) -> str:
        """What the grader gets: a choice as its 1-based number, typed text as typed."""
        if self.question is None:
            return ""
        if self.question.kind == "choice":
            chosen = self.options.checkedId()
            return str(chosen + 1) if chosen >= 0 else ""
        return self.answer_box.toPlainText()

    def set_busy(self, busy: bool) -> None:
        """While the answer is graded: nothing can be changed or sent twice."""
        self._busy = busy
        self.answer_box.setReadOnly(busy or self.feedback is not None)
        if self.feedback is None:
            for button in self.options.buttons():
                button.setEnabled(not busy)
        self.retranslate()
        self._update_buttons()

    def _update_buttons(self) -> None:
        answered = bool(self.answer_text().strip())
        self.submit_button.setEnabled(self.question is not None and self.feedback is None and not self._busy
                                      and answered)

    def _submit(self) -> None:
        if self.submit_button.isEnabled():
            self.submitted.emit(self.answer_text())

    # -- the feedback -------------------------------------------------------------------------------

    def show_feedback(self, feedback: Any, *, last: bool) -> None:
        self.feedback, self._last, self._busy = feedback, last, False
        text, colour = verdict_text(feedback)
        self.verdict.setText(f'<b style="color:{colour}">{_escape(text)}</b>')
        self.reason.setText(feedback.reason)
        explanation = feedback.explanation.strip()
        missed = not feedback.correct and self.question is not None and self.question.kind == "short"
        parts = []
        if missed and feedback.reference and feedback.reference not in feedback.reason:
            parts.append(tr("A good answer: {reference}").format(reference=feedback.reference))
        if explanation:
            parts.append(tr("Why: {explanation}").format(explanation=explanation))
        self.explanation.setText("\n".join(parts))
        self.explanation.setVisible(bool(parts))
        self.source.setText(section_link(feedback))
        if self.question is not None and self.question.kind == "choice":
            self._mark_options(self.question.answer)
        self.answer_box.setReadOnly(True)
        self.feedback_frame.show()
        self.submit_button.hide()
        self.next_button.setText(tr("See the results") if last else tr("Next"))
        self.next_button.show()
        self.next_button.setFocus()
        self.submit_button.setText(tr("Submit"))

    def _mark_options(self, right: int | None) -> None:
        """Answered: the options stay readable (not greyed out) but fixed; the right one is ticked and green,
        a wrong choice red."""
        chosen = self.options.checkedId()
        for button in self.options.buttons():
            index = self.options.id(button)
            button.setEnabled(True)  # greyed while it was graded
            button.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            if index == right:
                if not button.text().startswith("✓ "):
                    button.setText("✓ " + button.text())
                button.setStyleSheet(f"color: {RIGHT_COLOUR}; font-weight: bold;")
            elif index == chosen:
                button.setStyleSheet(f"color: {WRONG_COLOUR};")

    def _open_section(self, anchor: str) -> None:
        lesson = self.feedback.lesson_id if self.feedback is not None else (
            self.question.lesson_id if self.question is not None else "")
        if lesson and anchor:
            self.section_requested.emit(lesson, anchor)
