"""The status bar's sync indicator: signed out, offline, syncing, synced a while ago, changes
pending, a failed round (its hint in the tooltip), notes in conflict.

It shows the latest `SyncView` the bridge handed over (app.ui.sync_bridge) and reads nothing
itself; a timer only re-words "synced N min ago". A click asks the window for the place that can
act on what it shows: the Resolve view when notes are in conflict, else Settings → Account.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QToolButton, QWidget

from app.services.sync.scheduler import SyncView
from app.ui.i18n import Retranslatable, tr

REWORD_MS = 30_000  # "synced 2 min ago" stays roughly true without any I/O
_ATTENTION_STYLE = "color: #d93025;"


def ago(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return tr("just now")
    if seconds < 3600:
        return tr("{n} min ago").format(n=seconds // 60)
    if seconds < 86_400:
        return tr("{n} h ago").format(n=seconds // 3600)
    return tr("on {date}").format(date=when.astimezone().strftime("%Y-%m-%d"))


def pending_text(n: int) -> str:
    return tr("1 change pending") if n == 1 else tr("{n} changes pending").format(n=n)


def conflicts_text(n: int) -> str:
    return tr("1 note conflict") if n == 1 else tr("{n} note conflicts").format(n=n)


def describe(view: SyncView, now: datetime | None = None) -> tuple[str, str]:
    """(text, tooltip) for a view."""
    now = now or datetime.now(UTC)
    status = view.status
    tips: list[str] = []
    if view.activity == "signed_out":
        parts = [tr("Sync: not signed in")]
        tips.append(tr("Sign in (Settings → Account) to keep notes and progress in step across your devices."))
    elif view.activity == "offline":
        parts = [tr("Sync: offline")]
        tips.append(tr("Offline mode is on: changes stay on this device and sync when it is turned off."))
    elif view.activity == "syncing":
        parts = [tr("Syncing…")]
    elif view.activity == "error":
        parts = [tr("Sync failed")]
        tips += [t for t in (view.error, view.hint) if t]
        if view.retry_in_s:
            tips.append(tr("Lantern tries again in {s} s.").format(s=int(view.retry_in_s)))
    elif status is not None and status.last_synced_at is not None:
        parts = [tr("Synced {ago}").format(ago=ago(status.last_synced_at, now))]
    else:
        parts = [tr("Not synced yet")]
    if status is not None:
        if status.pending and view.activity not in ("syncing", "signed_out"):  # signed out: everything, ever
            parts.append(pending_text(status.pending))
        if status.conflicts:
            parts.append(conflicts_text(status.conflicts))
            tips.append(tr("Notes were edited on two devices: click to choose what to keep."))
        if status.account is not None and status.signed_in:
            tips.append(tr("Signed in as {user} on {server}.").format(user=status.account.user,
                                                                     server=status.account.server))
    return " · ".join(parts), "\n".join(tips)


def wants_attention(view: SyncView) -> bool:
    return view.activity == "error" or bool(view.status and view.status.conflicts)


class SyncStatusIndicator(Retranslatable, QToolButton):
    """Flat text in the status bar; `open_requested` says "conflicts" or "account"."""

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncStatus")
        self.setAutoRaise(True)
        self.view = SyncView("signed_out", None)
        self.clicked.connect(self._clicked)
        self._timer = QTimer(self)
        self._timer.setInterval(REWORD_MS)
        self._timer.timeout.connect(self.retranslate)
        self._timer.start()
        self.retranslate()

    def show_view(self, view: SyncView) -> None:
        self.view = view
        self.retranslate()

    def retranslate(self) -> None:
        text, tip = describe(self.view)
        self.setText(text)
        self.setToolTip(tip)
        self.setStyleSheet(_ATTENTION_STYLE if wants_attention(self.view) else "")

    def _clicked(self) -> None:
        status = self.view.status
        self.open_requested.emit("conflicts" if status is not None and status.conflicts else "account")
