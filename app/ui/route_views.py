"""What the learner sees of local ⇄ cloud routing: the badge's words, the set-aside attempts, the
"What was sent" view and the consent prompt.

The router (app.services.inference.router) decides and explains; these widgets only show its
`RouteInfo` and events. Nothing that was shown is thrown away: an answer set aside stays readable,
collapsed under the one that replaced it. The consent prompt is non-blocking (`open()`, not `exec()`),
so a stream stopped while it is open can still resolve it; it answers its event exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.inference import ChatMessage
from app.services.inference.route_events import Attempt, ConsentNeeded, RouteInfo
from app.ui.i18n import tr
from app.ui.markdown_html import render_answer


def where_label(where: str | None) -> str:
    return {"on-device": tr("on-device"), "cloud": tr("cloud")}.get(where or "", "")


def model_label(model: str) -> str:
    """`local:smollm2` → `smollm2`, `cloud:openai/gpt-4o-mini` → `openai/gpt-4o-mini` (the badge has the where)."""
    where, sep, name = model.partition(":")
    return name if sep and where in ("local", "cloud") and name else model


def route_badge_parts(route: RouteInfo) -> list[str]:
    """Where, which model, and why: "cloud · openai/gpt-4o-mini · fell back: the on-device answer was empty"."""
    where = where_label(route.where)
    reason = route.reason.strip()
    # The plan's own reasons may begin with the place ("on-device: offline mode is on"); say it once.
    if where and reason.lower().startswith(f"{where.lower()}: "):
        reason = reason[len(where) + 2:]
    return [p for p in (where, model_label(route.model), reason) if p]


def route_details(route: RouteInfo) -> str:
    """The badge's tooltip: cost and timing from the router's record."""
    lines = [tr("Cost: ${cost:.4f}").format(cost=route.cost_usd)]
    if route.cost_if_cloud_usd is not None:
        lines.append(tr("On the reference cloud model: ${cost:.4f}").format(cost=route.cost_if_cloud_usd))
    if route.ttft_s is not None:
        lines.append(tr("First words after {s:.1f} s, done after {total:.1f} s").format(s=route.ttft_s,
                                                                                     total=route.total_s))
    return "\n".join(lines)


def routing_status(where: str, model: str, reason: str) -> str:
    """The badge while a model is answering (a `Routed` event)."""
    if where == "cloud":
        return tr("Asking {model}: {reason}…").format(model=model_label(model), reason=reason) if reason else \
            tr("Asking {model}…").format(model=model_label(model))
    return tr("Answering on-device…")


def attempt_title(attempt: Attempt) -> str:
    if attempt.where == "cloud":
        return tr("Cloud attempt (set aside: {reason})").format(reason=attempt.reason)
    return tr("On-device attempt (set aside: {reason})").format(reason=attempt.reason)


def format_messages(messages: Sequence[ChatMessage]) -> str:
    """The messages as plain text, role first, exactly as sent (copyable)."""
    return "\n\n".join(f"── {message.role} ──\n{message.content}" for message in messages)


def _monospace_view(text: str) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setPlainText(text)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                 | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    return view


class AttemptSection(QFrame):
    """One set-aside answer: a toggle line, and below it (collapsed at first) the text, read-only."""

    def __init__(self, attempt: Attempt, *, dark: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("setAsideAttempt")
        self.attempt = attempt
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.setStyleSheet("color: palette(mid);")
        self.toggle.toggled.connect(self.set_expanded)
        self.body = QTextBrowser()
        self.body.setOpenLinks(False)
        self.body.setReadOnly(True)
        self.body.setMaximumHeight(220)
        self.body.setHtml(render_answer(attempt.text, set(), dark=dark))
        self.body.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        self.retranslate()

    @property
    def expanded(self) -> bool:
        return not self.body.isHidden()

    def set_expanded(self, expanded: bool) -> None:
        self.body.setVisible(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        if self.toggle.isChecked() != expanded:
            self.toggle.setChecked(expanded)

    def retranslate(self) -> None:
        self.toggle.setText(attempt_title(self.attempt))
        self.toggle.setToolTip(tr("Show or hide the answer that was set aside"))


class AttemptsView(QWidget):
    """The answers set aside for this question, in the order they were shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sections: list[AttemptSection] = []
        self.dark = False
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.hide()

    @property
    def attempts(self) -> list[Attempt]:
        return [section.attempt for section in self.sections]

    def add(self, attempt: Attempt) -> AttemptSection:
        section = AttemptSection(attempt, dark=self.dark)
        self._layout.addWidget(section)
        self.sections.append(section)
        self.show()
        return section

    def set_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Re-render from the final answer's list (it is authoritative); unchanged ones keep their state."""
        if list(attempts) == self.attempts:
            return
        for section in self.sections:
            section.setParent(None)
            section.deleteLater()
        self.sections = []
        for attempt in attempts:
            self.add(attempt)
        self.setVisible(bool(self.sections))

    def retranslate(self) -> None:
        for section in self.sections:
            section.retranslate()


