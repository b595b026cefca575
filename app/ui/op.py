"""Run service work off the GUI thread (Anki's CollectionOp/QueryOp chain is the model).

    Op(parent, fn).success(on_done).failure(on_error).with_progress(tr("Indexing…")).run()

`fn` runs on a worker and never touches widgets; `success`/`failure`/`cancelled` run on the GUI
thread. `fn` may take no argument, or one required argument, the `OpHandle` (its cancel token and a thread-safe
`report(fraction, text)` for the progress dialog). A LanternError goes to the failure handler (by
default the one error dialog); a cancel (`OperationCancelled`, or the token set) is never an error.

`run(executor=...)` picks the worker: the GUI's database worker, or the shared thread pool for the
rest (downloads and the model have their own workers in the services).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from app.core.errors import OperationCancelled
from app.core.inference import CancelToken
from app.ui.i18n import tr

PROGRESS_DELAY_MS = 600  # quick work never flashes a dialog


class _Relay(QObject):
    finished = Signal(object)
    failed = Signal(object)


class OpHandle:
    """What a running op's function may use: the cancel token and a progress reporter."""

    def __init__(self) -> None:
        self.token = CancelToken()
        self._lock = threading.Lock()
        self._progress: tuple[float | None, str | None] = (None, None)

    def report(self, fraction: float | None = None, text: str | None = None) -> None:
        """Thread-safe; the GUI polls the latest value, so calling it per item costs nothing."""
        with self._lock:
            self._progress = (fraction, text)

    def latest(self) -> tuple[float | None, str | None]:
        with self._lock:
            return self._progress

    def raise_if_cancelled(self) -> None:
        if self.token.cancelled:
            raise OperationCancelled()


class _Job(QRunnable):
    def __init__(self, call: Callable[[], None]) -> None:
        super().__init__()
        self.call = call

    def run(self) -> None:
        self.call()


class Op:
    _running: ClassVar[set[Op]] = set()  # keep ops (and their relays) alive until they report back

    def __init__(self, parent: QObject | None, fn: Callable[..., Any]) -> None:
        self.parent, self.fn = parent, fn
        self.handle = OpHandle()
        self._success: Callable[[Any], None] = lambda _result: None
        self._failure: Callable[[Exception], None] | None = None
        self._cancelled: Callable[[], None] = lambda: None
        self._progress_label: str | None = None
        self._cancellable = False
        self._dialog: QProgressDialog | None = None
        self._poll: QTimer | None = None
        self.relay = _Relay()
        self.done = False

    def success(self, fn: Callable[[Any], None]) -> Op:
        self._success = fn
        return self

    def failure(self, fn: Callable[[Exception], None]) -> Op:
        self._failure = fn
        return self

    def cancelled(self, fn: Callable[[], None]) -> Op:
        self._cancelled = fn
        return self

    def with_progress(self, label: str, *, cancellable: bool = False) -> Op:
        self._progress_label, self._cancellable = label, cancellable
        return self

    def cancel(self) -> None:
        self.handle.token.cancel()

    @classmethod
    def cancel_all(cls) -> None:
        """On quit: every running op stops at its next check."""
        for op in list(cls._running):
            op.cancel()

    def run(self, executor: Executor | None = None) -> Op:
        Op._running.add(self)
        self.relay.finished.connect(self._on_finished)
        self.relay.failed.connect(self._on_failed)
        call = self._call
        if executor is not None:
            executor.submit(call)
        else:
            QThreadPool.globalInstance().start(_Job(call))
        if self._progress_label is not None:
            QTimer.singleShot(PROGRESS_DELAY_MS, self._show_progress)
        return self

    def _call(self) -> None:
        takes_handle = _requires_an_argument(self.fn)
        try:
            result = self.fn(self.handle) if takes_handle else self.fn()
        except Exception as exc:
            self.relay.failed.emit(exc)
        else:
            self.relay.finished.emit(result)

    def _show_progress(self) -> None:
        if self.done:
            return
        parent = self.parent if isinstance(self.parent, QWidget) else None
        dialog = QProgressDialog(self._progress_label or "", tr("Cancel") if self._cancellable else "", 0, 0, parent)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        if self._cancellable:
            dialog.canceled.connect(self.cancel)
        else:
            dialog.setCancelButton(None)
        dialog.show()
        self._dialog = dialog
        self._poll = QTimer(dialog)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._update_progress)
        self._poll.start()

    def _update_progress(self) -> None:
        if self._dialog is None:
            return
        fraction, text = self.handle.latest()
        if fraction is not None:
            self._dialog.setRange(0, 1000)
            self._dialog.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        if text:
            self._dialog.setLabelText(text)

    def _close_progress(self) -> None:
        self.done = True
        Op._running.discard(self)
        if self._dialog is not None:
            if self._poll is not None:
                self._poll.stop()
            self._dialog.reset()
            self._dialog.close()
            self._dialog.deleteLater()
            self._dialog = None

    def _on_finished(self, result: Any) -> None:
        self._close_progress()
        self._success(result)  # it finished, even if a cancel came too late to stop it

    def _on_failed(self, exc: Exception) -> None:
        self._close_progress()
        if isinstance(exc, OperationCancelled) or self.handle.token.cancelled:
            self._cancelled()  # a cancel is never an error
        elif self._failure is not None:
            self._failure(exc)
        else:
            from app.ui.error_dialog import show_error

            show_error(self.parent, exc)


def _requires_an_argument(fn: Callable[..., Any]) -> bool:
    """True when `fn` has a positional parameter without a default (it wants the OpHandle)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: call them bare
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
