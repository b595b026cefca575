"""`lantern ask` through the router: who answered and why in --json, consent "ask" without a terminal,
and every answer in the savings ledger (`lantern stats`)."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from tests.support.courses import loops_pack


@pytest.fixture
def loops_course(tmp_path, lantern_home, minilm_gguf, smollm2_gguf, capsys):
    assert main(["models", "import", str(minilm_gguf)]) == 0
    assert main(["models", "import", str(smollm2_gguf)]) == 0
    assert main(["courses", "import", str(loops_pack(tmp_path))]) == 0
    capsys.readouterr()
    return "loops"


def ask(capsys, *args: str) -> dict:
    assert main(["ask", *args, "--course", "loops", "--json", "--max-tokens", "48"]) == 0
    return json.loads(capsys.readouterr().out)


def test_without_a_usable_cloud_model_the_device_answers_and_says_why(loops_course, capsys, monkeypatch):
    # The free tier's fallback needs an OpenAI key, and none is stored: everything stays on the device.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    answer = ask(capsys, "Compare while loops and for loops in detail")
    route = answer["route"]
    assert route["route"] == "local" and route["where"] == "on-device" and route["sent_to_cloud"] is None
    assert route["reason_code"] == "kept_local:no_key" and "no API key" in route["reason"]
    assert route["kind"] == "compare"


def test_consent_ask_without_a_terminal_declines_and_nothing_leaves(loops_course, capsys, monkeypatch):
    # A cloud fallback on loopback with no server behind it: were anything sent, the answer would fail over
    # with "unreachable"; declined means the request was never made.
    monkeypatch.setenv("LANTERN_CLOUD_PROVIDERS", '{"loop": "http://127.0.0.1:9/v1"}')
    monkeypatch.setenv("LANTERN_ROLES", '{"fallback": "cloud:loop/model"}')
    monkeypatch.setenv("LANTERN_CLOUD_CONSENT", "ask")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    answer = ask(capsys, "Compare while loops and for loops in detail")
    route = answer["route"]
    assert route["route"] == "local" and route["reason_code"] == "kept_local:declined"
    assert route["sent_to_cloud"] is None and route["cloud_model"] is None

    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["answers"] == 1 and stats["local_share"] == 1.0 and stats["cost_usd"] == 0.0
