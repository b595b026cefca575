"""The quiz under the lesson: "Quiz me on this lesson", then one checked question at a time, then a summary.

The questions come from `quiz_for` (app.services.learning.use_cases): the course's own first, then ones
the loaded model writes from the lesson's sections and checks (seconds each). While they are written the
panel shows which section is being asked about, with Cancel; questions already written when Cancel is
pressed are still asked. Each answer goes through `answer_question`, which grades it and keeps it in the
learning record (with the review it schedules), so the review queue and the statistics see it at once.
Both run on the thread pool with the record and the library on the database worker
(app.ui.learning_ops says why).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import LanternError
from app.core.learning.quiz import QuizQuestion
from app.services.learning.use_cases import QuizBatch, QuizProgress, quiz_for
from app.ui.app_context import AppContext
from app.ui.error_dialog import show_error
from app.ui.i18n import Retranslatable, tr
from app.ui.learning_ops import DbBound, answer_call, chat_engine
from app.ui.op import Op
from app.ui.question_card import QuestionCard, section_link

QUIZ_LENGTH = 5
POLL_MS = 100


class QuizView(Retranslatable, QWidget):
    section_requested = Signal(str, str)  # lesson_id, anchor: a "From: <section>" link was clicked
    batch_ready = Signal(object)         # the QuizBatch now being asked (or found empty)
    answered = Signal(object)            # the Feedback of an answer just recorded
    quiz_finished = Signal(object)       # the list of Feedback, when the summary shows

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, count: int = QUIZ_LENGTH) -> None:
        super().__init__(parent)
        self.ctx, self.count = ctx, count
        self.course_id: str | None = None
        self.lesson_id: str | None = None
        self.questions: list[QuizQuestion] = []
        self.feedbacks: list[Any] = []
        self.index = 0
        self.op: Op | None = None
        self._progress: list[QuizProgress] = []  # the newest report from the worker (a list append is atomic)
        self._notice = ""

        self.pages = QStackedWidget(self)
        # start
        self.start_page = QWidget(self.pages)
        self.intro = QLabel(self.start_page)
        self.intro.setWordWrap(True)
        self.notice = QLabel(self.start_page)
        self.notice.setObjectName("quizNotice")
        self.notice.setWordWrap(True)
        self.start_button = QPushButton(self.start_page)
        self.start_button.setObjectName("quizStart")
        self.start_button.clicked.connect(self.start_quiz)
        start = QVBoxLayout(self.start_page)
        start.addWidget(self.intro)
        start.addWidget(self.notice)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        row.addStretch(1)
        start.addLayout(row)
        start.addStretch(1)
        # writing
        self.writing_page = QWidget(self.pages)
        self.writing_label = QLabel(self.writing_page)
        self.writing_label.setObjectName("quizWriting")
        self.writing_label.setWordWrap(True)
        self.progress_bar = QProgressBar(self.writing_page)
        self.cancel_button = QPushButton(self.writing_page)
        self.cancel_button.setObjectName("quizCancel")
        self.cancel_button.clicked.connect(self.cancel)
        writing = QVBoxLayout(self.writing_page)
        writing.addWidget(self.writing_label)
        bar = QHBoxLayout()
        bar.addWidget(self.progress_bar, 1)
        bar.addWidget(self.cancel_button)
        writing.addLayout(bar)
        writing.addStretch(1)
        # asking
        self.card = QuestionCard(self.pages)
        self.card.submitted.connect(self.submit)
        self.card.next_requested.connect(self.next_question)
        self.card.section_requested.connect(self.section_requested.emit)
        # summary
        self.summary_page = QWidget(self.pages)
        self.score_label = QLabel(self.summary_page)
        self.score_label.setObjectName("quizScore")
        self.revisit = QLabel(self.summary_page)
        self.revisit.setObjectName("quizRevisit")
        self.revisit.setWordWrap(True)
        self.revisit.linkActivated.connect(self._open_revisit)
        self.again_button = QPushButton(self.summary_page)
        self.again_button.clicked.connect(self.start_quiz)
        summary = QVBoxLayout(self.summary_page)
        summary.addWidget(self.score_label)
        summary.addWidget(self.revisit)
        row = QHBoxLayout()
        row.addWidget(self.again_button)
        row.addStretch(1)
        summary.addLayout(row)
        summary.addStretch(1)
        for page in (self.start_page, self.writing_page, self.card, self.summary_page):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.pages)

        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._show_progress)
        self.retranslate()
        self._update_start()

    def retranslate(self) -> None:
        self.intro.setText(tr("Test yourself on this lesson. The questions are written from its sections and "
                              "checked before you see them; every answer says which section it comes from."))
        self.start_button.setText(tr("Quiz me on this lesson"))
        self.cancel_button.setText(tr("Cancel"))
        self.again_button.setText(tr("Quiz me again"))
        self.notice.setText(self._notice)
        if self.pages.currentWidget() is self.summary_page:
            self._show_summary()
        if self.pages.currentWidget() is self.writing_page:
            self._show_progress()

    # -- the lesson ----------------------------------------------------------------------------------

    def show_lesson(self, course_id: str, lesson_id: str) -> None:
        """A quiz is about one lesson: another lesson stops the one running and starts afresh."""
        if (course_id, lesson_id) == (self.course_id, self.lesson_id):
            return
        if self.op is not None:  # its result, when it comes, is for the lesson left: dropped
            self.op.cancel()
            self._finish_op(self.op)
        self.course_id, self.lesson_id = course_id, lesson_id
        self.questions, self.feedbacks, self.index = [], [], 0
        self._set_notice("")
        self.pages.setCurrentWidget(self.start_page)
        self._update_start()

    def _update_start(self) -> None:
        self.start_button.setEnabled(self.lesson_id is not None and self.op is None)

    def _set_notice(self, text: str) -> None:
        self._notice = text
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- writing the questions -----------------------------------------------------------------------

    def start_quiz(self) -> None:
        if self.course_id is None or self.lesson_id is None or self.op is not None:
            return
        course_id, lesson_id, count = self.course_id, self.lesson_id, self.count
        services, engine = DbBound(self.ctx), chat_engine(self.ctx)
        progress = self._progress = []

        def write(handle: Any) -> QuizBatch:
            return quiz_for(services, course_id, lesson_id=lesson_id, count=count, engine=engine,
                            progress=progress.append, cancel=handle.token)

        self._set_notice("")
        self.writing_label.setText(tr("Getting the questions ready…"))
        self.progress_bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.pages.setCurrentWidget(self.writing_page)
        op = Op(self, write)
        self.op = op
        op.success(lambda batch: self._written(op, batch)).failure(lambda exc: self._failed(op, exc))
        op.cancelled(lambda: self._written(op, None))
        op.run()
        self._poll.start()
        self._update_start()

    def cancel(self) -> None:
        """Stop writing questions (at the model's next token); a stop is not an error."""
        if self.op is not None:
            self.op.cancel()
            self.cancel_button.setEnabled(False)
            self.writing_label.setText(tr("Stopping…"))

    def _show_progress(self) -> None:
        if not self._progress:
            return
        latest = self._progress[-1]
        total = max(latest.total, 1)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(latest.done, total))
        if self.op is None or self.op.handle.token.cancelled:
            return
        # `done` counts questions ready (authored or passed the checks), so a dropped one keeps the number
        self.writing_label.setText(tr("Writing question {n} of {total} from “{section}”…").format(
            n=min(latest.done + 1, total), total=total, section=latest.section_title))

    def _finish_op(self, op: Op) -> bool:
        """True when `op` is the running one (a result for a lesson left meanwhile is dropped)."""
        if op is not self.op:
            return False
        self.op = None
        self._poll.stop()
        self._update_start()
        return True

    def _written(self, op: Op, batch: QuizBatch | None) -> None:
        stopped = op.handle.token.cancelled
        if not self._finish_op(op):
            return
        if batch is None or not batch.questions:
            self.pages.setCurrentWidget(self.start_page)
            if stopped:
                self._set_notice(tr("Stopped."))
            elif batch is not None and batch.generated:
                self._set_notice(tr("No question passed the checks this time ({n} written, all dropped). Try "
                                    "again, or with a larger model.").format(n=len(batch.generated)))
            else:
                self._set_notice(tr("There is nothing in this lesson to ask about yet."))
            if batch is not None:
                self.batch_ready.emit(batch)
            return
        self.show_batch(batch, stopped=stopped)

    def _failed(self, op: Op, exc: Exception) -> None:
        if not self._finish_op(op):
            return
        self.pages.setCurrentWidget(self.start_page)
        if isinstance(exc, LanternError):  # "needs a chat model" and the like: said here, with what to do
            self._set_notice(" ".join(part for part in (exc.user_message, exc.hint or "") if part))
        else:
            show_error(self, exc)

    def show_batch(self, batch: QuizBatch, *, stopped: bool = False) -> None:
        """Ask `batch`'s questions from the first."""
        self.questions, self.feedbacks, self.index = list(batch.questions), [], 0
        self._set_notice(tr("Stopped. Questions ready so far: {n}.").format(n=len(self.questions)) if stopped else "")
        self._ask()
        self.batch_ready.emit(batch)

    # -- asking --------------------------------------------------------------------------------------

    def _ask(self) -> None:
        self.card.show_question(self.questions[self.index], number=self.index + 1, total=len(self.questions))
        self.pages.setCurrentWidget(self.card)

    def submit(self, answer: str) -> None:
        """Grade and record the answer on the card (the card sends it)."""
        question = self.card.question
        if question is None or self.card.feedback is not None or self.op is not None:
            return
        self.card.set_busy(True)
        op = Op(self, answer_call(self.ctx, question, answer, source="quiz"))
        self.op = op

        def graded(feedback: Any) -> None:
            if self._finish_op(op):
                self.feedbacks.append(feedback)
                self.card.show_feedback(feedback, last=self.index + 1 >= len(self.questions))
                self.answered.emit(feedback)

        def failed(exc: Exception) -> None:
            if self._finish_op(op):
                self.card.set_busy(False)
                show_error(self, exc)

        def cancelled() -> None:
            if self._finish_op(op):
                self.card.set_busy(False)

        op.success(graded).failure(failed).cancelled(cancelled).run()

    def next_question(self) -> None:
        if self.index + 1 < len(self.questions):
            self.index += 1
            self._ask()
        else:
            self._show_summary()
            self.pages.setCurrentWidget(self.summary_page)
            self.quiz_finished.emit(list(self.feedbacks))

    # -- the summary ---------------------------------------------------------------------------------

    def _show_summary(self) -> None:
        right = sum(1 for f in self.feedbacks if f.correct)
        self.score_label.setText(tr("You got {right} of {total} right.").format(right=right, total=len(self.feedbacks)))
        missed: list[Any] = []
        for feedback in self.feedbacks:
            if not feedback.correct and feedback.section not in {f.section for f in missed}:
                missed.append(feedback)
        if missed:
            links = "<br>".join(section_link(f) for f in missed)
            self.revisit.setText(f"{tr('Worth reading again:')}<br>{links}")
        else:
            self.revisit.setText(tr("Nothing to read again. These questions come back for review when they are due."))

    def _open_revisit(self, anchor: str) -> None:
        lesson = next((f.lesson_id for f in self.feedbacks if f.section == anchor), self.lesson_id)
        if lesson:
            self.section_requested.emit(lesson, anchor)
