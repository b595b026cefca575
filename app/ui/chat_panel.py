"""The tutor chat: a question box, and one card per answer that streams in as rendered Markdown.

Each card shows the answer with clickable citations ([n] links to the lesson section), the
sources below it, Copy and Regenerate buttons, and a badge saying which model answered, where it
ran (on-device or cloud), why it was chosen, and how fast. An answer set aside for a better one
(app.ui.route_views) stays under it, collapsed; "What was sent" shows what left the device. The
panel only displays; `TutorController` drives the session.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.answer_check import check_answer
from app.core.courses import CourseChunk
from app.core.tutor import passage_label
from app.services.inference.route_events import Attempt
from app.services.knowledge.tutor_session import Answer
from app.ui.i18n import Retranslatable, tr
from app.ui.markdown_html import render_answer
from app.ui.route_views import (
    AttemptsView,
    SentDialog,
    route_badge_parts,
    route_details,
    routing_status,
    where_label,
)


class _AutoHeightBrowser(QTextBrowser):
    """A text browser as tall as its document, so the scroll area (not each card) scrolls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(lambda _size: self._fit())

    def _fit(self) -> None:
        self.document().setTextWidth(self.viewport().width())
        height = int(self.document().size().height()) + 6
        if self.height() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), int(self.document().size().height()) + 6)


