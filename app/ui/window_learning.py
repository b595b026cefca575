"""The main window's learning-loop parts, kept out of main_window.py: the Notes / Quiz / Hints tabs under
the lesson, the "Review today (N)" action with the number due, and the learning-progress window.

The window builds one `WindowLearning` before its menus, places `tabs` under the lesson reader, adds
`review_action` and `progress_action` to its toolbar and View menu, calls `show_lesson()` when a lesson
opens, `start()` when it starts and `retranslate()` with its own texts. The due count is re-read after
every answer, after a sync round (reviews from another device) and every few minutes (questions come
due as time passes).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QTabWidget

from app.ui.hint_panel import HintPanel
from app.ui.i18n import tr
from app.ui.op import Op
from app.ui.quiz_view import QuizView

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

DUE_REFRESH_MS = 5 * 60 * 1000


class WindowLearning(QObject):
    due_counted = Signal(int)  # the number of reviews due now, once shown on the action

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.due: int | None = None
        self.review_dialog: Any = None
        self.progress_dialog: Any = None
        self.quiz = QuizView(window.ctx, window)
        self.hints = HintPanel(window.ctx, window)
        self.tabs = QTabWidget(window)
        self.tabs.setObjectName("lessonTabs")
        for widget in (window.notes, self.quiz, self.hints):
            self.tabs.addTab(widget, "")
        self.review_action = QAction(window)
        self.review_action.setObjectName("reviewTodayAction")
        self.review_action.triggered.connect(self.open_review)
        self.progress_action = QAction(window)
        self.progress_action.triggered.connect(self.open_progress)
        self.quiz.section_requested.connect(window.open_lesson_at)
        self.hints.section_requested.connect(window.open_lesson_at)
        self.quiz.answered.connect(lambda _feedback: self.refresh_due())
        self._timer = QTimer(self)
        self._timer.setInterval(DUE_REFRESH_MS)
        self._timer.timeout.connect(self.refresh_due)

    def start(self) -> None:
        self.window.sync_bridge.round_finished.connect(self.refresh_due)
        self._timer.start()
        self.refresh_due()

    def retranslate(self) -> None:
        for index, text in enumerate((tr("Notes"), tr("Quiz"), tr("Hints"))):
            self.tabs.setTabText(index, text)
        self.progress_action.setText(tr("Learning progress…"))
        self._show_due()

    def show_lesson(self, course_id: str, lesson_id: str) -> None:
        self.quiz.show_lesson(course_id, lesson_id)
        course = self.window.courses.get(course_id)
        lesson = course.lesson(lesson_id) if course is not None else None
        if course is not None and lesson is not None:
            self.hints.show_lesson(course, lesson)

    # -- the review queue ----------------------------------------------------------------------------

    def refresh_due(self) -> None:
        """Count what is due now on the database worker and show it on the action."""
        if self.window._closing or self.window.ctx.closed:
            self._timer.stop()
            return
        from app.ui.review_view import read_queue

        services = self.window.ctx.services

        def counted(snapshot: Any) -> None:
            self.due = len(snapshot.items)
            self._show_due()
            self.due_counted.emit(self.due)

        def failed(exc: Exception) -> None:  # the count is a convenience: no dialog every few minutes
            log.warning("could not count the due reviews: %s", exc)

        Op(self, lambda: read_queue(services.record)).success(counted).failure(failed).run(executor=self.window.ctx.db)

    def _show_due(self) -> None:
        text = tr("Review today") if not self.due else tr("Review today ({n})").format(n=self.due)
        self.review_action.setText(text)
        self.review_action.setToolTip(tr("{n} quiz questions are due for review").format(n=self.due or 0))

    def open_review(self) -> None:
        """The review window (one at a time; asking again brings it forward, re-read)."""
        from app.ui.review_view import ReviewDialog

        if self.review_dialog is not None and self.review_dialog.isVisible():
            self.review_dialog.view.reload()
            self.review_dialog.raise_()
            return
        dialog = ReviewDialog(self.window.ctx, self.window)
        dialog.view.section_requested.connect(self.open_section)
        dialog.view.due_changed.connect(self._due_changed)
        self.review_dialog = dialog
        dialog.show()

    def _due_changed(self, remaining: int) -> None:
        self.due = remaining
        self._show_due()

    def open_section(self, course_id: str, lesson_id: str, anchor: str) -> None:
        """A review's "From:" link: that course's lesson, at that section."""
        window = self.window
        if (window.reader.current_course_id, window.reader.current_lesson_id) != (course_id, lesson_id):
            window.sidebar.select(course_id, lesson_id)
        if anchor:
            window.reader.scroll_to_section(anchor)

    # -- progress ------------------------------------------------------------------------------------

    def open_progress(self) -> None:
        from app.ui.progress_view import LearningProgressDialog

        if self.progress_dialog is not None and self.progress_dialog.isVisible():
            self.progress_dialog.view.reload()
            self.progress_dialog.raise_()
            return
        course_id = self.window.reader.current_course_id or self.window.ctx.state.course_id
        self.progress_dialog = LearningProgressDialog(self.window.ctx, self.window.courses, course_id=course_id,
                                                      parent=self.window)
        self.progress_dialog.show()
