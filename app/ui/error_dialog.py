"""The one error dialog: the user message, the hint, and "Copy diagnostics"."""

from __future__ import annotations

import json
import traceback

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.core.errors import LanternError
from app.ui.i18n import tr


def diagnostics(exc: BaseException) -> str:
    context = exc.debug_context if isinstance(exc, LanternError) else {}
    return json.dumps({
        "error": type(exc).__name__,
        "message": getattr(exc, "user_message", str(exc)),
        "hint": getattr(exc, "hint", None),
        "context": context,
        "traceback": traceback.format_exception(exc),
    }, indent=2, default=str)


def build_error_box(parent: QWidget | None, exc: BaseException) -> QMessageBox:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(tr("Lantern"))
    if isinstance(exc, LanternError):
        box.setText(exc.user_message)
        if exc.hint:
            box.setInformativeText(exc.hint)
    else:
        box.setText(tr("Something went wrong: {error}").format(error=exc))
        box.setInformativeText(tr("Copy the diagnostics and attach them to a bug report."))
    copy = box.addButton(tr("Copy diagnostics"), QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    text = diagnostics(exc)
    copy.clicked.disconnect()
    copy.clicked.connect(lambda: QApplication.clipboard().setText(text))
    return box


def show_error(parent: QObject | None, exc: BaseException) -> None:
    widget = parent if isinstance(parent, QWidget) else None
    build_error_box(widget, exc).open()
