"""A one-line progress bar on stderr for downloads, hashing and copying.

On a terminal it redraws in place at most ~8 times a second; when stderr is a file or a pipe it
prints a line every 10 %, so logs stay readable.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from app.core.downloads import DownloadProgress, human_bytes, human_duration


class ProgressBar:
    def __init__(self, label: str, *, stream: TextIO | None = None, interval_s: float = 0.12,
                 amount: Callable[[int], str] = human_bytes) -> None:
        self.label = label
        self.amount = amount  # how a count is shown: bytes by default, or e.g. "12 chunks"
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval_s = interval_s
        self._last = 0.0
        self._last_decile = -1
        self._lock = threading.Lock()
        self._drawn = False

    def download(self, p: DownloadProgress) -> None:
        """Listener for DownloadManager events."""
        if p.message and p.state == "running":
            self.note(p.message)
        extra = []
        if p.rate_bps:
            extra.append(f"{human_bytes(p.rate_bps)}/s")
        if p.eta_s is not None and p.state == "running":
            extra.append(f"ETA {human_duration(p.eta_s)}")
        if p.files_total > 1:
            extra.append(f"file {min(p.files_done + 1, p.files_total)}/{p.files_total}")
        self.update(p.bytes_done, p.total_bytes, "  ".join(extra), force=p.state != "running")

    def bytes(self, done: int, total: int) -> None:
        """Listener for hashing/copying progress (done, total)."""
        self.update(done, total, "")

    def update(self, done: int, total: int, extra: str, *, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            frac = done / total if total else 0.0
            if self.tty:
                if not force and now - self._last < self.interval_s and done < total:
                    return
                self._last = now
                width = max(10, min(30, shutil.get_terminal_size((80, 20)).columns - 70))
                filled = int(frac * width)
                bar = "█" * filled + "░" * (width - filled)
                line = (f"{self.label[:28]:<28} {frac * 100:5.1f}% {bar} "
                        f"{self.amount(done)}/{self.amount(total)}  {extra}")
                self.stream.write("\r\x1b[2K" + line)
                self._drawn = True
            else:
                decile = int(frac * 10)
                if decile == self._last_decile and not force:
                    return
                self._last_decile = decile
                amount = f"{self.amount(done)}/{self.amount(total)}"
                self.stream.write(f"{self.label}: {frac * 100:.0f}% ({amount}) {extra}\n")
            self.stream.flush()

    def note(self, message: str) -> None:
        with self._lock:
            if self.tty and self._drawn:
                self.stream.write("\r\x1b[2K")
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.tty and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
            self._drawn = False
