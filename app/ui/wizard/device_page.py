"""Step 1: what this machine has, in plain words, with the technical summary one click away and a
"Copy diagnostics" button (the same JSON `lantern doctor --json` prints, so a report reproduces anywhere)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWizardPage,
)

from app.core.profile import DeviceProfile
from app.core.report import profile_summary
from app.ui.i18n import tr
from app.ui.op import Op
from app.ui.wizard.device_words import plain_device_lines
from app.ui.wizard.widgets import OpProgress, guarded

if TYPE_CHECKING:
    from app.ui.app_context import AppContext


class DevicePage(QWizardPage):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.profile: DeviceProfile | None = None
        self._op: Op | None = None
        self.setTitle(tr("Your computer"))
        self.setSubTitle(tr("Lantern checks what this machine can run, so it can suggest a model that answers "
                            "quickly."))
        self.progress = OpProgress(self)
        self.summary = QLabel("", self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton(self)
        self.details_button.setText(tr("Technical details"))
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.toggled.connect(self._toggle_details)
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.copy_button = QPushButton(tr("Copy diagnostics"), self)
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_diagnostics)
        self.check_button = QPushButton(tr("Check again"), self)
        self.check_button.clicked.connect(self.check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.details_button)
        buttons.addStretch(1)
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.details, 1)

    def initializePage(self) -> None:
        if self.ctx.profile is not None:
            self.show_profile(self.ctx.profile)  # checked moments ago (at start-up); "Check again" refreshes
        else:
            self.check()

    def isComplete(self) -> bool:
        return self.profile is not None and not self._busy()

    def _busy(self) -> bool:
        return self._op is not None and not self._op.done

    def check(self) -> None:
        if self._busy():
            return
        services = self.ctx.services
        self.summary.setText(tr("Checking this machine…"))
        self.check_button.setEnabled(False)
        self._op = Op(self, services.refresh_profile)
        self._op.success(guarded(self, self._captured)).failure(guarded(self, self._failed))
        self.progress.follow(self._op)
        self._op.run()
        self.completeChanged.emit()

    def _captured(self, profile: DeviceProfile) -> None:
        self.show_profile(profile)

    def _failed(self, exc: Exception) -> None:
        from app.ui.error_dialog import show_error

        self.progress.stop()
        self.check_button.setEnabled(True)
        self.summary.setText(tr("Lantern could not check this machine. Try again, or copy the diagnostics "
                                "from the error message into a bug report."))
        self.completeChanged.emit()
        show_error(self, exc)

    def show_profile(self, profile: DeviceProfile) -> None:
        self.profile = profile
        self.progress.stop()
        self.check_button.setEnabled(True)
        self.summary.setText("\n".join(f"• {line}" for line in plain_device_lines(profile)))
        self.details.setPlainText("\n".join(profile_summary(profile)))
        self.copy_button.setEnabled(True)
        self.completeChanged.emit()

    def copy_diagnostics(self) -> None:
        if self.profile is not None:
            QGuiApplication.clipboard().setText(self.profile.to_json())

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
