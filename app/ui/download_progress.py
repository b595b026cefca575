"""Download progress in the GUI: the same DownloadProgress events the CLI bar prints.

The download manager calls listeners on its worker threads; `DownloadProgressRelay` keeps the latest
event per job and hands them to the GUI thread on a short timer, so a fast download does not flood
the event loop with one signal per network read. `DownloadProgressView` is one row: a bar, what is
happening, and pause/resume/cancel.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.core.downloads import DownloadProgress, human_bytes, human_duration
from app.ui.i18n import tr

FLUSH_MS = 50


class DownloadProgressRelay(QObject):
    progress = Signal(object)  # DownloadProgress, delivered on the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: dict[int, DownloadProgress] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self._flush)
        self._timer.start()
        self._unsubscribe: Any = None

    def attach(self, manager: Any) -> None:
        self._unsubscribe = manager.subscribe(self.listener)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._timer.stop()

    def listener(self, event: DownloadProgress) -> None:
        """Called on download threads: only stores the event."""
        with self._lock:
            self._pending[event.job_id] = event

    def _flush(self) -> None:
        with self._lock:
            events, self._pending = list(self._pending.values()), {}
        for event in events:
            self.progress.emit(event)


def describe(p: DownloadProgress) -> str:
    amount = f"{human_bytes(p.bytes_done)} / {human_bytes(p.total_bytes)}"
    if p.state == "running":
        parts = [amount]
        if p.rate_bps:
            parts.append(f"{human_bytes(p.rate_bps)}/s")
        if p.eta_s is not None:
            parts.append(tr("{} left").format(human_duration(p.eta_s)))
        return " · ".join(parts)
    labels = {"queued": tr("Waiting for another download to finish"), "paused": tr("Paused at {}").format(amount),
              "verifying": tr("Checking the file…"), "done": tr("Downloaded and verified"),
              "cancelled": tr("Cancelled"), "failed": tr("Failed: {}").format(p.message or "")}
    return labels[p.state]


class DownloadProgressView(QWidget):
    """One download: label, bar, status line, and the buttons that act on the job."""

    def __init__(self, job: Any, relay: DownloadProgressRelay, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.title = QLabel(job.request.label)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QLabel(tr("Waiting…"))
        self.pause_button = QPushButton(tr("Pause"))
        self.cancel_button = QPushButton(tr("Cancel"))
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button.clicked.connect(job.cancel)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.status)
        relay.progress.connect(self.show_progress)
        self.show_progress(job.progress)

    def show_progress(self, p: DownloadProgress) -> None:
        if p.job_id != self.job.id:
            return
        self.bar.setValue(int(p.fraction * 1000))
        self.status.setText(describe(p))
        finished = p.state in ("done", "failed", "cancelled")
        self.pause_button.setText(tr("Resume") if p.state == "paused" else tr("Pause"))
        self.pause_button.setEnabled(not finished)
        self.cancel_button.setEnabled(not finished)

    def _toggle_pause(self) -> None:
        if self.job.state == "paused":
            self.job.resume()
        else:
            self.job.pause()
