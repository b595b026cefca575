"""Small pieces the wizard pages share: the offline notice, a progress row that follows a running Op,
and a guard so a late Op callback never touches a page Qt has already deleted (the wizard may be
closed while a worker is still finishing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QWidget

from app.ui.i18n import tr
from app.ui.op import Op

POLL_MS = 100


def ask_for_gguf(parent: QWidget, title: str) -> Path | None:
    name, _filter = QFileDialog.getOpenFileName(parent, title, str(Path.home()), tr("GGUF models (*.gguf)"))
    return Path(name) if name else None


def byte_reporter(handle: Any, text: str) -> Callable[[int, int], None]:
    """Turn a service's (done, total) byte callback into the op's progress."""
    def report(done: int, total: int) -> None:
        handle.report(done / total if total else None, text)
    return report


def import_work(ctx: Any, path: Path, role: str) -> Callable[[Any], Any]:
    """The op function that imports `path` as the model for `role` ("chat" or "embedding")."""
    from app.services.catalog_store import default_catalog
    from app.services.models.import_for_role import import_model_for

    registry, models_dir = ctx.services.registry, ctx.paths.models_dir

    def work(handle: Any) -> Any:
        return import_model_for(path, role=role, registry=registry,  # type: ignore[arg-type]
                                catalog=default_catalog(), models_dir=models_dir,
                                on_progress=byte_reporter(handle, tr("Checking the file")))
    return work


def offline_text() -> str:
    return tr("Offline mode is on: downloads are off. Turn it off in the toolbar, or import a model file / "
              "use the starter model.")


def offline_notice(text: str, parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setObjectName("offlineNotice")
    label.setStyleSheet("QLabel#offlineNotice { background: #fff4ce; color: #5c4400; padding: 6px; "
                        "border-radius: 4px; }")
    label.setVisible(False)
    return label


def alive(obj: QObject) -> bool:
    return shiboken6.isValid(obj)


def guarded(owner: QObject, fn: Callable[..., None]) -> Callable[..., None]:
    """`fn`, but a no-op once `owner` is gone."""

    def call(*args: Any) -> None:
        if alive(owner):
            fn(*args)
    return call


class OpProgress(QWidget):
    """A bar and a line of text fed by an Op's `handle.report()`; polled, so a worker reporting per item
    costs the GUI nothing. Hidden when idle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)
        self.text = QLabel(self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.text)
        self._op: Op | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.setVisible(False)

    def follow(self, op: Op, text: str = "") -> None:
        self._op = op
        self.bar.setRange(0, 0)  # busy until the first report
        self.text.setText(text)
        self.setVisible(True)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._op = None
        self.setVisible(False)

    def _poll(self) -> None:
        if self._op is None:
            return
        fraction, text = self._op.handle.latest()
        if fraction is not None:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        if text:
            self.text.setText(text)
        if self._op.done:
            self._timer.stop()
