"""Learning progress for one course: what is due, how much the learner retains, their streak, and two
charts (mastery per lesson, quiz answers per day over the last 30 days).

It shows one `LearningStats` (app.core.learning.stats), replayed from the learning record by
`ReviewQueue.stats` on the database worker: the same numbers `lantern review --json` prints. Mastery is
a weighted mean of the learner's scores per section (app.core.learning.mastery says how); a lesson
never quizzed has no bar rather than a zero bar, since nothing is known about it. The charts are
pyqtgraph, like the savings dashboard, and this module is imported only when the view opens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyqtgraph as pg  # type: ignore[import-untyped]
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.courses import Course
from app.core.learning.stats import LearningStats
from app.services.learning.review_queue import ReviewQueue
from app.ui.app_context import AppContext
from app.ui.headline import Headline
from app.ui.i18n import Retranslatable, tr
from app.ui.op import Op

MASTERY_COLOUR, ATTEMPTS_COLOUR = "#2e9e5b", "#3a7bd5"
TITLE_CHARS = 26
DATE_TICK_EVERY = 5


def format_retention(stats: LearningStats) -> str:
    return "—" if stats.retention is None else f"{stats.retention:.0%}"


def lesson_order(stats: LearningStats, course: Course | None) -> list[tuple[str, str]]:
    """(lesson id, label) for the mastery chart: the course's lessons in order, else the lessons quizzed."""
    if course is not None:
        return [(lesson.id, lesson.title) for lesson in course.lessons]
    return [(lesson_id, lesson_id) for lesson_id in sorted(stats.mastery)]


