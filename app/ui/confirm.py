"""Asking before an action that reaches the learner's other devices (deleting a note, revoking a device).

One function, so tests replace it in one place (`monkeypatch.setattr(confirm, "ask", ...)`) rather
than driving a modal box.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from app.ui.i18n import tr


def ask(parent: QWidget, question: str, detail: str, action: str) -> bool:
    """True when the learner chose `action`; Cancel is the default button."""
    box = QMessageBox(QMessageBox.Icon.Question, tr("Lantern"), question, parent=parent)
    box.setInformativeText(detail)
    go = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(tr("Cancel"), QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(cancel)
    box.exec()
    return box.clickedButton() is go
