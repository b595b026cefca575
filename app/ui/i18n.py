"""One tr() for every user-visible string, so the UI can be translated (Vietnamese first)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication


def tr(text: str) -> str:
    return QCoreApplication.translate("Lantern", text)
