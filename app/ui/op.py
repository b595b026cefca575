"""Run service work off the GUI thread (Anki's CollectionOp/QueryOp chain is the model).

    Op(parent, fn).success(on_done).failure(on_error).run()

`fn` runs on a worker thread and never touches widgets; `success`/`failure` run on the GUI thread.
A LanternError goes to the failure handler (by default the error dialog); a cancel is not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Relay(QObject):
    finished = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn, self.relay = fn, relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            self.relay.failed.emit(exc)
        else:
            self.relay.finished.emit(result)


class Op:
    _running: ClassVar[set[Op]] = set()  # keep ops (and their relays) alive until they report back

    def __init__(self, parent: QObject | None, fn: Callable[[], Any]) -> None:
        self.parent, self.fn = parent, fn
        self._success: Callable[[Any], None] = lambda _result: None
        self._failure: Callable[[Exception], None] | None = None
        self.relay = _Relay()

    def success(self, fn: Callable[[Any], None]) -> Op:
        self._success = fn
        return self

    def failure(self, fn: Callable[[Exception], None]) -> Op:
        self._failure = fn
        return self

    def run(self, pool: QThreadPool | None = None) -> Op:
        Op._running.add(self)
        self.relay.finished.connect(self._on_finished)
        self.relay.failed.connect(self._on_failed)
        (pool or QThreadPool.globalInstance()).start(_Job(self.fn, self.relay))
        return self

    def _on_finished(self, result: Any) -> None:
        Op._running.discard(self)
        self._success(result)

    def _on_failed(self, exc: Exception) -> None:
        Op._running.discard(self)
        if self._failure is not None:
            self._failure(exc)
        else:
            from app.ui.error_dialog import show_error

            show_error(self.parent, exc)
