"""'Give me a hint' on a lesson's exercises: one level up the ladder per click, each written for the
learner's own attempt.

The ladder (app.core.learning.hints) goes nudge → concept → worked step → solution; the panel shows
which rung a hint is on ("Hint 2 of 4 — concept") and asks before the last one, because seeing the
solution ends the exercise. The hint is written by the loaded chat model through `HintService`
(app.services.learning.hints), grounded in the lesson section that teaches what the exercise asks for,
and each one shown is kept in the learning record (`record_hint`). A ladder lasts while the app runs:
coming back to an exercise continues where it was.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.courses import Course, Lesson
from app.core.learning.hints import MAX_LEVEL, SOLUTION_LEVEL, Exercise, HintLadder, exercises_in, teaching_section
from app.services.learning.hints import HintService, record_hint
from app.ui import confirm
from app.ui.app_context import AppContext
from app.ui.error_dialog import show_error
from app.ui.i18n import Retranslatable, tr
from app.ui.learning_ops import DbBound, chat_engine
from app.ui.markdown_html import render_markdown
from app.ui.op import Op


def level_text(hint: Any) -> str:
    return tr("Hint {level} of {top} — {label}").format(level=hint.level, top=MAX_LEVEL, label=hint.label)


class HintPanel(Retranslatable, QWidget):
    section_requested = Signal(str, str)  # lesson_id, anchor: the section a hint is grounded in
    hint_shown = Signal(object)           # the Hint just shown (and recorded)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.course: Course | None = None
        self.lesson: Lesson | None = None
        self.exercises: list[Exercise] = []
        self.ladders: dict[str, HintLadder] = {}
        self.shown: dict[str, list[Any]] = {}  # exercise id -> the hints shown for it, in order
        self.op: Op | None = None
        self._notice = ""

        self.picker = QComboBox(self)
        self.picker.setObjectName("hintExercise")
        self.picker.currentIndexChanged.connect(lambda _i: self._exercise_changed())
        self.exercise_label = QLabel(self)
        self.exercise_label.setWordWrap(True)
        self.attempt = QPlainTextEdit(self)
        self.attempt.setObjectName("hintAttempt")
        self.attempt.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.attempt.setMaximumHeight(120)
        self.hint_button = QPushButton(self)
        self.hint_button.setObjectName("hintButton")
        self.hint_button.clicked.connect(self.give_hint)
        self.stop_button = QPushButton(self)
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        self.status = QLabel(self)
        self.status.setObjectName("hintStatus")
        self.status.setWordWrap(True)
        self.level_label = QLabel(self)
        self.level_label.setObjectName("hintLevel")
        self.hint_view = QTextBrowser(self)
        self.hint_view.setObjectName("hintText")
        self.hint_view.setOpenLinks(False)
        self.hint_view.anchorClicked.connect(lambda url: self._open_section(url.fragment() or url.path()))
        buttons = QHBoxLayout()
        buttons.addWidget(self.hint_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.level_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.picker)
        layout.addWidget(self.exercise_label)
        layout.addWidget(self.attempt)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.hint_view, 1)
        self.retranslate()
        self._update()

    def retranslate(self) -> None:
        self.attempt.setPlaceholderText(tr("Paste your attempt here: your code, or what you tried…"))
        self.stop_button.setText(tr("Stop"))
        for index, exercise in enumerate(self.exercises):
            self.picker.setItemText(index, tr("Exercise {n}").format(n=exercise.number))
        self._update()

    # -- the lesson's exercises ----------------------------------------------------------------------

    def show_lesson(self, course: Course, lesson: Lesson) -> None:
        if self.course is not None and self.lesson is not None and (course.id, lesson.id) == (
                self.course.id, self.lesson.id):
            return
        self._drop_op()
        self.course, self.lesson = course, lesson
        self.exercises = exercises_in(lesson, course_id=course.id)
        blocked = self.picker.blockSignals(True)
        self.picker.clear()
        for exercise in self.exercises:
            self.picker.addItem(tr("Exercise {n}").format(n=exercise.number), exercise.id)
        self.picker.blockSignals(blocked)
        self._exercise_changed()

    @property
    def exercise(self) -> Exercise | None:
        index = self.picker.currentIndex()
        return self.exercises[index] if 0 <= index < len(self.exercises) else None

    def _exercise_changed(self) -> None:
        self._notice = ""
        exercise = self.exercise
        self.exercise_label.setText(exercise.text if exercise is not None else
                                    tr("This lesson has no exercises to ask a hint for."))
        self._show_hints()
        self._update()

    def _update(self) -> None:
        exercise = self.exercise
        ladder = self.ladders.get(exercise.id) if exercise is not None else None
        level = ladder.level if ladder is not None else 0
        busy = self.op is not None
        for widget in (self.picker, self.attempt):
            widget.setVisible(bool(self.exercises))
        self.picker.setEnabled(not busy)
        self.hint_button.setVisible(bool(self.exercises))
        self.hint_button.setEnabled(exercise is not None and not busy and level < MAX_LEVEL)
        self.hint_button.setText(tr("Give me a hint") if level == 0 else tr("Give me a bigger hint"))
        self.stop_button.setVisible(busy)
        if not busy:
            if exercise is not None and level >= MAX_LEVEL:
                self.status.setText(tr("That was the last step: the solution."))
            else:
                self.status.setText(self._notice)
        shown = self.shown.get(exercise.id, []) if exercise is not None else []
        self.level_label.setText(level_text(shown[-1]) if shown else "")

    def _show_hints(self) -> None:
        """Every hint shown for this exercise, newest first, each under its level."""
        exercise = self.exercise
        hints = self.shown.get(exercise.id, []) if exercise is not None else []
        parts = []
        for hint in reversed(hints):
            parts.append(f"<h3>{_escape(level_text(hint))}</h3>{render_markdown(hint.text, anchors=False)}")
        if hints and self._section is not None:
            link = tr("From: {section}").format(section=self._section[1])
            parts.append(f'<p><a href="#{_escape(self._section[0])}">{_escape(link)}</a></p>')
        self.hint_view.setHtml("".join(parts))

    @property
    def _section(self) -> tuple[str, str, str] | None:
        """(anchor, title, text) of the section that teaches what the current exercise asks for."""
        exercise = self.exercise
        if exercise is None or self.lesson is None:
            return None
        section = teaching_section(self.lesson, exercise)
        if section is None:
            return None
        return section.anchor, section.titles[-1] if section.titles else self.lesson.title, section.text

    # -- asking ----------------------------------------------------------------------------------------

    def give_hint(self) -> None:
        exercise, course, lesson = self.exercise, self.course, self.lesson
        if exercise is None or course is None or lesson is None or self.op is not None:
            return
        engine = chat_engine(self.ctx)
        if engine is None:
            self._notice = tr("Hints are written by the chat model: choose one in the toolbar first.")
            self._update()
            return
        ladder = self.ladders.get(exercise.id, HintLadder(exercise.id))
        if ladder.next_level == SOLUTION_LEVEL and not confirm.ask(
                self, tr("Show the solution?"),
                tr("The last hint is the whole solution, explained. Trying once more with the hints so far "
                   "teaches more."), tr("Show the solution")):
            return
        anchor, title, text = self._section or (exercise.section, lesson.title, "")
        attempt = self.attempt.toPlainText()
        service = HintService(engine, language=course.manifest.language)
        services = DbBound(self.ctx)

        def write(handle: Any) -> tuple[Any, HintLadder]:
            hint, after = service.hint(ladder, exercise.text, section_text=text, section_title=title,
                                       attempt=attempt, cancel=handle.token)
            record_hint(services.record, course.id, lesson.id, exercise.id, anchor, attempt, hint)
            return hint, after

        op = Op(self, write)
        self.op = op
        self.status.setText(tr("Writing hint {level} of {top}…").format(level=ladder.next_level, top=MAX_LEVEL))
        op.success(lambda result: self._written(op, exercise, *result))
        op.failure(lambda exc: self._failed(op, exc)).cancelled(lambda: self._cancelled(op))
        op.run()
        self._update()

    def stop(self) -> None:
        if self.op is not None:
            self.op.cancel()
            self.status.setText(tr("Stopping…"))

    def _drop_op(self) -> None:
        if self.op is not None:
            self.op.cancel()
            self.op = None

    def _finish(self, op: Op) -> bool:
        if op is not self.op:
            return False
        self.op = None
        self._update()
        return True

    def _written(self, op: Op, exercise: Exercise, hint: Any, ladder: HintLadder) -> None:
        if not self._finish(op):
            return
        if hint.cancelled:
            self._notice = tr("Stopped.")
            self._update()
            return
        self._notice = ""
        self.ladders[exercise.id] = ladder
        self.shown.setdefault(exercise.id, []).append(hint)
        self._show_hints()
        self._update()
        self.hint_shown.emit(hint)

    def _cancelled(self, op: Op) -> None:
        if self._finish(op):
            self._notice = tr("Stopped.")
            self._update()

    def _failed(self, op: Op, exc: Exception) -> None:
        if self._finish(op):
            show_error(self, exc)

    def _open_section(self, anchor: str) -> None:
        if self.lesson is not None and anchor:
            self.section_requested.emit(self.lesson.id, anchor.lstrip("#"))


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