class SentDialog(QDialog):
    """Exactly the messages that went to the cloud model, read-only and copyable."""

    def __init__(self, messages: Sequence[ChatMessage], model: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("What was sent"))
        self.messages = tuple(messages)
        self.heading = QLabel(tr("These {count} messages were sent to {model}:").format(
            count=len(self.messages), model=model_label(model)))
        self.heading.setWordWrap(True)
        self.view = _monospace_view(format_messages(self.messages))
        self.view.setMinimumSize(560, 320)
        self.note = QLabel(tr("Nothing else left this device: no notes, no progress, no other course text."))
        self.note.setWordWrap(True)
        self.copy_button = QPushButton(tr("Copy"))
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.view.toPlainText()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)


class ConsentDialog(QDialog):
    """"Send this question to <model>?": Send / Keep on-device, with what would be sent behind a toggle.

    `decided(granted, dont_ask_again)` is emitted once, whatever closes it (Escape and the window's close
    button mean "keep on-device"). The caller replies to the router's event from it."""

    decided = Signal(bool, bool)

    def __init__(self, event: ConsentNeeded, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.consent = event
        self._done = False
        self.setWindowTitle(tr("Send to a cloud model?"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.question = QLabel(tr("Send this question to {model}?").format(model=model_label(event.model)))
        font = self.question.font()
        font.setBold(True)
        self.question.setFont(font)
        self.question.setWordWrap(True)
        self.reason = QLabel(tr("Why: {reason}").format(reason=event.reason) if event.reason else "")
        self.reason.setWordWrap(True)
        self.reason.setVisible(bool(event.reason))
        self.details_toggle = QToolButton()
        self.details_toggle.setText(tr("Show what will be sent"))
        self.details_toggle.setCheckable(True)
        self.details_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.details_toggle.setAutoRaise(True)
        self.details = _monospace_view(format_messages(event.messages))
        self.details.setMinimumHeight(220)
        self.details.hide()
        self.details_toggle.toggled.connect(self._show_details)
        self.dont_ask = QCheckBox(tr("Don't ask again (send when needed)"))
        self.buttons = QDialogButtonBox()
        self.send_button = self.buttons.addButton(tr("Send"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_button = self.buttons.addButton(tr("Keep on-device"), QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_button.setDefault(True)  # Enter does not send anything away by accident
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        note = QLabel(tr("Only the messages shown above leave this device; offline mode always wins."))
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        for widget in (self.question, self.reason, self.details_toggle, self.details, note, self.dont_ask,
                       self.buttons):
            layout.addWidget(widget)

    @property
    def resolved(self) -> bool:
        return self._done

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.adjustSize()

    def done(self, result: int) -> None:
        granted = result == QDialog.DialogCode.Accepted
        self._resolve(granted)
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._resolve(False)
        super().closeEvent(event)

    def cancel(self) -> None:
        """The answer was stopped: decline and close."""
        self.reject()

    def _resolve(self, granted: bool) -> None:
        if self._done:
            return
        self._done = True
        self.decided.emit(granted, granted and self.dont_ask.isChecked())
