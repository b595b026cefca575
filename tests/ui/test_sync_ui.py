"""Sync in the GUI against the real sync server on 127.0.0.1 (tests/support/sync_server.py, a subprocess):
registering through Settings → Account, the status-bar indicator through signed out → syncing → synced →
offline → failed with pending changes → synced again, notes that arrive from another device, and a note
conflict shown side by side and resolved in the Resolve view. The other device is a second
LANTERN_HOME with its own record and sync client (tests/support/sync_devices.py).

No OS keyring here: LANTERN_ALLOW_PLAINTEXT_SECRETS=1 puts the token in the private file of the test's home.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QMessageBox

from app.core.errors import SyncAuthFailed
from app.core.sync.records import LessonRef
from app.services.settings_store import load_settings, paths_for
from app.services.sync.client import Account, SyncStatus
from app.services.sync.scheduler import SyncView
from app.ui import confirm
from app.ui.app_context import AppContext
from app.ui.main_window import MainWindow
from app.ui.sync_status import describe
from tests.support.sync_devices import PASSWORD, Device, new_user
from tests.support.sync_server import SyncServerProcess

COURSE, LESSON = "python-from-zero", "01-first-program"
WAIT_MS = 20_000


@pytest.fixture
def plaintext_secrets(monkeypatch):
    monkeypatch.setenv("LANTERN_ALLOW_PLAINTEXT_SECRETS", "1")


@pytest.fixture
def server():
    with SyncServerProcess() as running:
        yield running


@pytest.fixture
def window(qtbot, lantern_home, plaintext_secrets):
    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings))
    ctx.state.setup_done = True
    ctx.state.course_id, ctx.state.lesson_id = COURSE, LESSON
    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.courses_ready, timeout=WAIT_MS):
        win.start()
    qtbot.waitUntil(lambda: win.sync_bridge.scheduler is not None, timeout=WAIT_MS)
    win.sync_bridge.scheduler.debounce_s = 0.2  # a local change syncs almost at once
    yield win
    win.close()


@pytest.fixture
def other_device(tmp_path):
    device = Device(tmp_path / "other-device")
    yield device
    device.close()


def error_boxes():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def indicator_text(window) -> str:
    return window.sync_indicator.text()


def sign_in(window, qtbot, server, user, *, register=True):
    """Through the service (the Account page has its own test), then wake the scheduler as the page does."""
    sync = window.ctx.services.sync
    (sync.register if register else sync.login)(server.url, user, PASSWORD, "laptop")
    window.sync_bridge.wake()
    qtbot.waitUntil(lambda: indicator_text(window).startswith("Synced"), timeout=WAIT_MS)


def test_register_through_settings_account(window, qtbot, server, lantern_home, other_device, monkeypatch):
    window.sync_indicator.click()  # signed out: the click opens Settings → Account
    dialog, page = window.settings_dialog, window.account_page
    assert dialog.tabs.currentWidget() is page and dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Account"
    assert page.password.echoMode() == QLineEdit.EchoMode.Password
    assert page.device_name.text(), "the device name defaults to the computer's name"
    assert not page.sign_out_button.isEnabled() and not page.sync_button.isEnabled()
    user = new_user("gui")
    page.server.setText(server.url)
    page.user.setText(user)
    page.password.setText(PASSWORD)
    page.device_name.setText("laptop")
    page.register_button.click()
    assert page.password.text() == "", "the password leaves its field as soon as it is used"
    qtbot.waitUntil(lambda: bool(page.status and page.status.signed_in), timeout=WAIT_MS)
    assert f"Signed in as {user} on {server.url}" in page.status_label.text()
    assert not page.register_button.isEnabled() and page.sign_out_button.isEnabled()
    qtbot.waitUntil(lambda: page.devices.count() == 1, timeout=WAIT_MS)
    assert "laptop" in page.devices.item(0).text() and "this device" in page.devices.item(0).text()
    assert not page.revoke_button.isEnabled() or page.devices.currentItem() is None
    qtbot.waitUntil(lambda: indicator_text(window).startswith("Synced"), timeout=WAIT_MS)
    assert "Signed in as" in window.sync_indicator.toolTip()

    # "Sync now" runs a round off the GUI thread, busy meanwhile.
    window.sync_bridge.scheduler.debounce_s = 60  # the button, not the scheduler, syncs this change
    window.ctx.record.set_bookmark(LessonRef(COURSE, LESSON), True)
    qtbot.waitUntil(lambda: "1 change waiting to sync." in page.status_label.text(), timeout=WAIT_MS)
    page.sync_button.click()
    assert page.busy and not page.sync_button.isEnabled() and page.busy_bar.isVisibleTo(page)
    qtbot.waitUntil(lambda: not page.busy and "waiting to sync" not in page.status_label.text(), timeout=WAIT_MS)
    assert "Last synced just now." in page.status_label.text()
    qtbot.waitUntil(lambda: indicator_text(window) == "Synced just now", timeout=WAIT_MS)
    assert not error_boxes()

    # Another device on the account is listed, and can be revoked from here.
    other_device.client.login(server.url, user, PASSWORD, "phone")
    page.load_devices()
    qtbot.waitUntil(lambda: page.devices.count() == 2, timeout=WAIT_MS)
    phone = next(i for i in range(2) if "phone" in page.devices.item(i).text())
    page.devices.setCurrentRow(phone)
    assert page.revoke_button.isEnabled()
    asked: list[str] = []
    monkeypatch.setattr(confirm, "ask", lambda _parent, question, *_rest: asked.append(question) or True)
    page.revoke_button.click()
    assert asked == ["Revoke phone?"]
    qtbot.waitUntil(lambda: page.devices.count() == 1 and not page.busy, timeout=WAIT_MS)
    assert "laptop" in page.devices.item(0).text()
    with pytest.raises(SyncAuthFailed):
        other_device.client.sync_now()
    # The password is in no file of this home (the token is, in the private secrets file).
    for path in lantern_home.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path

    page.sign_out_button.click()
    qtbot.waitUntil(lambda: bool(page.status and not page.status.signed_in), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: indicator_text(window) == "Sync: not signed in", timeout=WAIT_MS)
    assert page.server.text() == server.url and page.user.text() == user, "signing in again starts prefilled"
    dialog.reject()


def test_a_wrong_password_is_shown_with_its_hint(window, qtbot, server, other_device):
    user = new_user("gui")
    other_device.client.register(server.url, user, PASSWORD, "phone")
    window.open_settings(page="account")
    page = window.account_page
    page.server.setText(server.url)
    page.user.setText(user)
    page.password.setText("not the password")
    page.sign_in_button.click()
    qtbot.waitUntil(lambda: bool(error_boxes()), timeout=WAIT_MS)
    [box] = error_boxes()
    assert box.text() == "The user name or password is wrong." and box.informativeText()
    box.close()
    assert page.password.text() == "" and page.sign_in_button.isEnabled()
    window.settings_dialog.reject()


def test_the_indicator_follows_the_scheduler(window, qtbot, server):
    activities: list[str] = []
    window.sync_bridge.view_changed.connect(lambda view: activities.append(view.activity))
    assert indicator_text(window) == "Sync: not signed in"
    sign_in(window, qtbot, server, new_user("gui"))
    assert "syncing" in activities and activities.index("syncing") < len(activities) - 1
    assert indicator_text(window) == "Synced just now"

    # Offline mode: the scheduler looks again at once and pauses.
    window.offline_toggle.click()
    qtbot.waitUntil(lambda: indicator_text(window).startswith("Sync: offline"), timeout=WAIT_MS)
    window.offline_toggle.click()
    qtbot.waitUntil(lambda: indicator_text(window).startswith("Synced"), timeout=WAIT_MS)

    # The server goes away; a note written now waits, and the failure says what to do.
    server.stop()
    window.notes.editor.setPlainText("while loops need a way out")
    window.notes.add_button.click()
    # (A round already under way when the server stopped may fail first, before the note is written.)
    qtbot.waitUntil(lambda: indicator_text(window).startswith("Sync failed")
                    and "2 changes pending" in indicator_text(window), timeout=WAIT_MS)
    tip = window.sync_indicator.toolTip()
    assert "Cannot reach the sync server" in tip and "Check the connection" in tip and "tries again in" in tip
    assert not error_boxes(), "a background round never interrupts with a dialog"

    server.start()  # same port and database
    window.sync_bridge.sync_now()
    qtbot.waitUntil(lambda: indicator_text(window) == "Synced just now", timeout=WAIT_MS)
    assert window.sync_bridge.view.status.pending == 0


def test_a_note_conflict_is_shown_and_resolved(window, qtbot, server, other_device):
    user = new_user("gui")
    other = other_device
    other.client.register(server.url, user, PASSWORD, "phone")
    note = other.record.add_note(LessonRef(COURSE, LESSON), "print() shows a value")
    other.client.sync_now()

    # Signing in brings the other device's note into the open lesson's notes.
    sign_in(window, qtbot, server, user, register=False)
    qtbot.waitUntil(lambda: [n.id for n in window.notes.notes] == [note.id], timeout=WAIT_MS)

    # Both devices edit it before either sees the other's edit.
    panel = window.notes
    panel.list.setCurrentRow(0)
    assert panel.editor.toPlainText() == "print() shows a value"
    panel.editor.setPlainText("print() writes a line to the screen")
    panel.save_button.click()
    qtbot.waitUntil(lambda: panel.notes and panel.notes[0].text == "print() writes a line to the screen",
                    timeout=WAIT_MS)
    other.record.edit_note(note.id, "print() takes any number of values")
    other.client.sync_now()
    window.sync_bridge.sync_now()
    qtbot.waitUntil(lambda: panel.row(note.id) is not None and panel.row(note.id).badge is not None,
                    timeout=WAIT_MS)
    assert panel.row(note.id).badge.text() == "2 versions — Resolve"
    qtbot.waitUntil(lambda: "1 note conflict" in indicator_text(window), timeout=WAIT_MS)

    # The badge and the indicator both open the Resolve view.
    panel.row(note.id).badge.click()
    assert window.sync.conflicts_dialog.isVisible()
    window.sync.conflicts_dialog.reject()
    window.sync_indicator.click()
    dialog = window.sync.conflicts_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: note.id in dialog.cards, timeout=WAIT_MS)
    card = dialog.cards[note.id]
    texts = [view.toPlainText() for view in card.version_views]
    assert sorted(texts) == ["print() takes any number of values", "print() writes a line to the screen"]
    headings = [label.text() for label in card.findChildren(QLabel)]
    assert any("on this device" in h for h in headings) and any("on another device" in h for h in headings)
    assert "print() takes any number of values" in card.merged.toPlainText()
    kept = texts.index("print() takes any number of values")
    card.keep_buttons[kept].click()
    qtbot.waitUntil(lambda: not dialog.cards and dialog.empty_label.isVisible(), timeout=WAIT_MS)
    assert window.ctx.record.conflicts() == []
    qtbot.waitUntil(lambda: panel.notes and panel.notes[0].text == "print() takes any number of values"
                    and panel.row(note.id).badge is None, timeout=WAIT_MS)
    assert "print() takes any number of values" in panel.row(note.id).label.text()
    dialog.reject()

    # The resolution reaches the other device.
    window.sync_bridge.sync_now()
    qtbot.waitUntil(lambda: "conflict" not in indicator_text(window) and window.sync_bridge.view.status.pending == 0
                    and window.sync_bridge.view.activity == "idle", timeout=WAIT_MS)
    other.client.sync_now()
    assert other.record.conflicts() == []
    assert other.record.note(note.id).text == "print() takes any number of values"


def test_notes_are_added_edited_and_deleted_in_the_reader(window, qtbot, monkeypatch):
    panel = window.notes
    assert (panel.course_id, panel.lesson_id) == (COURSE, LESSON)
    assert not panel.add_button.isEnabled()
    panel.editor.setPlainText("first note")
    panel.add_button.click()
    qtbot.waitUntil(lambda: len(panel.notes) == 1, timeout=WAIT_MS)
    assert panel.editor.toPlainText() == ""
    stored = window.ctx.record.notes(COURSE, LESSON)
    assert [n.text for n in stored] == ["first note"] and stored[0].ref.lesson_id == LESSON
    panel.list.setCurrentRow(0)
    panel.editor.setPlainText("first note, edited")
    panel.save_button.click()
    qtbot.waitUntil(lambda: panel.notes and panel.notes[0].text == "first note, edited", timeout=WAIT_MS)
    panel.list.setCurrentRow(0)
    monkeypatch.setattr(confirm, "ask", lambda *_args: False)  # Cancel: nothing is deleted
    panel.delete_button.click()
    assert [n.text for n in window.ctx.record.notes(COURSE, LESSON)] == ["first note, edited"]
    monkeypatch.setattr(confirm, "ask", lambda *_args: True)
    panel.delete_button.click()
    qtbot.waitUntil(lambda: panel.notes == [], timeout=WAIT_MS)
    assert window.ctx.record.notes(COURSE, LESSON) == []

    # A note written while reading a section is filed under it.
    reader = window.reader
    assert reader.current_section() is None, "at the top of the lesson a note is on the whole lesson"
    positions = sorted(set(reader._anchor_blocks.values()))
    anchor = next(a for a, p in reader._anchor_blocks.items() if p == positions[1])
    assert reader.scroll_to_section(anchor)
    section = reader.current_section()
    assert section is not None and reader._anchor_blocks[section] == positions[1]
    panel.editor.setPlainText("about this section")
    panel.add_button.click()
    qtbot.waitUntil(lambda: len(panel.notes) == 1, timeout=WAIT_MS)
    assert panel.notes[0].ref.section == section and f"§ {section}" in panel.row(panel.notes[0].id).label.text()


def test_describe_words_each_state():
    account = Account("https://sync.example.org", "ana", "laptop", "d1")
    now = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)

    def status(**kw):
        base = dict(account=account, signed_in=True, pending=0, conflicts=0, last_synced_at=now - timedelta(minutes=5),
                    last_error=None, last_error_hint=None)
        return SyncStatus(**{**base, **kw})

    assert describe(SyncView("signed_out", None), now)[0] == "Sync: not signed in"
    signed_out = status(signed_in=False, pending=9, conflicts=1)
    assert describe(SyncView("signed_out", signed_out), now)[0] == "Sync: not signed in · 1 note conflict"
    assert describe(SyncView("idle", status()), now)[0] == "Synced 5 min ago"
    assert describe(SyncView("idle", status(pending=1)), now)[0] == "Synced 5 min ago · 1 change pending"
    assert describe(SyncView("idle", status(conflicts=2)), now)[0] == "Synced 5 min ago · 2 note conflicts"
    assert describe(SyncView("syncing", status(pending=3)), now)[0] == "Syncing…"
    text, tip = describe(SyncView("error", status(pending=2), "Cannot reach it.", "Check the cable.", 10.0), now)
    assert text == "Sync failed · 2 changes pending"
    assert tip.startswith("Cannot reach it.\nCheck the cable.\nLantern tries again in 10 s.")
    assert describe(SyncView("offline", status(last_synced_at=None)), now)[0] == "Sync: offline"


def test_a_scheduler_rebuilt_by_a_settings_change_is_adopted(window, qtbot):
    """allow_plaintext_secrets rebuilds the secret store, the client and the scheduler: the old thread ends,
    the new scheduler reports to the same indicator."""
    old = window.sync_bridge.scheduler
    window.ctx.apply_settings(window.ctx.settings.model_copy(update={"allow_plaintext_secrets": False}))
    qtbot.waitUntil(lambda: window.sync_bridge.scheduler is not old, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not old._thread.is_alive(), timeout=WAIT_MS)
    new = window.sync_bridge.scheduler
    assert new is window.ctx.services.sync_scheduler and new._thread.is_alive()
    views: list[SyncView] = []
    window.sync_bridge.view_changed.connect(views.append)
    new.sync_now()
    qtbot.waitUntil(lambda: bool(views), timeout=WAIT_MS)
    assert indicator_text(window) == "Sync: not signed in"
