"""The download queue: concurrency limit, pause/resume/cancel, progress events, MLX snapshots."""

from __future__ import annotations

import threading

import pytest

from app.core.downloads import DownloadPaused
from app.core.errors import ChecksumMismatch, OperationCancelled
from app.services.downloads.manager import DownloadManager, DownloadRequest
from tests.services.downloads.test_downloads import FAST_RETRY, REPO, client, make_transfer, payload
from tests.support.hf_server import FakeHub


@pytest.fixture
def hub():
    with FakeHub() as server:
        yield server


def manager_for(hub: FakeHub, tmp_path, *, max_parallel: int = 2) -> DownloadManager:
    return DownloadManager(make_transfer(client(hub), tmp_path), max_parallel=max_parallel, min_event_interval_s=0)


def wait_for(predicate, timeout=10.0):
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if predicate():
                return True
            done.wait(0.01)
        return predicate()
    finally:
        deadline.cancel()


def test_progress_events_carry_bytes_rate_and_eta(hub, tmp_path):
    data = payload(3 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hub.throttle(6 << 20)
    m = manager_for(hub, tmp_path)
    events = []
    m.subscribe(events.append)
    remote = client(hub).file_metadata(REPO, "model.gguf")
    job = m.submit(DownloadRequest("model.gguf", ((remote, tmp_path / "m.gguf"),)))
    assert job.result(timeout=20) == tmp_path / "m.gguf"
    m.shutdown()
    states = [e.state for e in events]
    assert states[0] == "queued" and states[-1] == "done" and "running" in states
    running = [e for e in events if e.state == "running"]
    done_bytes = [e.bytes_done for e in running]
    assert done_bytes == sorted(done_bytes)
    assert any(e.rate_bps and 1 << 20 < e.rate_bps < 20 << 20 for e in running)  # about the throttled 6 MB/s
    assert any(e.eta_s is not None and 0 < e.eta_s < 10 for e in running)
    assert events[-1].bytes_done == len(data) and events[-1].fraction == 1.0
    assert sum(1 for e in events if e.message) <= 1  # a message is reported once, not on every event


def test_concurrency_limit_queues_extra_jobs(hub, tmp_path):
    hub.throttle(2 << 20)
    for name in ("a.gguf", "b.gguf"):
        hub.add_file(REPO, name, payload(1 << 20))
    hc = client(hub)
    m = manager_for(hub, tmp_path, max_parallel=1)
    a = m.submit(DownloadRequest("a", ((hc.file_metadata(REPO, "a.gguf"), tmp_path / "a.gguf"),)))
    b = m.submit(DownloadRequest("b", ((hc.file_metadata(REPO, "b.gguf"), tmp_path / "b.gguf"),)))
    assert wait_for(lambda: a.state == "running")
    assert b.state == "queued"
    a.result(timeout=20)
    b.result(timeout=20)
    m.shutdown()


def test_pause_resume_and_cancel(hub, tmp_path):
    data = payload(2 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hub.throttle(2 << 20)
    hc = client(hub)
    m = manager_for(hub, tmp_path)
    remote = hc.file_metadata(REPO, "model.gguf")
    job = m.submit(DownloadRequest("model", ((remote, tmp_path / "m.gguf"),)))
    assert wait_for(lambda: job.progress.bytes_done > 200_000)
    job.pause()
    job.resume()  # taken back before the worker noticed: it keeps running
    assert wait_for(lambda: job.progress.bytes_done > 400_000) and job.state == "running"
    job.pause()
    assert job.wait(10).state == "paused"
    with pytest.raises(DownloadPaused):
        job.result(0)
    kept = m.transfer.bytes_on_disk(remote)
    assert kept > 200_000
    hub.throttle(None)
    job.resume()
    assert job.result(timeout=20).read_bytes() == data
    assert [r.range for r in hub.requests if r.kind == "cdn" and r.method == "GET"][-1] == f"bytes={kept}-"

    hub.throttle(1 << 20)
    hub.add_file(REPO, "other.gguf", payload(2 << 20, seed=5))
    other = m.submit(DownloadRequest("other", ((hc.file_metadata(REPO, "other.gguf"), tmp_path / "o.gguf"),)))
    assert wait_for(lambda: other.progress.bytes_done > 100_000)
    other.cancel()
    assert other.wait(10).state == "cancelled"
    with pytest.raises(OperationCancelled):
        other.result(0)
    assert not (tmp_path / "o.gguf").exists()
    assert list((tmp_path / "models" / ".partial").glob("*other*")) == []
    m.shutdown()


def test_mlx_snapshot_lands_as_one_folder_only_when_every_file_verifies(hub, tmp_path):
    files = {"config.json": b'{"model_type": "qwen2", "quantization": {"bits": 4}}',
             "tokenizer.json": b'{"version": "1.0"}' * 100,
             "model.safetensors": payload(1 << 20)}
    for name, data in files.items():
        hub.add_file("mlx-community/Tiny-4bit", name, data)
    hub.add_file("mlx-community/Tiny-4bit", "README.md", b"# not needed")
    from app.services.downloads.hub import MLX_PATTERNS

    hc = client(hub)
    remotes = hc.list_files("mlx-community/Tiny-4bit", patterns=MLX_PATTERNS)
    assert sorted(r.filename for r in remotes) == sorted(files)
    final = tmp_path / "models" / "mlx" / "Tiny-4bit"
    m = manager_for(hub, tmp_path)
    hub.corrupt_byte(10, path_contains="tokenizer.json", kind="resolve", times=1)
    bad = m.submit(DownloadRequest("tiny", tuple((r, final / r.filename) for r in remotes), final_dir=final))
    with pytest.raises(ChecksumMismatch):
        bad.result(timeout=20)
    assert not final.exists()  # nothing half-installed
    good = m.submit(DownloadRequest("tiny", tuple((r, final / r.filename) for r in remotes), final_dir=final))
    assert good.result(timeout=20) == final
    assert {p.name: p.read_bytes() for p in final.iterdir()} == files
    m.shutdown()


def test_retry_policy_is_used_by_the_queue(hub, tmp_path):
    hub.add_file(REPO, "model.gguf", payload(300_000))
    hub.fail("cdn", 503, times=None)
    m = manager_for(hub, tmp_path)
    job = m.submit(DownloadRequest("m", ((client(hub).file_metadata(REPO, "model.gguf"), tmp_path / "m.gguf"),)))
    progress = job.wait(20)
    assert progress.state == "failed" and "503" in (progress.message or "")
    assert len([r for r in hub.requests if r.kind == "cdn"]) == FAST_RETRY.max_attempts
    m.shutdown()


def test_offline_mode_turned_on_under_a_running_download_pauses_it_resumably(hub, tmp_path):
    """The gate is read live: the download's next request (a reconnect) is refused, the job pauses with
    the reason, and once online again it resumes from its checkpoint."""
    from app.services.downloads.hub import HubClient
    from app.services.net import NetworkGate

    data = payload(2 << 20)
    hub.add_file(REPO, "model.gguf", data)
    setting = {"offline": False}
    hc = HubClient(gate=NetworkGate(offline=lambda: setting["offline"]), endpoint=hub.endpoint, retry=FAST_RETRY)
    m = DownloadManager(make_transfer(hc, tmp_path), max_parallel=1, min_event_interval_s=0)
    remote = hc.file_metadata(REPO, "model.gguf")
    hub.throttle(2 << 20)
    hub.drop_after(1 << 20)  # the connection breaks half-way, so the transfer must reconnect
    job = m.submit(DownloadRequest("model.gguf", ((remote, tmp_path / "m.gguf"),)))
    assert wait_for(lambda: job.progress.bytes_done > 0)
    setting["offline"] = True  # the toolbar toggle; nobody tells the client
    progress = job.wait(timeout=20)
    assert progress.state == "paused" and "Offline mode is on" in (progress.message or "")
    assert 0 < progress.bytes_done < len(data)
    setting["offline"] = False
    hub.throttle(None)
    job.resume()
    assert job.result(timeout=20) == tmp_path / "m.gguf"
    assert (tmp_path / "m.gguf").read_bytes() == data
    resumed = [r for r in hub.requests if r.kind == "cdn" and r.method == "GET"][-1]
    assert resumed.range is not None and resumed.range != "bytes=0-"
    m.shutdown()
