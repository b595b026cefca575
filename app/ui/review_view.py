""""Review today": the quiz questions the review schedule says are due, answered one at a time.

The queue is replayed from the learning record by `ReviewQueue` (app.services.learning.review_queue) on
the database worker, so it is the one `lantern review` shows and the one a synced device shows. Each
answer is graded and recorded like a quiz answer, with source "review": that review moves the
question's next due time, so an answered question leaves today's queue. With nothing due, the view says
when the next review is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QDate, QLocale, QTime, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.services.learning.review_queue import DueItem, ReviewQueue
from app.ui.app_context import AppContext
from app.ui.error_dialog import show_error
from app.ui.i18n import Retranslatable, tr
from app.ui.learning_ops import answer_call
from app.ui.op import Op
from app.ui.question_card import QuestionCard


@dataclass(frozen=True)
class ReviewSnapshot:
    items: list[DueItem]     # due now, most overdue first
    skipped: int             # due, but their question has not reached this device
    next_due: datetime | None  # the first due time after now (aware UTC); None: nothing scheduled
    cards: int               # questions in the schedule


def read_queue(record: Any, course_id: str | None = None, *, now: datetime | None = None) -> ReviewSnapshot:
    """Call on the database worker."""
    now = now or datetime.now(UTC)
    reviews = ReviewQueue(record)
    queue = reviews.queue(course_id, now=now)
    cards = reviews.cards(course_id)
    upcoming = min((c.due for c in cards.values() if c.due > now), default=None)
    return ReviewSnapshot(queue.items, queue.skipped, upcoming, len(cards))


def next_review_text(next_due: datetime | None, *, now: datetime | None = None) -> str:
    """The empty state: when the next review is, in the learner's local time."""
    if next_due is None:
        return tr("Nothing to review yet. Take a quiz in a lesson: its questions come back here when they are due.")
    local = next_due.astimezone()
    today = (now or datetime.now(UTC)).astimezone().date()
    locale = QLocale()
    if local.date() == today:
        at = locale.toString(QTime(local.hour, local.minute), QLocale.FormatType.ShortFormat)
        return tr("Nothing to review right now — next review today at {time}.").format(time=at)
    day = locale.toString(QDate(local.year, local.month, local.day), QLocale.FormatType.LongFormat)
    return tr("Nothing to review today — next review on {date}.").format(date=day)


class ReviewView(Retranslatable, QWidget):
    section_requested = Signal(str, str, str)  # course_id, lesson_id, anchor: "From: <section>" was clicked
    queue_loaded = Signal(object)              # the ReviewSnapshot shown
    answered = Signal(object)                  # the Feedback of a review just recorded
    due_changed = Signal(int)                  # how many are left to review now

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, course_id: str | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.course_id = ctx, course_id
        self.snapshot: ReviewSnapshot | None = None
        self.items: list[DueItem] = []
        self.index = 0
        self.done_count = 0
        self.op: Op | None = None
        self._serial = 0

        self.title = QLabel(self)
        self.title.setObjectName("reviewTitle")
        self.count_label = QLabel(self)
        self.count_label.setObjectName("reviewCount")
        self.pages = QStackedWidget(self)
        self.empty_label = QLabel(self.pages)
        self.empty_label.setObjectName("reviewEmpty")
        self.empty_label.setWordWrap(True)
        self.card = QuestionCard(self.pages)
        self.card.submitted.connect(self.submit)
        self.card.next_requested.connect(self.next_item)
        self.card.section_requested.connect(self._open_section)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(self.card)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.count_label)
        layout.addWidget(self.pages, 1)
        self.retranslate()

    def retranslate(self) -> None:
        self.title.setText(f"<b>{tr('Review today')}</b>")
        self._show_count()
        if self.pages.currentWidget() is self.empty_label:
            self._show_empty()

    # -- the queue -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read what is due (on the database worker) and start from its first item."""
        self._serial += 1
        serial, course_id, services = self._serial, self.course_id, self.ctx.services
        self.empty_label.setText(tr("Reading the review schedule…"))
        self.pages.setCurrentWidget(self.empty_label)

        def shown(snapshot: ReviewSnapshot) -> None:
            if serial == self._serial:
                self.show_snapshot(snapshot)

        Op(self, lambda: read_queue(services.record, course_id)).success(shown).run(executor=self.ctx.db)

    def show_snapshot(self, snapshot: ReviewSnapshot) -> None:
        self.snapshot, self.items, self.index = snapshot, list(snapshot.items), 0
        if self.items:
            self._ask()
        else:
            self._show_empty()
        self._show_count()
        self.queue_loaded.emit(snapshot)
        self.due_changed.emit(self.remaining)

    @property
    def remaining(self) -> int:
        """Due items not answered yet in this round."""
        answered_current = self.card.feedback is not None and self.pages.currentWidget() is self.card
        return max(0, len(self.items) - self.index - (1 if answered_current else 0))

    def _show_count(self) -> None:
        if self.snapshot is None:
            self.count_label.setText("")
            return
        text = tr("{n} due now").format(n=self.remaining)
        if self.snapshot.skipped:
            text += " · " + tr("{n} more wait for their question to sync").format(n=self.snapshot.skipped)
        self.count_label.setText(text)

    def _show_empty(self) -> None:
        if self.snapshot is None:
            return
        text = next_review_text(self.snapshot.next_due)
        if self.done_count:
            text = tr("Done: {n} reviewed.").format(n=self.done_count) + "\n" + text
        self.empty_label.setText(text)
        self.pages.setCurrentWidget(self.empty_label)

    # -- answering -----------------------------------------------------------------------------------

    def _ask(self) -> None:
        item = self.items[self.index]
        self.card.show_question(item.question, number=self.index + 1, total=len(self.items))
        self.pages.setCurrentWidget(self.card)

    def submit(self, answer: str) -> None:
        question = self.card.question
        if question is None or self.card.feedback is not None or self.op is not None:
            return
        self.card.set_busy(True)
        op = Op(self, answer_call(self.ctx, question, answer, source="review"))
        self.op = op

        def graded(feedback: Any) -> None:
            self.op = None
            self.done_count += 1
            self.card.show_feedback(feedback, last=self.index + 1 >= len(self.items))
            self._show_count()
            self.answered.emit(feedback)
            self.due_changed.emit(self.remaining)

        def failed(exc: Exception) -> None:
            self.op = None
            self.card.set_busy(False)
            show_error(self, exc)

        def cancelled() -> None:
            self.op = None
            self.card.set_busy(False)

        op.success(graded).failure(failed).cancelled(cancelled).run()

    def next_item(self) -> None:
        if self.index + 1 < len(self.items):
            self.index += 1
            self._ask()
            self._show_count()
        else:
            self.reload()  # a question answered wrong may be due again already

    def _open_section(self, lesson_id: str, anchor: str) -> None:
        if self.items:
            self.section_requested.emit(self.items[self.index].course_id, lesson_id, anchor)


class ReviewDialog(Retranslatable, QDialog):
    """The review queue in its own window, so the lesson a "From:" link opens stays visible beside it."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resize(640, 560)
        self.view = ReviewView(ctx, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self.retranslate()
        self.view.reload()

    def retranslate(self) -> None:
        self.setWindowTitle(tr("Review today"))
