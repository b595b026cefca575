"""Settings → Account: sign this device in to a sync server, see how sync stands, list the devices.

What the page does happens at once (OK and Cancel of the settings dialog do not undo a sign-in):
the account lives in the learning record and the token in the secret store, both owned by the sync
client (app.services.sync.client). Network calls run on the shared thread pool (they may wait on a
slow server; the database worker must stay free for the reader), status reads on the database
worker. The password is taken out of its field when a button uses it, handed to that one call and
never stored or logged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services.sync.client import SyncStatus, default_device_name
from app.services.sync.scheduler import SyncView
from app.ui import confirm
from app.ui.app_context import AppContext
from app.ui.error_dialog import show_error
from app.ui.i18n import Retranslatable, tr
from app.ui.op import Op
from app.ui.sync_bridge import SyncBridge
from app.ui.sync_status import ago, conflicts_text

_ERROR_STYLE = "color: #d93025;"


def status_lines(status: SyncStatus | None, now: datetime | None = None) -> list[str]:
    """The page's status, one fact a line."""
    now = now or datetime.now(UTC)
    if status is None:
        return [tr("The sync status cannot be read right now.")]
    if not status.signed_in or status.account is None:
        lines = [tr("Not signed in. Notes and progress stay on this device and sync once you sign in.")]
    else:
        account = status.account
        lines = [tr("Signed in as {user} on {server}; this device is “{device}”.").format(
            user=account.user, server=account.server, device=account.device_name)]
        lines.append(tr("Last synced {ago}.").format(ago=ago(status.last_synced_at, now))
                     if status.last_synced_at else tr("Not synced yet."))
    if status.pending:
        lines.append(tr("1 change waiting to sync.") if status.pending == 1
                     else tr("{n} changes waiting to sync.").format(n=status.pending))
    if status.conflicts:
        lines.append(conflicts_text(status.conflicts))
    return lines


