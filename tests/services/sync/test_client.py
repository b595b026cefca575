"""The sync client against the real sync server on 127.0.0.1: sign-in, rounds, cut connections, refusals."""

from __future__ import annotations

import pytest

from app.core.errors import (
    OfflineModeEnabled,
    SyncAuthFailed,
    SyncNotSignedIn,
    SyncRefused,
    SyncServerInvalid,
    SyncUnreachable,
)
from app.core.sync.records import LessonRef
from app.services.sync import protocol
from app.services.sync.client import SYNC_TOKEN_SECRET, check_server_url
from tests.support.sync_devices import PASSWORD, Device, new_user
from tests.support.sync_server import SyncServerProcess

REF = LessonRef("python-basics", "05-loops", "while")


@pytest.fixture(scope="module")
def server():
    with SyncServerProcess() as running:
        yield running


@pytest.fixture
def devices(tmp_path):
    made: list[Device] = []

    def make(name: str) -> Device:
        device = Device(tmp_path / name)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


def pair(server, devices):
    laptop, phone = devices("laptop"), devices("phone")
    user = new_user()
    laptop.client.register(server.url, user, PASSWORD, "laptop")
    phone.client.login(server.url, user, PASSWORD, "phone")
    return laptop, phone


def test_two_devices_share_progress_notes_and_a_conflict(server, devices):
    laptop, phone = pair(server, devices)
    laptop.record.mark("python-basics", "05-loops", "done")
    note = laptop.record.add_note(REF, "while runs while the condition holds")
    report = laptop.client.sync_now()
    assert report.pushed == 3 and report.duplicates == 0
    assert laptop.record.pending_count() == 0
    report = phone.client.sync_now()
    assert report.pulled == 3
    assert phone.record.states("python-basics") == {"05-loops": "done"}
    assert phone.record.note(note.id).text == note.text
    # Both edit the note offline, then sync: both texts kept, on both devices.
    laptop.record.edit_note(note.id, "laptop: while loops")
    phone.record.edit_note(note.id, "phone: while loops")
    laptop.client.sync_now()
    phone.client.sync_now()
    laptop.client.sync_now()
    for device in (laptop, phone):
        [conflict] = device.record.conflicts()
        assert {v.text for v in conflict.versions} == {"laptop: while loops", "phone: while loops"}
        assert device.client.status().conflicts == 1
    phone.record.resolve_note(note.id, "merged")
    phone.client.sync_now()
    laptop.client.sync_now()
    assert laptop.record.conflicts() == [] and laptop.record.note(note.id).text == "merged"


def test_a_push_whose_reply_is_lost_is_not_duplicated(server, devices):
    laptop, phone = pair(server, devices)
    laptop.record.record_event("quiz.attempt", "python-basics", "05-loops", {"q": 1, "correct": False})
    laptop.cut("response", "POST")
    with pytest.raises(SyncUnreachable):
        laptop.client.sync_now()
    status = laptop.client.status()
    assert status.pending == 1 and status.last_error and "reach" in status.last_error.lower()
    report = laptop.client.sync_now()  # the retry: the server already has it
    assert (report.pushed, report.duplicates) == (0, 1) and laptop.record.pending_count() == 0
    phone.client.sync_now()
    assert len(phone.record.events(kind="quiz.attempt")) == 1


def test_a_pull_whose_reply_is_lost_is_applied_once_later(server, devices):
    laptop, phone = pair(server, devices)
    for i in range(20):  # three pages of 7
        laptop.record.record_event("review.log", "python-basics", data={"i": i})
    laptop.client.sync_now()
    phone.cut("response", "GET")
    with pytest.raises(SyncUnreachable):
        phone.client.sync_now()
    assert phone.record.events() == []
    phone.client.sync_now()
    assert sorted(e.data["i"] for e in phone.record.events()) == list(range(20))
    assert phone.client.sync_now().pulled == 0


def test_plain_http_is_refused_except_to_this_machine():
    assert check_server_url("http://127.0.0.1:8765/") == "http://127.0.0.1:8765"
    assert check_server_url("https://sync.example.org") == "https://sync.example.org"
    for bad in ("http://sync.example.org", "ftp://x", "sync.example.org", "", "https://x.org/?a=1"):
        with pytest.raises(SyncServerInvalid):
            check_server_url(bad)


def test_offline_mode_sends_nothing(devices, monkeypatch):
    device = devices("offline")
    device.record.set_meta("sync.server", "https://sync.example.org")
    for name, value in (("user", "x-user"), ("device_name", "d"), ("device_id", "0190a7a0-0000-7000-8000-00000000")):
        device.record.set_meta(f"sync.{name}", value)
    device.services.secrets.set(SYNC_TOKEN_SECRET, "t" * 40)
    device.offline = True
    device.record.add_note(REF, "stays here")
    with pytest.raises(OfflineModeEnabled):
        device.client.sync_now()
    assert device.record.pending_count() == 2


