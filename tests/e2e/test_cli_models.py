"""`lantern models …` as real subprocesses against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import LANTERN, ROOT, run
from tests.support.gguf_files import write_gguf
from tests.support.hf_server import FakeHub

PROFILE = str(ROOT / "tests" / "fixtures" / "profiles" / "laptop-8gb-no-gpu.json")


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def models_json() -> dict:
    proc = run("models", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cdn_gets(hub: FakeHub) -> list:
    return [r for r in hub.requests if r.kind == "cdn" and r.method == "GET"]


def weight_bytes_sent(hub: FakeHub) -> int:
    """Bytes of whole-file or resume transfers (not the bounded Range reads of the header)."""
    return sum(r.body_bytes for r in cdn_gets(hub) if r.range is None or r.range.endswith("-"))


def test_pull_list_verify_rm(hub, tmp_path, lantern_home):
    path = write_gguf(tmp_path / "tutor.gguf", weight_bytes=3 << 20, context_length=8192)
    info = hub.add_file("someone/Tutor-GGUF", "tutor-f32.gguf", path)
    proc = run("models", "pull", "someone/Tutor-GGUF/tutor-f32.gguf", "--profile", PROFILE)
    assert proc.returncode == 0, proc.stderr
    assert "Fit on this machine: CPU only" in proc.stdout and "Installed '" in proc.stdout
    [entry] = models_json()["models"]
    assert entry["usable"] and entry["sha256"] == info.sha256 and entry["source"] == "huggingface"
    assert run("models", "verify", entry["id"]).returncode == 0

    again = run("models", "pull", "someone/Tutor-GGUF/tutor-f32.gguf", "--profile", PROFILE)
    assert again.returncode == 0 and "Already installed" in again.stdout

    with open(entry["path"], "r+b") as f:  # damage the installed file
        f.seek(-10, os.SEEK_END)
        f.write(b"\xff" * 10)
    bad = run("models", "verify", entry["id"])
    assert bad.returncode == 1 and "damaged" in bad.stderr and "Hint:" in bad.stderr
    assert models_json()["models"][0]["status"] == "corrupt"
    listed = run("models", "list")
    assert "corrupt" in listed.stdout

    rm = run("models", "rm", entry["id"])
    assert rm.returncode == 0 and "deleted" in rm.stdout
    assert not Path(entry["path"]).exists() and models_json()["models"] == []


def test_killed_mid_download_resumes_from_the_checkpoint(hub, tmp_path, lantern_home):
    path = write_gguf(tmp_path / "big.gguf", weight_bytes=48 << 20, context_length=8192)
    info = hub.add_file("someone/Big-GGUF", "big.gguf", path)
    hub.throttle(12 << 20)
    env = {**os.environ}
    proc = subprocess.Popen([*LANTERN, "models", "pull", "someone/Big-GGUF/big.gguf", "--profile", PROFILE],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial_dir = lantern_home / "data" / "models" / ".partial"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            sidecars = list(partial_dir.glob("*.part.json"))
            if sidecars and json.loads(sidecars[0].read_text())["bytes_done"] >= 16 << 20:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the download never reached its first checkpoint")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    checkpoint = json.loads(next(partial_dir.glob("*.part.json")).read_text())["bytes_done"]
    # The server notices the dead socket a moment after the kill; count once its figure settles.
    sent_before = -1
    while sent_before != weight_bytes_sent(hub):
        sent_before = weight_bytes_sent(hub)
        time.sleep(0.3)
    assert checkpoint < info.size
    hub.throttle(None)

    resumed = run("models", "pull", "someone/Big-GGUF/big.gguf", "--profile", PROFILE)
    assert resumed.returncode == 0, resumed.stderr
    last = cdn_gets(hub)[-1]
    assert last.range == f"bytes={checkpoint}-"
    assert last.body_bytes == info.size - checkpoint  # the rest, and only the rest
    # What was re-sent is only what arrived after the last checkpoint before the kill.
    assert weight_bytes_sent(hub) - info.size == sent_before - checkpoint
    assert models_json()["models"][0]["sha256"] == info.sha256


def test_offline_mode_refuses_pull_without_contacting_the_server(hub, lantern_home):
    hub.add_file("someone/Tutor-GGUF", "t.gguf", b"GGUF" + bytes(20_000))
    proc = run("models", "pull", "someone/Tutor-GGUF/t.gguf", "--profile", PROFILE, env_extra={"LANTERN_OFFLINE": "1"})
    assert proc.returncode == 1
    assert "Offline mode is on" in proc.stderr and "Hint:" in proc.stderr
    assert hub.requests == []


def test_gated_repo_without_token_explains_what_to_do(hub, lantern_home):
    hub.add_repo("meta/Gated-GGUF", gated_token="hf_abc")
    hub.add_file("meta/Gated-GGUF", "g.gguf", b"GGUF" + bytes(20_000))
    proc = run("models", "pull", "meta/Gated-GGUF/g.gguf", "--profile", PROFILE)
    assert proc.returncode == 1
    assert "gated or private" in proc.stderr and "lantern auth hf" in proc.stderr


@pytest.mark.parametrize("damage", ["truncated", "zero-headed", "random", "tensor-out-of-bounds"])
def test_import_refuses_broken_files_and_registers_nothing(tmp_path, lantern_home, damage):
    good = write_gguf(tmp_path / "good.gguf", weight_bytes=1 << 20).read_bytes()
    if damage == "truncated":
        data = good[: len(good) - 4096]
    elif damage == "zero-headed":
        data = bytes(64) + good[64:]
    elif damage == "random":
        data = os.urandom(len(good))
    else:
        data = good + b""  # a valid header whose last tensor points past the end once the tail is cut
        data = data[: len(data) - 1]
    bad = tmp_path / f"{damage}.gguf"
    bad.write_bytes(data)
    proc = run("models", "import", str(bad))
    assert proc.returncode == 1, proc.stdout
    assert "Error:" in proc.stderr and "Hint:" in proc.stderr
    assert models_json()["models"] == []


def test_import_in_place_and_copy(tmp_path, lantern_home):
    src = write_gguf(tmp_path / "mine.gguf", weight_bytes=1 << 20)
    proc = run("models", "import", str(src))
    assert proc.returncode == 0, proc.stderr
    assert "left in place" in proc.stdout
    dup = run("models", "import", str(src))
    assert dup.returncode == 1 and "already installed" in dup.stderr
    [entry] = models_json()["models"]
    assert entry["path"] == str(src) and not entry["managed"] and entry["usable"]
    rm = run("models", "rm", entry["id"])
    assert rm.returncode == 0 and src.exists()  # never delete the user's own file

    copied = run("models", "import", str(src), "--copy", "--id", "my-tutor")
    assert copied.returncode == 0, copied.stderr
    [entry] = models_json()["models"]
    assert entry["id"] == "my-tutor" and entry["managed"]
    assert Path(entry["path"]).read_bytes() == src.read_bytes() and Path(entry["path"]) != src