class LearningProgressView(Retranslatable, QWidget):
    stats_shown = Signal(object)  # the LearningStats now on screen

    def __init__(self, ctx: AppContext, courses: Mapping[str, Course], *, course_id: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.courses = ctx, dict(courses)
        self.stats: LearningStats | None = None
        self.mastery_bars: Any = None
        self.mastery_lessons: list[str] = []   # the lesson of each mastery bar, bottom to top
        self.attempt_bars: Any = None
        self._serial = 0
        pg.setConfigOptions(antialias=True)

        self.course_combo = QComboBox(self)
        self.course_combo.setObjectName("progressCourse")
        for course in self.courses.values():
            self.course_combo.addItem(course.title, course.id)
        if course_id is not None and (index := self.course_combo.findData(course_id)) >= 0:
            self.course_combo.setCurrentIndex(index)
        self.course_combo.currentIndexChanged.connect(lambda _index: self.reload())

        self.cards = {key: Headline(self) for key in ("due_today", "due_this_week", "retention", "streak", "cards")}
        cards = QHBoxLayout()
        for card in self.cards.values():
            cards.addWidget(card)
        self.mastery_plot = self._plot()
        self.attempts_plot = self._plot()
        self.titles = [QLabel("", self) for _ in range(2)]
        grid = QGridLayout()
        for i, widget in enumerate((self.mastery_plot, self.attempts_plot)):
            grid.addWidget(self.titles[i], 0, i)
            grid.addWidget(widget, 1, i)
        content = QWidget(self)
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(cards)
        inner.addLayout(grid, 1)
        self.empty_label = QLabel("", self)
        self.empty_label.setObjectName("progressEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.course_combo)
        layout.addWidget(self.pages, 1)
        self.retranslate()

    @property
    def course_id(self) -> str | None:
        data = self.course_combo.currentData()
        return str(data) if data is not None else None

    # -- data ---------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Replay the course's statistics on the database worker, then show them."""
        course_id = self.course_id
        if course_id is None:
            self.empty_label.setText(tr("No course is installed yet."))
            self.pages.setCurrentWidget(self.empty_label)
            return
        self._serial += 1
        serial, services = self._serial, self.ctx.services
        self.empty_label.setText(tr("Reading your answers…"))
        self.pages.setCurrentWidget(self.empty_label)

        def shown(stats: LearningStats) -> None:
            if serial == self._serial:
                self.show_stats(stats)

        Op(self, lambda: ReviewQueue(services.record).stats(course_id)).success(shown).run(executor=self.ctx.db)

    def show_stats(self, stats: LearningStats) -> None:
        self.stats = stats
        answered = sum(day.attempts for day in stats.attempts_per_day)
        if stats.cards == 0 and answered == 0 and not stats.mastery:
            self.empty_label.setText(tr("No quiz answers in this course yet. Take a quiz under a lesson: what you "
                                        "answer is counted here, and its questions come back for review."))
            self.pages.setCurrentWidget(self.empty_label)
        else:
            self._show_headline(stats)
            self._show_mastery(stats)
            self._show_attempts(stats)
            self.pages.setCurrentIndex(1)
        self.stats_shown.emit(stats)

    # -- texts --------------------------------------------------------------------------------------

    def retranslate(self) -> None:
        captions = {"due_today": tr("due today"), "due_this_week": tr("due later this week"),
                    "retention": tr("retention (30 days)"), "streak": tr("day streak"),
                    "cards": tr("questions in review")}
        for key, card in self.cards.items():
            card.caption.setText(captions[key])
        for label, text in zip(self.titles, (tr("Mastery per lesson"), tr("Quiz answers per day (last 30 days)")),
                               strict=True):
            label.setText(f"<b>{text}</b>")
        self.mastery_plot.setLabel("bottom", tr("mastery"), units="%")
        self.attempts_plot.setLabel("left", tr("answers"))
        if self.stats is not None:
            self.show_stats(self.stats)

    # -- pieces -------------------------------------------------------------------------------------

    def _plot(self) -> Any:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        widget = pg.PlotWidget(self, background=palette.color(QPalette.ColorRole.Base))
        widget.setMinimumHeight(220)
        item = widget.getPlotItem()
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
            axis.enableAutoSIPrefix(False)
        return widget

    def _show_headline(self, s: LearningStats) -> None:
        values = {"due_today": str(s.due_today), "due_this_week": str(s.due_this_week),
                  "retention": format_retention(s), "streak": str(s.streak_days), "cards": str(s.cards)}
        for key, card in self.cards.items():
            card.value.setText(values[key])
        self.cards["due_today"].setToolTip(tr("{n} of them are due now").format(n=s.due_now))
        self.cards["retention"].setToolTip(
            tr("Answered well (Hard or better) in {n} reviews of learned questions in the last 30 days").format(
                n=s.retention_reviews) if s.retention is not None
            else tr("No review of a learned question in the last 30 days yet"))

    def _show_mastery(self, s: LearningStats) -> None:
        plot = self.mastery_plot
        plot.clear()
        lessons = list(reversed(lesson_order(s, self.courses.get(self.course_id or ""))))  # first lesson on top
        self.mastery_lessons = [lesson_id for lesson_id, _title in lessons]
        widths = []
        for lesson_id, _title in lessons:
            m = s.mastery.get(lesson_id)
            widths.append(100 * m.mastery if m is not None and m.mastery is not None else 0.0)
        colour = QColor(MASTERY_COLOUR)
        self.mastery_bars = pg.BarGraphItem(x0=0, y=list(range(len(lessons))), height=0.7, width=widths,
                                            brush=colour, pen=pg.mkPen(None))  # a zero bar draws nothing
        plot.addItem(self.mastery_bars)
        ticks = [(i, title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…")
                 for i, (_lesson_id, title) in enumerate(lessons)]
        item = plot.getPlotItem()
        axis = item.getAxis("left")
        axis.setTicks([ticks])
        # pyqtgraph sizes a text axis only after its first paint: make room for the titles now.
        axis.setWidth(max((self.fontMetrics().horizontalAdvance(label) for _i, label in ticks), default=0) + 16)
        item.setXRange(0, 100, padding=0.02)
        item.setYRange(-0.6, max(len(lessons), 1) - 0.4, padding=0)

    def _show_attempts(self, s: LearningStats) -> None:
        plot = self.attempts_plot
        plot.clear()
        xs = list(range(len(s.attempts_per_day)))
        heights = [day.attempts for day in s.attempts_per_day]
        colour = QColor(ATTEMPTS_COLOUR)
        self.attempt_bars = pg.BarGraphItem(x=xs, height=heights, width=0.7, brush=colour, pen=pg.mkPen(None))
        plot.addItem(self.attempt_bars)
        last = len(xs) - 1
        ticks = [(i, day.day.strftime("%m-%d")) for i, day in enumerate(s.attempts_per_day)
                 if (last - i) % DATE_TICK_EVERY == 0]
        item = plot.getPlotItem()
        item.getAxis("bottom").setTicks([ticks])
        item.setXRange(-0.6, len(xs) - 0.4, padding=0)
        top = max([*heights, 1])
        step = max(1, math.ceil(top / 5))  # whole answers only
        item.getAxis("left").setTickSpacing(step, step)
        item.setYRange(0, top * 1.1, padding=0)


class LearningProgressDialog(Retranslatable, QDialog):
    """The progress view in its own window (not modal: it can stay open beside the lesson)."""

    def __init__(self, ctx: AppContext, courses: Mapping[str, Course], *, course_id: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resize(1000, 640)
        self.view = LearningProgressView(ctx, courses, course_id=course_id, parent=self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self.retranslate()
        self.view.reload()

    def retranslate(self) -> None:
        self.setWindowTitle(tr("Learning progress"))
