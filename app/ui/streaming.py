"""Stream a service iterator into the GUI without flooding the event loop.

The iterator (e.g. `TutorSession.ask`, whose generation itself runs on the model's worker) is
walked on a pool thread; its items are appended to a locked list, and a GUI-thread timer hands the
batch to the view every `FLUSH_MS`. One timer tick per 40 ms instead of one signal per token keeps
the window responsive at any token rate (DESIGN.md, "Threading").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from app.core.errors import OperationCancelled
from app.core.inference import CancelToken

FLUSH_MS = 40


class _Worker(QRunnable):
    def __init__(self, call: Callable[[], None]) -> None:
        super().__init__()
        self.call = call

    def run(self) -> None:
        self.call()


class EventStream(QObject):
    """Walks `make_items(cancel)` on a worker; `batch` delivers lists of items on the GUI thread.

    Exactly one of `finished` / `failed(exc)` follows the last batch. A cancel is not a failure:
    a stream stopped with `stop()` ends with `finished`.
    """

    batch = Signal(list)
    finished = Signal()
    failed = Signal(object)

    _live: ClassVar[set[EventStream]] = set()  # keep a stream alive while its worker runs

    def __init__(self, make_items: Callable[[CancelToken], Iterator[Any]], parent: QObject | None = None,
                 *, interval_ms: int = FLUSH_MS) -> None:
        super().__init__(parent)
        self.token = CancelToken()
        self._make_items = make_items
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._outcome: tuple[str, BaseException | None] | None = None
        self._worker_done = threading.Event()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._flush)
        self.running = False

    def start(self) -> EventStream:
        self.running = True
        EventStream._live.add(self)
        self._timer.start()
        QThreadPool.globalInstance().start(_Worker(self._walk))
        return self

    def stop(self) -> None:
        """Ask the worker to stop at the next item; `finished` still follows."""
        self.token.cancel()

    def wait(self, timeout_s: float) -> bool:
        """Block until the worker has ended (for shutdown); True if it did."""
        return self._worker_done.wait(timeout_s)

    def _walk(self) -> None:
        outcome: tuple[str, BaseException | None] = ("finished", None)
        try:
            for item in self._make_items(self.token):
                with self._lock:
                    self._pending.append(item)
                if self.token.cancelled:
                    break
        except OperationCancelled:
            outcome = ("finished", None)  # a cancel ends the stream normally, never as a failure
        except Exception as exc:
            outcome = ("finished", None) if self.token.cancelled else ("failed", exc)
        with self._lock:
            self._outcome = outcome
        self._worker_done.set()

    def _flush(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
            outcome = self._outcome
        if items:
            self.batch.emit(items)
        if outcome is None:
            return
        self._timer.stop()
        self.running = False
        EventStream._live.discard(self)
        kind, exc = outcome
        if kind == "failed":
            self.failed.emit(exc)
        else:
            self.finished.emit()
