"""The GUI consumes the same download events as the CLI, from a real download over loopback."""

from __future__ import annotations

import pytest

from app.services.downloads.manager import DownloadManager, DownloadRequest
from app.ui.download_progress import DownloadProgressRelay, DownloadProgressView
from tests.services.downloads.test_downloads import REPO, client, make_transfer, payload
from tests.support.hf_server import FakeHub


@pytest.fixture
def hub():
    with FakeHub() as server:
        yield server


def test_view_follows_a_real_download_with_pause_and_resume(qtbot, hub, tmp_path):
    data = payload(2 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hub.throttle(2 << 20)
    manager = DownloadManager(make_transfer(client(hub), tmp_path), max_parallel=1, min_event_interval_s=0)
    relay = DownloadProgressRelay()
    relay.attach(manager)
    remote = client(hub).file_metadata(REPO, "model.gguf")
    job = manager.submit(DownloadRequest("model.gguf", ((remote, tmp_path / "m.gguf"),)))
    view = DownloadProgressView(job, relay)
    qtbot.addWidget(view)
    seen_values: list[int] = []
    relay.progress.connect(lambda p: seen_values.append(view.bar.value()))

    qtbot.waitUntil(lambda: 0 < view.bar.value() < 1000 and "/s" in view.status.text(), timeout=10_000)
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.pause_button.text() == "Resume", timeout=10_000)
    assert view.status.text().startswith("Paused at")
    hub.throttle(None)
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.status.text() == "Downloaded and verified", timeout=10_000)
    assert view.bar.value() == 1000 and not view.cancel_button.isEnabled()
    assert seen_values == sorted(seen_values)
    assert (tmp_path / "m.gguf").read_bytes() == data
    relay.detach()
    manager.shutdown()
