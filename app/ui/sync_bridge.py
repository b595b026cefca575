"""The GUI's side of background sync: the scheduler's views, handed over to the GUI thread.

`SyncScheduler` (app.services.sync.scheduler) runs rounds on its own plain thread and calls its
listeners there; this bridge re-emits each view as a Qt signal, so the indicator, the Account page
and the notes panel only ever see it on the GUI thread. The bridge also re-reads the status after
a local write or a sign-in (on the database worker), so "N changes pending" is right between rounds.

The container builds the scheduler lazily and rebuilds it when a setting it depends on changes
(`allow_plaintext_secrets` rebuilds the secret store, the client and the scheduler): `attach()`
adopts whichever scheduler the container holds now, and is called again after every settings change.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.core.settings import LanternSettings
from app.services.sync.client import SyncStatus
from app.services.sync.scheduler import SyncView
from app.ui.app_context import AppContext
from app.ui.op import Op

log = logging.getLogger(__name__)


def view_from_status(status: SyncStatus | None, *, offline: bool, previous: SyncView) -> SyncView:
    """The view a freshly read status calls for, between the scheduler's own reports: a running round
    stays "syncing", and a stored error stays shown until a round clears it."""
    if status is None or not status.signed_in:
        return SyncView("signed_out", status)
    if offline:
        return SyncView("offline", status)
    if previous.activity == "syncing":
        return SyncView("syncing", status)
    if status.last_error:
        return SyncView("error", status, status.last_error, status.last_error_hint, previous.retry_in_s)
    return SyncView("idle", status)


class SyncBridge(QObject):
    view_changed = Signal(object)  # SyncView, on the GUI thread
    round_finished = Signal()  # a round ended (records may have arrived): views of the record reload
    _from_scheduler = Signal(object)  # emitted on the scheduler's thread, delivered queued
    _from_record = Signal()  # a local write, emitted on the writing thread

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.view = SyncView("signed_out", None)
        self.scheduler: Any = None
        self._stopped = False
        self._offline = ctx.settings.offline
        self._refreshing = False
        self._refresh_again = False
        self._reports = 0  # scheduler views seen: a status read before the latest one is stale
        self._remove_record_listener: Any = None
        self._from_scheduler.connect(self._on_scheduler_view)
        self._from_record.connect(self.refresh)

    # -- life ------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Build (on the database worker) and start the container's scheduler; a no-op for the one
        attached already. It decides itself whether to run rounds (signed in, online)."""
        if self._stopped:
            return

        def build() -> tuple[Any, Any]:
            return self.ctx.services.sync_scheduler, self.ctx.record

        Op(self, build).success(self._adopt).run(executor=self.ctx.db)

    def _adopt(self, built: tuple[Any, Any]) -> None:
        scheduler, record = built
        if self._stopped or scheduler is self.scheduler:
            return
        self.scheduler = scheduler
        scheduler.add_listener(self._scheduler_reported)
        if self._remove_record_listener is None:
            self._remove_record_listener = record.add_listener(self._record_written)
        scheduler.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """On quit: no more views, and the scheduler's thread is joined (the container stops it too)."""
        if self._stopped:
            return
        self._stopped = True
        if self._remove_record_listener is not None:
            self._remove_record_listener()
        if self.scheduler is not None:
            self.scheduler.stop(timeout_s)

    def settings_changed(self, settings: LanternSettings) -> None:
        """Adopt a rebuilt scheduler (once the window has started sync); turning offline mode on or off
        makes it look again at once."""
        if self.scheduler is not None:
            self.attach()
        if settings.offline != self._offline:
            self._offline = settings.offline
            self.wake()

    # -- asking it -------------------------------------------------------------------------------

    def wake(self) -> None:
        """After signing in or out, or an offline switch: the scheduler re-checks its conditions."""
        if self.scheduler is not None and not self._stopped:
            self.scheduler.wake()
        self.refresh()

    def sync_now(self) -> None:
        if self.scheduler is not None and not self._stopped:
            self.scheduler.sync_now()

    def ran_a_round(self) -> None:
        """A round ran outside the scheduler ("Sync now" on the Account page): show its outcome, and let
        the record's views reload as after the scheduler's own rounds."""
        self.refresh()
        self.round_finished.emit()

    def refresh(self) -> None:
        """Re-read the status on the database worker and show it; calls while one runs coalesce. A read
        overtaken by a scheduler report is dropped: that report carries a status at least as new."""
        if self._stopped:
            return
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        reports = self._reports

        def read() -> SyncStatus:
            status: SyncStatus = self.ctx.services.sync.status()
            return status

        def shown(status: SyncStatus | None) -> None:
            self._refreshing = False
            if not self._stopped and reports == self._reports:
                self._set_view(view_from_status(status, offline=self.ctx.services.gate.offline, previous=self.view))
            if self._refresh_again:
                self._refresh_again = False
                self.refresh()

        def failed(exc: Exception) -> None:
            log.warning("could not read the sync status: %s", exc)
            shown(None)

        Op(self, read).success(shown).failure(failed).run(executor=self.ctx.db)

    # -- reports ---------------------------------------------------------------------------------

    def _scheduler_reported(self, view: SyncView) -> None:
        """The scheduler's thread: hand the view over; a bridge already deleted is simply gone."""
        try:
            self._from_scheduler.emit(view)
        except RuntimeError:
            log.debug("sync view after the window closed: dropped")

    def _record_written(self) -> None:
        try:
            self._from_record.emit()
        except RuntimeError:
            log.debug("record write after the window closed: ignored")

    @Slot(object)
    def _on_scheduler_view(self, view: SyncView) -> None:
        if self._stopped:
            return
        self._reports += 1
        finished = self.view.activity == "syncing" and view.activity != "syncing"
        self._set_view(view)
        if finished:
            self.round_finished.emit()

    def _set_view(self, view: SyncView) -> None:
        self.view = view
        self.view_changed.emit(view)