def test_not_signed_in_and_bad_password(server, devices):
    device = devices("lonely")
    with pytest.raises(SyncNotSignedIn):
        device.client.sync_now()
    user = new_user()
    device.client.register(server.url, user, PASSWORD, "lonely")
    other = devices("intruder")
    with pytest.raises(SyncAuthFailed) as info:
        other.client.login(server.url, user, "wrong password!", "intruder")
    assert info.value.code == protocol.E_BAD_CREDENTIALS and other.client.account() is None
    with pytest.raises(SyncRefused) as refused:
        other.client.register(server.url, user, PASSWORD, "intruder")
    assert refused.value.code == protocol.E_USER_EXISTS
    with pytest.raises(SyncRefused):
        other.client.register(server.url, "X", "short", "intruder")  # checked before anything is sent


def test_a_revoked_device_is_signed_out_and_keeps_its_changes(server, devices):
    laptop, phone = pair(server, devices)
    phone.record.add_note(REF, "written on the phone")
    phone_id = phone.client.account().device_id
    assert {d.device_id for d in laptop.client.devices()} >= {phone_id}
    laptop.client.revoke_device(phone_id)
    with pytest.raises(SyncAuthFailed) as info:
        phone.client.sync_now()
    assert info.value.code == protocol.E_TOKEN_REVOKED
    status = phone.client.status()
    assert not status.signed_in and status.pending == 2 and status.account is not None
    phone.client.login(server.url, status.account.user, PASSWORD, "phone again")
    phone.client.sync_now()
    laptop.client.sync_now()
    assert [n.text for n in laptop.record.notes()] == ["written on the phone"]


def test_logout_forgets_the_token_here_and_on_the_server(server, devices):
    laptop, _phone = pair(server, devices)
    token = laptop.services.secrets.get(SYNC_TOKEN_SECRET)
    assert token and laptop.client.logout() is True
    assert laptop.services.secrets.get(SYNC_TOKEN_SECRET) is None and not laptop.client.status().signed_in
    assert token not in server.log_text() and PASSWORD not in server.log_text()


def test_an_unknown_protocol_version_is_refused_with_a_clear_message(server, devices, monkeypatch):
    laptop, _phone = pair(server, devices)
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", 99)
    with pytest.raises(SyncRefused) as info:
        laptop.client.sync_now()
    assert info.value.code == protocol.E_PROTOCOL and "update lantern" in info.value.user_message.lower()
    assert laptop.client.status().last_error == info.value.user_message


def test_signing_in_to_another_account_sends_everything_again(server, devices):
    laptop, _phone = pair(server, devices)
    laptop.record.add_note(REF, "mine")
    laptop.client.sync_now()
    assert laptop.record.pending_count() == 0
    laptop.client.register(server.url, new_user("second"), PASSWORD, "laptop")
    assert laptop.record.pending_count() == 2
    assert laptop.client.sync_now().pushed == 2


def test_a_server_restored_from_an_older_backup_gets_everything_back(tmp_path, devices):
    import os
    import shutil

    with SyncServerProcess() as server:
        laptop, phone = pair(server, devices)
        laptop.record.add_note(REF, "before the backup")
        laptop.client.sync_now()
        phone.client.sync_now()
        db_file = server.db_url.removeprefix("sqlite:///")
        server.stop()
        shutil.copy(db_file, tmp_path / "backup.db")
        server.start()
        phone.record.add_note(REF, "phone, after the backup")
        phone.client.sync_now()
        server.stop()
        shutil.copy(tmp_path / "backup.db", db_file)  # the operator restores the older backup
        for suffix in ("-wal", "-shm"):
            if os.path.exists(db_file + suffix):
                os.remove(db_file + suffix)
        server.start()
        # The laptop pushes more than the phone lost before the phone is back: the seqs the phone holds
        # now name other records, so only the record id at its cursor can tell it to start over.
        for i in range(3):
            laptop.record.add_note(REF, f"laptop {i}")
        laptop.client.sync_now()
        report = phone.client.sync_now()
        assert report.pushed == 2  # its note after the backup is back on the server
        laptop.client.sync_now()
        expected = ["before the backup", "laptop 0", "laptop 1", "laptop 2", "phone, after the backup"]
        assert sorted(n.text for n in laptop.record.notes()) == expected
        assert sorted(n.text for n in phone.record.notes()) == expected


def test_records_dated_by_a_clock_that_was_days_ahead_are_re_dated_and_sync(server, devices, tmp_path):
    import time as _time

    from app.core.sync.hlc import MAX_DRIFT_MS
    from app.services.storage.learning_record import LearningRecord

    laptop, phone = pair(server, devices)
    ahead = LearningRecord(laptop.services.paths.database_file,
                           now_ms=lambda: int(_time.time() * 1000) + 3 * MAX_DRIFT_MS)  # the clock was 3 days ahead
    note = ahead.add_note(REF, "written while the clock was wrong")
    ahead.edit_note(note.id, "edited while the clock was wrong")
    ahead.mark("python-basics", "05-loops", "done")
    ahead.close()
    report = laptop.client.sync_now()  # refused as clock_ahead, re-dated from this clock, sent again
    assert report.pushed == 4 and laptop.record.pending_count() == 0
    now_ms = int(_time.time() * 1000)
    assert all(int(c.hlc[:16]) <= now_ms + 1000 for c in laptop.record.changes())
    phone.client.sync_now()
    [seen] = phone.record.notes()
    assert seen.text == "edited while the clock was wrong" and not seen.in_conflict  # bases followed the new dates
    assert phone.record.states("python-basics") == {"05-loops": "done"}
