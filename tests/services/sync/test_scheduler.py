"""Background sync against the real server: when rounds run, backoff, offline, and what the indicator hears."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.sync.records import LessonRef
from app.services.sync.scheduler import SyncScheduler, SyncView
from tests.support.sync_devices import PASSWORD, Device, new_user
from tests.support.sync_server import SyncServerProcess


@pytest.fixture
def server():
    with SyncServerProcess() as running:
        yield running


class Views:
    def __init__(self) -> None:
        self.seen: list[SyncView] = []
        self._cond = threading.Condition()

    def __call__(self, view: SyncView) -> None:
        with self._cond:
            self.seen.append(view)
            self._cond.notify_all()

    def wait_for(self, test, timeout: float = 15.0) -> SyncView:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for view in reversed(self.seen):
                    if test(view):
                        return view
                left = deadline - time.monotonic()
                assert left > 0, [v.activity for v in self.seen]
                self._cond.wait(left)

    def activities(self) -> list[str]:
        with self._cond:
            return [v.activity for v in self.seen]


def test_rounds_at_start_after_changes_with_backoff_and_offline(server, tmp_path):
    device = Device(tmp_path / "d")
    views = Views()
    scheduler = SyncScheduler(device.client, offline=lambda: device.offline, debounce_s=0.2, interval_s=3600,
                              backoff_s=(0.3, 1.0))
    scheduler.add_listener(views)
    try:
        scheduler.start()
        views.wait_for(lambda v: v.activity == "signed_out")
        device.client.register(server.url, new_user(), PASSWORD, "d")
        scheduler.wake()
        views.wait_for(lambda v: v.activity == "idle" and v.status is not None and v.status.last_synced_at)
        assert "syncing" in views.activities()

        views.seen.clear()
        device.record.add_note(LessonRef("c", "l"), "a change starts a round a moment later")
        idle = views.wait_for(lambda v: v.activity == "idle")
        assert idle.status is not None and idle.status.pending == 0

        server.stop()
        views.seen.clear()
        device.record.mark("c", "l", "done")
        error = views.wait_for(lambda v: v.activity == "error")
        assert error.retry_in_s and error.hint and error.status is not None and error.status.pending == 1
        server.start()  # the backoff's next try finds it back
        views.wait_for(lambda v: v.activity == "idle" and v.status is not None and v.status.pending == 0)

        device.offline = True
        views.seen.clear()
        scheduler.wake()
        views.wait_for(lambda v: v.activity == "offline")
        device.record.mark("c", "l2", "done")
        time.sleep(0.6)  # past the debounce: a round must not have run
        assert "syncing" not in views.activities() and device.record.pending_count() == 1
    finally:
        scheduler.stop()
        device.close()


def test_a_refused_sign_in_stops_retrying(server, tmp_path):
    laptop, phone = Device(tmp_path / "laptop"), Device(tmp_path / "phone")
    user = new_user()
    laptop.client.register(server.url, user, PASSWORD, "laptop")
    phone.client.login(server.url, user, PASSWORD, "phone")
    laptop.client.revoke_device(phone.client.account().device_id)
    views = Views()
    scheduler = SyncScheduler(phone.client, offline=lambda: False, debounce_s=0.1, backoff_s=(0.1, 0.2))
    scheduler.add_listener(views)
    try:
        scheduler.start()
        error = views.wait_for(lambda v: v.activity == "error")
        assert "sign in" in (error.hint or "").lower() and error.retry_in_s is None
        time.sleep(0.5)
        assert views.activities().count("syncing") == 1  # no retry loop against a refused token
    finally:
        scheduler.stop()
        laptop.close()
        phone.close()