class AnswerCard(Retranslatable, QFrame):
    """One question and its answer."""

    citation_clicked = Signal(str, str)  # lesson id, section anchor
    regenerate_clicked = Signal()

    def __init__(self, question: str, *, dark: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("answerCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.question = question
        self.text = ""
        self.dark = dark
        self.passages: list[CourseChunk] = []
        self.answer: Answer | None = None
        self._valid: set[int] = set()
        self._dirty = False
        self._ended: str | None = None  # "stopped" or "failed" once it ended without an answer
        self._routing: tuple[str, str, str] | None = None  # the model answering now (a Routed event)
        self.sent_dialog: SentDialog | None = None

        self.question_label = QLabel(question)
        self.question_label.setWordWrap(True)
        self.question_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.question_label.font()
        font.setBold(True)
        self.question_label.setFont(font)
        self.body = _AutoHeightBrowser(self)
        self.body.anchorClicked.connect(self._on_link)
        self.attempts_view = AttemptsView(self)
        self.attempts_view.dark = dark
        self.sources = QLabel("")
        self.sources.setWordWrap(True)
        self.sources.setTextFormat(Qt.TextFormat.RichText)
        self.sources.linkActivated.connect(lambda href: self._on_link(QUrl(href)))
        self.sources.hide()
        self.badge = QLabel("")
        self.badge.setObjectName("answerBadge")
        self.badge.setStyleSheet("color: palette(mid); font-size: small;")
        self.badge.setWordWrap(True)
        self.sent_button = QPushButton()
        self.sent_button.setObjectName("whatWasSent")
        self.sent_button.setFlat(True)
        self.sent_button.clicked.connect(self.show_sent)
        self.sent_button.hide()
        self.copy_button = QPushButton()
        self.copy_button.clicked.connect(self.copy)
        self.regenerate_button = QPushButton()
        self.regenerate_button.clicked.connect(self.regenerate_clicked)
        for button in (self.copy_button, self.regenerate_button):
            button.setEnabled(False)
            button.setFlat(True)
        # A gentle notice under an answer that fails the quality check (app.core.answer_check).
        self.quality_notice = QFrame()
        self.quality_notice.setObjectName("answerQualityNotice")
        self.quality_label = QLabel("")
        self.quality_label.setWordWrap(True)
        self.quality_label.setStyleSheet("color: palette(mid);")
        self.try_again_button = QPushButton()
        self.try_again_button.clicked.connect(self.regenerate_clicked)
        notice_row = QHBoxLayout(self.quality_notice)
        notice_row.setContentsMargins(0, 0, 0, 0)
        notice_row.addWidget(self.quality_label, 1)
        notice_row.addWidget(self.try_again_button)
        self.quality_notice.hide()

        footer = QHBoxLayout()
        footer.addWidget(self.badge, 1)
        footer.addWidget(self.sent_button)
        footer.addWidget(self.copy_button)
        footer.addWidget(self.regenerate_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question_label)
        layout.addWidget(self.body)
        layout.addWidget(self.attempts_view)
        layout.addWidget(self.sources)
        layout.addWidget(self.quality_notice)
        layout.addLayout(footer)
        self.retranslate()


    def retranslate(self) -> None:
        """The card's own labels; the answer text stays in the language it was written in."""
        self.body.setPlaceholderText(tr("Looking in the course…"))
        self.copy_button.setText(tr("Copy"))
        self.copy_button.setToolTip(tr("Copy the answer as Markdown"))
        self.regenerate_button.setText(tr("Regenerate"))
        self.regenerate_button.setToolTip(tr("Ask the same question again"))
        self.try_again_button.setText(tr("Try again"))
        self.try_again_button.setToolTip(tr("Ask the same question again"))
        self.sent_button.setText(tr("What was sent"))
        self.sent_button.setToolTip(tr("Show exactly what was sent to the cloud model"))
        self.attempts_view.retranslate()
        if self.answer is not None:
            self._show_sources(self.answer)
            self._show_badge(self.answer)
            self._show_quality(self.answer, retranslate=True)
        elif self._ended == "stopped":
            self.badge.setText(tr("Stopped"))
        elif self._ended == "failed":
            self.badge.setText(tr("No answer: see the error message"))
        elif self._routing is not None:
            self.badge.setText(routing_status(*self._routing))

    # -- streaming ----------------------------------------------------------------------------------

    def set_passages(self, passages: list[CourseChunk]) -> None:
        """The passages the model is about to see: [1]..[n] become links while the answer streams."""
        self.passages = passages
        self._valid = set(range(1, len(passages) + 1))

    def append(self, text: str) -> None:
        self.text += text
        self._dirty = True

    def set_routing(self, where: str, model: str, reason: str) -> None:
        """A model starts answering: say which, and why, until the answer is done."""
        self._routing = (where, model, reason)
        self.badge.setText(routing_status(where, model, reason))

    def set_aside(self, attempt: Attempt) -> None:
        """The text so far was set aside: keep it, collapsed, under the answer, and start the answer again."""
        shown = self.text.strip()
        self.attempts_view.add(attempt if attempt.text or not shown else
                               Attempt(attempt.model, attempt.where, shown, attempt.reason, attempt.reason_code))
        self.text = ""
        self._dirty = True

    def refresh(self) -> None:
        """Called once per flush (not per token): re-render the Markdown so far."""
        if self._dirty:
            self._dirty = False
            scroll = self.body.verticalScrollBar().value()
            self.body.setHtml(render_answer(self.text, self._valid, dark=self.dark))
            self.body.verticalScrollBar().setValue(scroll)

    def finish(self, answer: Answer) -> None:
        self.answer = answer
        self.text = answer.text
        self.passages = answer.passages
        self._valid = {c.number for c in answer.citations if c.inline}
        self._dirty = True
        self.refresh()
        self._show_sources(answer)
        self._show_badge(answer)
        self._show_quality(answer)
        self._show_route(answer)
        self.copy_button.setEnabled(bool(self.text))
        self.regenerate_button.setEnabled(answer.covered)

    def stopped(self) -> None:
        """Generation was stopped: keep what arrived, say so, allow a retry."""
        self.refresh()
        self._ended = "stopped"
        self.badge.setText(tr("Stopped"))
        self.copy_button.setEnabled(bool(self.text))
        self.regenerate_button.setEnabled(True)

    def failed(self) -> None:
        self.refresh()
        self._ended = "failed"
        self.badge.setText(tr("No answer: see the error message"))
        self.regenerate_button.setEnabled(True)

    # -- parts --------------------------------------------------------------------------------------

    def _show_sources(self, answer: Answer) -> None:
        if not answer.covered or not answer.citations:
            self.sources.hide()
            return
        inline = all(c.inline for c in answer.citations)
        head = tr("Sources") if inline else tr("Sources (drawn on, not cited by number)")
        links = [f'<a href="cite:{c.number}">[{c.number}] {_escape(passage_label(c.chunk))}</a>'
                 for c in answer.citations]
        self.sources.setText(f"<b>{head}:</b><br>" + "<br>".join(links))
        self.sources.show()

    def _show_badge(self, answer: Answer) -> None:
        # Where it ran comes from the engine that answered (answer.where) or the router's record, never assumed.
        route = answer.route
        if route is not None:
            parts = route_badge_parts(route)
        else:
            parts = [p for p in (answer.model_id or tr("model"), where_label(answer.where)) if p]
        stats = answer.stats
        if stats is not None and stats.generation_tokens_per_second:
            parts.append(tr("{rate:.1f} tok/s").format(rate=stats.generation_tokens_per_second))
        if answer.finish_reason == "length":
            parts.append(tr("cut short at the length limit"))
        if not answer.covered:
            parts = [tr("not in this course")]
        self.badge.setText(" · ".join(parts))
        self.badge.setToolTip(route_details(answer.route) if answer.route is not None and answer.covered else "")

    def _show_route(self, answer: Answer) -> None:
        """The attempts shown are the final record's (it is authoritative); "What was sent" only when something was."""
        route = answer.route
        if route is not None:
            self.attempts_view.set_attempts(route.attempts)
        self.sent_button.setVisible(bool(route is not None and route.sent_to_cloud))

    def show_sent(self) -> None:
        route = self.answer.route if self.answer is not None else None
        if route is None or not route.sent_to_cloud:
            return
        dialog = SentDialog(route.sent_to_cloud, route.cloud_model or route.model, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.sent_dialog = dialog
        dialog.open()

    def _show_quality(self, answer: Answer, *, retranslate: bool = False) -> None:
        """The notice under a covered answer that fails the check; never for a stopped one (a cancel is
        the learner's choice, not a failure)."""
        verdict = answer.quality
        if not answer.covered or verdict is None or verdict.ok or answer.finish_reason == "cancelled":
            self.quality_notice.hide()
            return
        if retranslate:  # the reasons were translated when the answer finished: judge again in the new language
            again = check_answer(answer.text, question=self.question, passages=[c.text for c in answer.passages],
                                 covered=answer.covered, finish_reason=answer.finish_reason)
            verdict = again if again.problems else verdict  # the same inputs give the same problems
        reason = verdict.problems[0].reason
        self.quality_label.setText(tr("This answer looks incomplete: {reason}.").format(reason=reason))
        self.quality_label.setToolTip("\n".join(p.reason for p in verdict.problems))
        self.quality_notice.show()

    def _on_link(self, url: QUrl) -> None:
        if url.scheme() != "cite":
            return
        try:
            number = int(url.path() or url.toString().split(":", 1)[1])
        except ValueError:
            return
        if 1 <= number <= len(self.passages):
            chunk = self.passages[number - 1]
            self.citation_clicked.emit(chunk.lesson_id, chunk.anchor)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ChatPanel(Retranslatable, QWidget):
    """Question box, Ask/Stop, and the answers so far."""

    ask_requested = Signal(str)
    stop_requested = Signal()
    regenerate_requested = Signal(str)
    citation_clicked = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: list[AnswerCard] = []
        self.dark = False
        self.course_title: str | None = None
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        holder = QWidget()
        self.cards_layout = QVBoxLayout(holder)
        self.cards_layout.addStretch(1)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cards_layout.insertWidget(0, self.empty)
        self.scroll_area.setWidget(holder)
        self.input = QPlainTextEdit(self)
        self.input.setMaximumHeight(80)
        self.ask_button = QPushButton()
        self.ask_button.setDefault(True)
        self.ask_button.clicked.connect(self._ask)
        self.stop_button = QPushButton()
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_requested)
        self.send_shortcut = QShortcut(QKeySequence("Ctrl+Return"), self.input)
        self.send_shortcut.activated.connect(self._ask)
        buttons = QVBoxLayout()
        buttons.addWidget(self.ask_button)
        buttons.addWidget(self.stop_button)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.notice)
        layout.addWidget(self.scroll_area, 1)
        layout.addLayout(row)
        self.retranslate()


    def retranslate(self) -> None:
        """Every translated text the panel owns (the cards retranslate themselves)."""
        self.set_course_title(self.course_title)
        self.empty.setText(tr("Ask about the lesson: \"what does this section mean?\", \"give me a hint\", "
                              "\"quiz me\". Answers come from the course and cite it."))
        self.input.setPlaceholderText(tr("Ask the tutor… (Ctrl+Enter to send)"))
        self.ask_button.setText(tr("Ask"))
        self.stop_button.setText(tr("Stop"))

    def set_course_title(self, title: str | None) -> None:
        """The panel's heading: "Tutor · <course>" once a course is open."""
        self.course_title = title
        self.title.setText(tr("Tutor · {course}").format(course=title) if title else tr("Tutor"))

    def set_notice(self, text: str | None) -> None:
        """Why asking is not possible right now (no model, course not indexed), or None."""
        self.notice.setText(text or "")
        self.notice.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        self.ask_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def add_card(self, question: str) -> AnswerCard:
        self.empty.hide()
        card = AnswerCard(question, dark=self.dark)
        card.citation_clicked.connect(self.citation_clicked)
        card.regenerate_clicked.connect(lambda: self.regenerate_requested.emit(card.question))
        self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
        self.cards.append(card)
        self.scroll_to_end()
        return card

    def scroll_to_end(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _ask(self) -> None:
        question = self.input.toPlainText().strip()
        if not question or not self.ask_button.isEnabled():
            return
        self.input.clear()
        self.ask_requested.emit(question)
