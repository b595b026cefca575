"""Background sync for the app: when to run a round, and what the status bar shows meanwhile.

A round runs only while this device is signed in and offline mode is off: once at start, a few
seconds after a local change (debounced, so typing a note is one round, not one per keystroke),
on a timer, and when asked ("Sync now"). A failed round is retried with exponential backoff (the
server's Retry-After when it sends one); a refused sign-in stops retrying until the learner signs in
again. Plain threads, no Qt: the GUI listens through `add_listener` and hops to its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from app.core.errors import LanternError, OfflineModeEnabled, SyncAuthFailed, SyncError, SyncNotSignedIn
from app.services.sync.client import SyncClient, SyncStatus

log = logging.getLogger(__name__)

Activity = Literal["signed_out", "offline", "syncing", "idle", "error"]


@dataclass(frozen=True)
class SyncView:
    """What the indicator shows: the activity, the client's status, and when the next try is due."""

    activity: Activity
    status: SyncStatus | None
    error: str | None = None
    hint: str | None = None
    retry_in_s: float | None = None


class SyncScheduler:
    def __init__(self, client: SyncClient, *, offline: Callable[[], bool], debounce_s: float = 3.0,
                 interval_s: float = 300.0, backoff_s: tuple[float, float] = (5.0, 600.0)) -> None:
        self.client = client
        self._offline = offline
        self.debounce_s = debounce_s
        self.interval_s = interval_s
        self.backoff_s = backoff_s
        self._cond = threading.Condition()
        self._due: float | None = 0.0  # monotonic time of the next round; 0 = at start
        self._failures = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[SyncView], None]] = []
        self._view = SyncView("signed_out", None)
        self._remove_record_listener = client.record.add_listener(self.changed)

    # -- control -------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lantern-sync", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._remove_record_listener()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def changed(self) -> None:
        """A local write: sync in `debounce_s`, unless a round is due sooner already."""
        self._schedule(time.monotonic() + self.debounce_s, keep_sooner=True)

    def sync_now(self) -> None:
        """Run a round as soon as possible (also after a refused sign-in or during backoff)."""
        self._failures = 0
        self._schedule(time.monotonic(), keep_sooner=False)

    def wake(self) -> None:
        """Something the conditions depend on changed (offline mode, signing in or out): look again."""
        self.sync_now()

    def _schedule(self, when: float, *, keep_sooner: bool) -> None:
        with self._cond:
            if not (keep_sooner and self._due is not None and self._due <= when):
                self._due = when
            self._cond.notify_all()

    # -- what it shows -------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[SyncView], None]) -> None:
        with self._cond:
            self._listeners.append(listener)

    @property
    def view(self) -> SyncView:
        return self._view

    def _show(self, view: SyncView) -> None:
        self._view = view
        with self._cond:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(view)
            except Exception:
                log.exception("a sync listener failed")

    def _status(self) -> SyncStatus | None:
        try:
            return self.client.status()
        except LanternError as err:
            log.warning("sync status unavailable: %s", err)
            return None

    # -- the loop ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (self._due is None or self._due > time.monotonic()):
                    self._cond.wait(None if self._due is None else max(0.0, self._due - time.monotonic()))
                if self._stopping:
                    return
                self._due = None
            self._round()

    def _round(self) -> None:
        status = self._status()
        if status is None or not status.signed_in:
            self._show(SyncView("signed_out", status))
            return  # wait for `wake` (signing in) or a change
        if self._offline():
            self._show(SyncView("offline", status))
            return  # wait for `wake` (offline mode turned off)
        self._show(SyncView("syncing", status))
        try:
            self.client.sync_now()
        except (SyncError, OfflineModeEnabled, LanternError) as err:
            self._failed(err)
            return
        except Exception as err:  # a bug must not kill the sync thread: show it, retry later
            log.exception("sync round failed")
            self._failed(SyncError(str(err)))
            return
        self._failures = 0
        self._show(SyncView("idle", self._status()))
        with self._cond:
            if self._due is None:
                self._due = time.monotonic() + self.interval_s

    def _failed(self, err: Exception) -> None:
        message = getattr(err, "user_message", str(err))
        hint = getattr(err, "hint", None)
        status = self._status()
        if isinstance(err, SyncNotSignedIn | SyncAuthFailed | OfflineModeEnabled):
            activity: Activity = "offline" if isinstance(err, OfflineModeEnabled) else "error"
            self._show(SyncView(activity, status, message, hint))
            return  # no retry until the learner signs in again or offline mode ends
        self._failures += 1
        low, high = self.backoff_s
        delay = min(high, low * 2 ** (self._failures - 1))
        retry_after = getattr(err, "retry_after_s", None)
        if retry_after:
            delay = max(delay, float(retry_after))
        with self._cond:
            if self._due is None or self._due < time.monotonic() + delay:
                self._due = time.monotonic() + delay
        log.info("sync failed (%s); retrying in %.0f s", message, delay)
        self._show(replace(SyncView("error", status, message, hint), retry_in_s=delay))
