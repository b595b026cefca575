"""The resumable transfer against a real HTTP server on 127.0.0.1 (tests/support/hf_server.py)."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
from pathlib import Path

import pytest

import app.services.downloads.transfer as transfer_mod
from app.core.downloads import DownloadPaused, RetryPolicy
from app.core.errors import (
    AccessDenied,
    ChecksumMismatch,
    DiskFull,
    DownloadFailed,
    OfflineModeEnabled,
    RemoteNotFound,
)
from app.services.downloads.hub import HubClient
from app.services.downloads.transfer import FileTransfer, TransferControl, TransferTuning
from app.services.net import NetworkGate
from tests.support.hf_server import FakeHub

REPO = "lantern-test/tiny-GGUF"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


def payload(n: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "little")).digest(n)


@pytest.fixture
def hub():
    with FakeHub() as server:
        yield server


def gate(offline: bool = False) -> NetworkGate:
    return NetworkGate(offline=lambda: offline)


def client(hub: FakeHub, **kw) -> HubClient:
    return HubClient(gate=gate(kw.pop("offline", False)), endpoint=hub.endpoint, retry=kw.pop("retry", FAST_RETRY),
                     **kw)


def make_transfer(hc: HubClient, tmp_path: Path, **tuning) -> FileTransfer:
    return FileTransfer(hc, partial_dir=tmp_path / "models" / ".partial",
                        tuning=TransferTuning(**{"checkpoint_bytes": 256 << 10, "checkpoint_interval_s": 0,
                                                  "stall_timeout_s": 5, **tuning}))


def cdn_gets(hub: FakeHub) -> list:
    return [r for r in hub.requests if r.kind == "cdn" and r.method == "GET"]


def test_downloads_and_verifies_an_lfs_file(hub, tmp_path):
    data = payload(3 << 20)
    info = hub.add_file(REPO, "model.gguf", data)
    hc = client(hub)
    remote = hc.file_metadata(REPO, "model.gguf")
    assert (remote.sha256, remote.size, remote.commit) == (info.sha256, len(data), info.commit)
    assert hub.endpoint not in (remote.location or "")  # the bytes come from the "CDN" host
    seen = []
    dest = make_transfer(hc, tmp_path).run(remote, tmp_path / "out" / "model.gguf",
                                           on_progress=lambda done, msg: seen.append(done))
    assert dest.read_bytes() == data
    assert seen == sorted(seen) and seen[-1] == len(data)
    assert hub.bytes_sent(info.sha256) == len(data)
    assert not list((tmp_path / "models" / ".partial").iterdir())  # partial and sidecar are gone
    assert all(r.authorization is None for r in cdn_gets(hub))


def test_dropped_connection_resumes_from_the_byte_offset(hub, tmp_path):
    data = payload(2 << 20)
    info = hub.add_file(REPO, "model.gguf", data)
    hub.drop_after(700_000, times=2)
    hc = client(hub)
    dest = make_transfer(hc, tmp_path).run(hc.file_metadata(REPO, "model.gguf"), tmp_path / "m.gguf")
    assert dest.read_bytes() == data
    gets = cdn_gets(hub)
    assert [g.range for g in gets] == [None, "bytes=700000-", "bytes=1400000-"]
    assert hub.bytes_sent(info.sha256) == len(data)  # not one byte was sent twice


def test_stalled_connection_is_abandoned_and_resumed(hub, tmp_path):
    data = payload(1 << 20)
    info = hub.add_file(REPO, "model.gguf", data)
    hub.stall_after(300_000, seconds=10)
    hc = client(hub)
    dest = make_transfer(hc, tmp_path, stall_timeout_s=0.5).run(hc.file_metadata(REPO, "model.gguf"),
                                                                 tmp_path / "m.gguf")
    assert dest.read_bytes() == data
    assert cdn_gets(hub)[1].range == "bytes=300000-"
    assert hub.bytes_sent(info.sha256) == len(data)


def test_pause_keeps_the_partial_and_a_new_transfer_resumes_it(hub, tmp_path):
    """Also what happens after an app restart: a fresh FileTransfer finds the sidecar."""
    data = payload(2 << 20)
    info = hub.add_file(REPO, "model.gguf", data)
    hub.throttle(4 << 20)
    hc = client(hub)
    remote = hc.file_metadata(REPO, "model.gguf")
    control = TransferControl()

    def pause_midway(done, _msg):
        if done >= 600_000:
            control.pause()

    t1 = make_transfer(hc, tmp_path)
    with pytest.raises(DownloadPaused):
        t1.run(remote, tmp_path / "m.gguf", control=control, on_progress=pause_midway)
    kept = t1.bytes_on_disk(remote)
    assert kept >= 600_000
    hub.throttle(None)
    dest = make_transfer(client(hub), tmp_path).run(remote, tmp_path / "m.gguf")
    assert dest.read_bytes() == data
    resumed = cdn_gets(hub)[-1]
    assert resumed.range == f"bytes={kept}-"
    assert resumed.body_bytes == len(data) - kept  # only the missing part was fetched
    # Pausing hangs up mid-stream; bytes already in flight are the only extra.
    assert hub.bytes_sent(info.sha256) - len(data) < 256 << 10


def test_flipped_byte_is_detected_and_the_file_discarded(hub, tmp_path):
    data = payload(1 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hub.corrupt_byte(123_456)
    hc = client(hub)
    dest = tmp_path / "m.gguf"
    with pytest.raises(ChecksumMismatch) as err:
        make_transfer(hc, tmp_path).run(hc.file_metadata(REPO, "model.gguf"), dest)
    assert "damaged" in err.value.user_message and err.value.hint
    assert not dest.exists()
    assert not list((tmp_path / "models" / ".partial").iterdir())


def test_small_non_lfs_files_are_checked_by_git_blob_sha1(hub, tmp_path):
    data = b'{"model_type": "llama"}'
    info = hub.add_file(REPO, "config.json", data)
    hc = client(hub)
    remote = hc.file_metadata(REPO, "config.json")
    assert remote.sha256 is None and remote.git_sha1 == info.git_sha1
    assert make_transfer(hc, tmp_path).run(remote, tmp_path / "config.json").read_bytes() == data


def test_not_found_and_gated_give_clear_errors(hub, tmp_path):
    hub.add_repo("org/gated", gated_token="hf_secret")
    hub.add_file("org/gated", "model.gguf", payload(50_000))
    hub.add_file(REPO, "model.gguf", payload(50_000))
    with pytest.raises(RemoteNotFound, match="repository"):
        client(hub).file_metadata("org/missing", "model.gguf")
    with pytest.raises(RemoteNotFound, match="no file") as err:
        client(hub).file_metadata(REPO, "other.gguf")
    assert "case matters" in (err.value.hint or "")
    with pytest.raises(AccessDenied) as denied:
        client(hub).file_metadata("org/gated", "model.gguf")
    assert "lantern auth hf" in (denied.value.hint or "")
    hc = client(hub, token="hf_secret")
    remote = hc.file_metadata("org/gated", "model.gguf")
    assert make_transfer(hc, tmp_path).run(remote, tmp_path / "g.gguf").stat().st_size == 50_000
    assert any(r.authorization == "Bearer hf_secret" for r in hub.requests if r.kind == "resolve")


def test_429_and_500_are_retried_honouring_retry_after(hub, tmp_path):
    data = payload(400_000)
    hub.add_file(REPO, "model.gguf", data)
    hub.fail("resolve", 429, times=1, retry_after=0.01)
    hub.fail("cdn", 500, times=2)
    sleeps: list[float] = []
    hc = client(hub, sleep=sleeps.append)
    remote = hc.file_metadata(REPO, "model.gguf")
    assert sleeps == [0.01]  # the server's Retry-After, not our backoff
    assert make_transfer(hc, tmp_path).run(remote, tmp_path / "m.gguf").read_bytes() == data
    assert [g.status for g in cdn_gets(hub)] == [500, 500, 200]


def test_persistent_server_errors_give_up_with_a_clear_message(hub, tmp_path):
    hub.add_file(REPO, "model.gguf", payload(400_000))
    hc = client(hub)
    remote = hc.file_metadata(REPO, "model.gguf")
    hub.fail("cdn", 503, times=None)
    with pytest.raises(DownloadFailed) as err:
        make_transfer(hc, tmp_path).run(remote, tmp_path / "m.gguf")
    assert "503" in err.value.user_message and "resumes" in (err.value.hint or "")
    assert len(cdn_gets(hub)) == FAST_RETRY.max_attempts
    hub.fail("resolve", 500, times=None)
    with pytest.raises(DownloadFailed, match="500"):
        hc.file_metadata(REPO, "model.gguf")


def test_a_file_changed_on_the_server_restarts_from_zero(hub, tmp_path):
    old, new = payload(1 << 20, seed=1), payload(1 << 20, seed=2)
    hub.add_file(REPO, "model.gguf", old)
    hc = client(hub)
    control = TransferControl()
    with pytest.raises(DownloadPaused):
        make_transfer(hc, tmp_path).run(hc.file_metadata(REPO, "model.gguf"), tmp_path / "m.gguf", control=control,
                                        on_progress=lambda d, m: control.pause() if d >= 300_000 else None)
    new_info = hub.replace_file(REPO, "model.gguf", new)
    messages = []
    remote = hc.file_metadata(REPO, "model.gguf")  # "main" now points at the new commit
    assert remote.commit == new_info.commit
    dest = make_transfer(hc, tmp_path).run(remote, tmp_path / "m.gguf", on_progress=lambda d, m: messages.append(m))
    assert dest.read_bytes() == new
    assert cdn_gets(hub)[-1].range is None  # from zero, not a Range on the old bytes
    assert any(m and "changed on the server" in m for m in messages)


def test_server_that_ignores_range_restarts_cleanly(hub, tmp_path):
    data = payload(1 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hub.drop_after(400_000)
    hub.ignore_range()
    hc = client(hub)
    assert make_transfer(hc, tmp_path).run(hc.file_metadata(REPO, "model.gguf"), tmp_path / "m.gguf").read_bytes() \
        == data


def test_not_enough_disk_refuses_before_any_transfer(hub, tmp_path):
    hub.add_file(REPO, "model.gguf", payload(400_000))
    hc = client(hub)
    remote = hc.file_metadata(REPO, "model.gguf")
    t = FileTransfer(hc, partial_dir=tmp_path / ".partial", free_bytes=lambda p: 100 << 20)
    with pytest.raises(DiskFull) as err:
        t.run(remote, tmp_path / "m.gguf")
    assert "models_dir" in (err.value.hint or "")
    assert cdn_gets(hub) == []


class _FillingFile:
    """A real file whose writes fail with ENOSPC after `room` bytes, like a disk that fills up."""

    def __init__(self, f, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data):
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def test_disk_filling_up_mid_download_cleans_the_partial(hub, tmp_path, monkeypatch):
    hub.add_file(REPO, "model.gguf", payload(2 << 20))
    hc = client(hub)
    real_open = open
    monkeypatch.setattr(transfer_mod, "open", lambda *a, **k: _FillingFile(real_open(*a, **k), 900_000),
                        raising=False)
    with pytest.raises(DiskFull) as err:
        make_transfer(hc, tmp_path).run(hc.file_metadata(REPO, "model.gguf"), tmp_path / "m.gguf")
    assert "filled up" in err.value.user_message
    assert not list((tmp_path / "models" / ".partial").iterdir())
    assert not (tmp_path / "m.gguf").exists()


def test_offline_mode_refuses_without_opening_a_socket(hub, tmp_path, monkeypatch):
    hub.add_file(REPO, "model.gguf", payload(1000))
    online = client(hub)
    remote = online.file_metadata(REPO, "model.gguf")
    opened = []
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: opened.append(addr) or real_connect(self, addr))
    offline = client(hub, offline=True)
    with pytest.raises(OfflineModeEnabled) as err:
        offline.file_metadata(REPO, "model.gguf")
    assert "offline" in err.value.hint.lower()
    with pytest.raises(OfflineModeEnabled):
        offline.list_files(REPO)
    with pytest.raises(OfflineModeEnabled):
        make_transfer(offline, tmp_path).run(remote, tmp_path / "m.gguf")
    assert opened == []


def test_untrusted_tls_certificate_is_refused(tmp_path):
    """Verification is always on: a self-signed server gets a clear refusal, not a download."""
    import shutil
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hc = HubClient(gate=gate(), endpoint=f"https://127.0.0.1:{server.server_port}", retry=FAST_RETRY)
        with pytest.raises(DownloadFailed) as err:
            hc.file_metadata(REPO, "model.gguf")
        assert "could not be verified" in err.value.user_message
        assert "never turns certificate checks off" in (err.value.hint or "")
    finally:
        server.shutdown()
        server.server_close()


def test_snapshot_file_names_cannot_escape_the_model_folder():
    from app.services.downloads.hub import safe_relative_path

    assert safe_relative_path("model.safetensors") and safe_relative_path("sub/dir/tokenizer.json")
    for bad in ("../evil.json", "a/../../b", "/etc/passwd", "C:/x", "..\\x", "a//b", "./a", ""):
        assert not safe_relative_path(bad), bad


def test_one_partial_file_is_never_written_by_two_runs(hub, tmp_path):
    import threading

    from app.core.errors import LanternError

    data = payload(2 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hub.throttle(2 << 20)
    hc = client(hub)
    remote = hc.file_metadata(REPO, "model.gguf")
    started = threading.Event()
    first = threading.Thread(target=lambda: make_transfer(hc, tmp_path).run(
        remote, tmp_path / "m.gguf", on_progress=lambda d, m: started.set() if d else None))
    first.start()
    assert started.wait(10)
    with pytest.raises(LanternError, match="already being downloaded"):
        make_transfer(hc, tmp_path).run(remote, tmp_path / "m.gguf")
    hub.throttle(None)
    first.join(20)
    assert (tmp_path / "m.gguf").read_bytes() == data


def test_a_verified_file_already_in_place_is_not_downloaded_again(hub, tmp_path):
    data = payload(1 << 20)
    hub.add_file(REPO, "model.gguf", data)
    hc = client(hub)
    remote = hc.file_metadata(REPO, "model.gguf")
    (tmp_path / "m.gguf").write_bytes(data)  # e.g. the app stopped between the move and registering it
    make_transfer(hc, tmp_path).run(remote, tmp_path / "m.gguf")
    assert cdn_gets(hub) == []


def test_remote_header_reads_never_send_the_token_to_the_cdn(hub, tmp_path):
    from app.services.downloads.remote_gguf import RemoteRangeReader
    from tests.support.gguf_files import write_gguf

    hub.add_repo("org/gated", gated_token="hf_secret")
    hub.add_file("org/gated", "m.gguf", write_gguf(tmp_path / "m.gguf"))
    hc = client(hub, token="hf_secret")
    import dataclasses

    # No known CDN location yet: the first read goes to the hub (with the token) and is redirected.
    remote = dataclasses.replace(hc.file_metadata("org/gated", "m.gguf"), location=None)
    hub.fail("cdn", 503, times=1)
    with hc.gate.http_client() as http:
        reader = RemoteRangeReader(hc, http, remote)
        assert reader(0, 4) == b"GGUF"
    assert [r.authorization for r in hub.requests if r.kind == "cdn"] == [None, None]