class AccountPage(Retranslatable, QWidget):
    resolve_requested = Signal()  # "Resolve…": the window opens the conflicts view

    def __init__(self, ctx: AppContext, bridge: SyncBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.bridge = ctx, bridge
        self.status: SyncStatus | None = None
        self.busy = False
        self._devices_of: str | None = None  # the device id whose account the list shows

        self.intro = QLabel(self)
        self.intro.setWordWrap(True)
        self.server = QLineEdit(self)
        self.server.setObjectName("syncServer")
        self.server.setPlaceholderText("https://sync.example.org")
        self.user = QLineEdit(self)
        self.user.setObjectName("syncUser")
        self.password = QLineEdit(self)
        self.password.setObjectName("syncPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.device_name = QLineEdit(default_device_name(), self)
        self.device_name.setObjectName("syncDeviceName")
        self.form = QFormLayout()
        self._labels = [QLabel(self) for _ in range(4)]
        for label, field in zip(self._labels, (self.server, self.user, self.password, self.device_name), strict=True):
            label.setBuddy(field)
            self.form.addRow(label, field)

        self.register_button = QPushButton(self)
        self.sign_in_button = QPushButton(self)
        self.sign_out_button = QPushButton(self)
        self.sync_button = QPushButton(self)
        self.register_button.clicked.connect(lambda: self._sign_in(register=True))
        self.sign_in_button.clicked.connect(lambda: self._sign_in(register=False))
        self.sign_out_button.clicked.connect(self.sign_out)
        self.sync_button.clicked.connect(self.sync_now)
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(90)
        self.busy_bar.hide()
        buttons = QHBoxLayout()
        for button in (self.register_button, self.sign_in_button, self.sign_out_button, self.sync_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.busy_bar)

        self.status_label = QLabel(self)
        self.status_label.setObjectName("syncStatusLine")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.hide()
        self.notice_label = QLabel(self)  # what the last button did, when the status does not say it
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()
        self.resolve_button = QPushButton(self)
        self.resolve_button.clicked.connect(self.resolve_requested)
        self.resolve_button.hide()

        self.devices_box = QGroupBox(self)
        self.devices = QListWidget(self.devices_box)
        self.devices.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.revoke_button = QPushButton(self.devices_box)
        self.revoke_button.clicked.connect(self.revoke_selected)
        devices_layout = QVBoxLayout(self.devices_box)
        devices_layout.addWidget(self.devices)
        devices_layout.addWidget(self.revoke_button, 0, Qt.AlignmentFlag.AlignRight)
        self.devices_box.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.notice_label)
        layout.addWidget(self.resolve_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.devices_box, 1)
        layout.addStretch(0)

        bridge.view_changed.connect(self._view_changed)
        self.retranslate()
        self._update_buttons()
        self.refresh()

    def retranslate(self) -> None:
        self.intro.setText(tr("Sign in to a Lantern sync server to keep notes, bookmarks and progress in step "
                              "across your devices. Signing in or out happens at once; OK and Cancel do not undo it."))
        for label, text in zip(self._labels, (tr("Server"), tr("User name"), tr("Password"), tr("This device")),
                               strict=True):
            label.setText(text)
        self.register_button.setText(tr("Register"))
        self.sign_in_button.setText(tr("Sign in"))
        self.sign_out_button.setText(tr("Sign out"))
        self.sync_button.setText(tr("Sync now"))
        self.resolve_button.setText(tr("Resolve…"))
        self.devices_box.setTitle(tr("Devices on this account"))
        self.revoke_button.setText(tr("Revoke"))
        self.revoke_button.setToolTip(tr("Sign that device out: its sync token stops working."))
        self._show_status(self.status)

    # -- reading ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the status (and the last account's details, to prefill the form) on the database worker."""
        ctx = self.ctx

        def read() -> tuple[SyncStatus, dict[str, str | None]]:
            remembered = {name: ctx.record.meta(f"sync.{name}") for name in ("server", "user", "device_name")}
            return ctx.services.sync.status(), remembered

        def shown(result: tuple[SyncStatus, dict[str, str | None]]) -> None:
            status, remembered = result
            for field, name in ((self.server, "server"), (self.user, "user"), (self.device_name, "device_name")):
                value = remembered[name]
                if value and (status.signed_in or not field.text().strip()):
                    field.setText(value)  # signed in: what the account is; signed out: a starting point
            self._show_status(status)

        Op(self, read).success(shown).run(executor=ctx.db)

    def _view_changed(self, view: SyncView) -> None:
        if view.status is not None:
            self._show_status(view.status)

    def _show_status(self, status: SyncStatus | None) -> None:
        self.status = status
        self.status_label.setText("\n".join(status_lines(status)) if status is not None else "")
        error = status.last_error if status is not None else None
        if error and status is not None:
            lines = [tr("Last sync failed: {error}").format(error=error), status.last_error_hint or ""]
            self.error_label.setText("\n".join(line for line in lines if line))
        self.error_label.setVisible(bool(error))
        self.resolve_button.setVisible(bool(status and status.conflicts))
        signed_in = bool(status and status.signed_in)
        self.devices_box.setVisible(signed_in)
        device_id = status.account.device_id if status is not None and signed_in and status.account else None
        if device_id != self._devices_of:
            self._devices_of = device_id  # listed once per sign-in, whichever report shows it first
            self.devices.clear()
            if device_id is not None:
                self.load_devices()
        self._update_buttons()

    def _update_buttons(self) -> None:
        signed_in = bool(self.status and self.status.signed_in)
        for widget in (self.server, self.user, self.password, self.device_name, self.register_button,
                       self.sign_in_button):
            widget.setEnabled(not self.busy and not signed_in)
        self.sign_out_button.setEnabled(not self.busy and signed_in)
        self.sync_button.setEnabled(not self.busy and signed_in and not self.ctx.settings.offline)
        self.sync_button.setToolTip(tr("Offline mode is on: turn it off to sync.") if self.ctx.settings.offline
                                    else "")
        item = self.devices.currentItem()
        device = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.revoke_button.setEnabled(not self.busy and device is not None and not device.current)

    # -- acting ----------------------------------------------------------------------------------

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """One network call at a time, off the GUI thread; a failure goes to the error dialog."""
        self.notice_label.hide()
        self._set_busy(True)

        def succeeded(result: Any) -> None:
            self._set_busy(False)
            done(result)

        def failed(exc: Exception) -> None:
            self._set_busy(False)
            show_error(self, exc)
            self.refresh()
            self.bridge.refresh()  # a failed round or a dropped token shows in the indicator too

        Op(self, fn).success(succeeded).failure(failed).run()

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busy_bar.setVisible(busy)
        self._update_buttons()

    def _sign_in(self, *, register: bool) -> None:
        server, user = self.server.text().strip(), self.user.text().strip()
        device = self.device_name.text().strip() or default_device_name()
        password = self.password.text()
        self.password.clear()  # used once, by this call only
        services = self.ctx.services

        def sign_in() -> Any:
            sync = services.sync
            return (sync.register if register else sync.login)(server, user, password, device)

        def signed_in(_account: Any) -> None:
            self.bridge.wake()  # the first round starts now
            self.refresh()

        self._run(sign_in, signed_in)

    def sign_out(self) -> None:
        def signed_out(reached: bool) -> None:
            if not reached:
                self.notice_label.setText(tr("The server could not be told; this device's token was removed here "
                                             "anyway."))
                self.notice_label.show()
            self.bridge.wake()
            self.refresh()

        services = self.ctx.services
        self._run(lambda: services.sync.logout(), signed_out)

    def sync_now(self) -> None:
        def synced(_report: Any) -> None:
            self.bridge.ran_a_round()
            self.refresh()

        services = self.ctx.services
        self._run(lambda: services.sync.sync_now(), synced)

    def load_devices(self) -> None:
        """A failure is said inside the list, not in a dialog: opening the page with the server down is
        no reason to interrupt."""
        services = self.ctx.services

        def unavailable(exc: Exception) -> None:
            self.devices.clear()
            message = getattr(exc, "user_message", None) or tr("The devices cannot be listed right now.")
            QListWidgetItem(message, self.devices).setFlags(Qt.ItemFlag.NoItemFlags)
            self._update_buttons()

        Op(self, lambda: services.sync.devices()).success(self._show_devices).failure(unavailable).run()

    def _show_devices(self, devices: list[Any]) -> None:
        self.devices.clear()
        now = datetime.now(UTC)
        for device in devices:
            if device.revoked:
                continue
            seen = ago(device.last_seen_at, now) if device.last_seen_at else tr("never")
            text = tr("{name} (last seen {seen})").format(name=device.name, seen=seen)
            if device.current:
                text += " · " + tr("this device")
            item = QListWidgetItem(text, self.devices)
            item.setData(Qt.ItemDataRole.UserRole, device)
        self._update_buttons()

    def revoke_selected(self) -> None:
        item = self.devices.currentItem()
        device = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if device is None or device.current:
            return
        if not confirm.ask(self, tr("Revoke {name}?").format(name=device.name),
                           tr("That device is signed out at once; its changes not yet synced wait on it until it "
                              "signs in again."), tr("Revoke")):
            return
        services, device_id = self.ctx.services, device.device_id
        self._run(lambda: services.sync.revoke_device(device_id), lambda _none: self.load_devices())
