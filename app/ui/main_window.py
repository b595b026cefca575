"""The main window. For now: what this machine is and which model suits it (issue 2); the
course reader and tutor chat arrive with the GUI issue."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.profile import GIB, DeviceProfile
from app.core.recommend import Recommendation
from app.core.report import VERDICT_TEXT, profile_summary
from app.ui.i18n import tr

COLUMNS = ("Model", "Quant", "Fit", "Memory", "Tokens/s", "Download")


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(tr("Lantern"))
        self.resize(960, 640)
        self.profile: DeviceProfile | None = None
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.status_label = QLabel(tr("Checking this machine…"), central)
        self.device_view = QPlainTextEdit(central)
        self.device_view.setReadOnly(True)
        self.device_view.setMaximumHeight(180)
        self.pick_label = QLabel("", central)
        self.pick_label.setWordWrap(True)
        self.pick_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS), central)
        self.table.setHorizontalHeaderLabels([tr(c) for c in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QHBoxLayout()
        self.copy_button = QPushButton(tr("Copy diagnostics"), central)
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_diagnostics)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        for widget in (self.status_label, self.device_view, self.pick_label, self.table):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.setCentralWidget(central)

    def show_profile(self, profile: DeviceProfile) -> None:
        self.profile = profile
        self.device_view.setPlainText("\n".join(profile_summary(profile)))
        self.copy_button.setEnabled(True)

    def show_recommendation(self, rec: Recommendation) -> None:
        self.status_label.setText(tr("Models for this machine"))
        text = rec.reason if rec.pick is None else tr("Recommended: {reason}").format(reason=rec.reason)
        if rec.warnings:
            text += "\n" + "\n".join(rec.warnings)
        self.pick_label.setText(text)
        self.table.setRowCount(len(rec.options))
        for row, o in enumerate(rec.options):
            runs_here = o.fit.verdict in ("full_gpu", "partial_gpu", "cpu_only")
            verdict = tr("exceeds free disk") if runs_here and not o.disk_ok else tr(VERDICT_TEXT[o.fit.verdict])
            tps = "" if o.fit.tokens_per_second is None else f"{o.fit.tokens_per_second:.0f}"
            cells = (("★ " if o is rec.pick else "") + o.model.name, o.variant.quant, verdict,
                     f"{o.fit.memory.total_bytes / GIB:.1f} GB", tps,
                     ("~" if o.download_is_estimate else "") + f"{o.download_bytes / GIB:.1f} GB")
            for col, value in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()

    def copy_diagnostics(self) -> None:
        if self.profile is not None:
            QGuiApplication.clipboard().setText(self.profile.to_json())
