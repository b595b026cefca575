"""Offline mode end to end: every CLI command, run in-process under a socket guard, opens no socket to
anything but loopback.

The hub is pointed at a real non-loopback address (HF_ENDPOINT=http://203.0.113.1:9, TEST-NET-3) and
a proxy off this machine is set, so a leak would be a real connect (or DNS query), which the guard
records and refuses. The positive control at the end shows the same commands *do* try to reach that
address when offline mode is off — so the guard is looking at the right thing.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess

import pytest

from app.cli import build_parser, main
from app.core.downloads import RetryPolicy
from tests.support.gguf_files import write_gguf
from tests.support.socket_guard import SocketGuard

OUTSIDE = "http://203.0.113.1:9"
OFFLINE = "Offline mode is on"
# Commands that can never make a network request; everything else must appear in the sweep below.
NO_NETWORK_BY_DESIGN = {"gui"}  # the window's own offline behaviour is tested in tests/ui
NOT_INSTALLED = ("No embedding model is installed", "No model is installed", "No chat model is installed",
                 "not installed")


@pytest.fixture
def guard(monkeypatch):
    return SocketGuard().install(monkeypatch)


@pytest.fixture
def offline_env(monkeypatch, lantern_home):
    monkeypatch.setenv("LANTERN_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", OUTSIDE)
    monkeypatch.setenv("HTTPS_PROXY", "http://203.0.113.2:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://203.0.113.2:3128")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # Lantern's own gate must do the refusing
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return lantern_home


@pytest.fixture
def no_pip(monkeypatch):
    """The starter's packages are neither installed nor in a folder, and pip must never be started."""
    import app.services.models.starter as starter

    started: list[list[str]] = []

    def run(cmd, *args, **kwargs):
        started.append(list(cmd))
        raise AssertionError(f"pip was started in offline mode: {cmd}")

    monkeypatch.setattr(starter, "installed_part", lambda part: None)
    monkeypatch.setattr(starter.subprocess, "run", run)
    assert starter.subprocess is subprocess  # the module's own subprocess: patched for this test only
    return started


def command_names(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = command_names(sub, f"{prefix}{name} ")
                names |= inner or {f"{prefix}{name}"}
    return names


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_command_in_offline_mode_stays_on_this_machine(tmp_path, offline_env, guard, no_pip, capsys,
                                                             monkeypatch):
    course_dir = tmp_path / "my-notes"
    course_dir.mkdir()
    (course_dir / "loops.md").write_text("# Loops\n\nA `for` loop repeats a block for each item.\n", encoding="utf-8")
    gguf = write_gguf(tmp_path / "tiny.gguf", weight_bytes=64 << 10)

    # (argv, expected exit code, must the offline refusal be printed?)
    steps: list[tuple[tuple[str, ...], int, bool]] = [
        (("doctor",), 0, False),
        (("doctor", "--json"), 0, False),
        (("models", "recommend"), 0, False),
        (("models", "recommend", "--json", "--all"), 0, False),
        (("models", "list"), 0, False),
        (("models", "pull", "qwen2.5-coder-0.5b-instruct"), 1, True),          # a catalog id
        (("models", "pull", "all-minilm-l6-v2"), 1, True),                     # the catalog's embedder
        (("models", "pull", "someone/Tutor-GGUF/t.gguf"), 1, True),            # any hub GGUF
        (("models", "pull", "someone/Tutor-GGUF:t.gguf", "--force"), 1, True),
        (("models", "pull", "https://huggingface.co/someone/Tutor-GGUF/blob/main/t.gguf"), 1, True),
        (("models", "pull", "mlx-community/Qwen2.5-0.5B-Instruct-4bit"), 1, True),  # an MLX repo
        (("models", "install-starter"), 1, True),                              # would run pip
        (("models", "install-starter", "--model", "smollm2-135m-instruct"), 1, True),
        (("bench",), 1, False),                                                # no model to bench
        (("eval", "learning", "--skip", "hints"), 1, False),                   # no chat model
        (("models", "import", str(gguf)), 0, False),
        (("models", "verify", "--all"), 0, False),
        (("auth", "hf", "--status"), 0, False),
        (("courses", "list"), 0, False),
        (("courses", "import", str(course_dir), "--id", "my-notes"), 0, False),
        (("courses", "index", "my-notes"), 1, False),                          # no embedding model
        (("ask", "What does a for loop do?", "--course", "my-notes"), 1, False),  # no models installed
        (("eval", "retrieval"), 1, False),
        (("eval", "tutor", "--limit", "2"), 1, False),                           # no embedding model
        (("models", "roles"), 0, False),                                        # says the cloud is blocked
        (("models", "roles", "--json"), 0, False),
        (("auth", "cloud", "--status"), 0, False),
        (("stats",), 0, False),
        (("stats", "--json", "--since", "2026-01-01"), 0, False),
        (("router", "explain", "Compare for and while loops in detail"), 0, False),
        (("router", "calibrate"), 0, False),
        (("router", "train", "--out", str(tmp_path / "router")), 1, False),    # no embedding model
        (("eval", "routing", "--cloud-url", OUTSIDE + "/v1", "--cloud-model", "m", "--limit", "2"), 1, False),
        (("courses", "rm", "my-notes"), 0, False),
        (("sync", "status"), 0, False),
        (("sync", "register", "--server", "https://sync.example.org", "--user", "ana", "--password-stdin"), 1, True),
        (("sync", "login", "--server", "https://sync.example.org", "--user", "ana", "--password-stdin"), 1, True),
        (("notes", "add", "my-notes/loops#loops", "for repeats"), 0, False),
        (("notes", "list", "--json"), 0, False),
        (("quiz", "--course", "python-from-zero", "--lesson", "05-loops", "--count", "4", "--json"), 0, False),
        (("review", "--json"), 0, False),                                      # the queue is local
        (("review",), 0, False),                                               # nothing due: no model loaded
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("a password that is never read\n"))
    problems = []
    for argv, want, refusal in steps:
        code, out, err = run_cli(capsys, *argv)
        said = out + err
        if code != want:
            problems.append(f"{' '.join(argv)}: exit {code}, wanted {want}\n{said}")
        if refusal and (OFFLINE not in err or "Hint:" not in err):
            problems.append(f"{' '.join(argv)}: no offline refusal printed\n{said}")
        if not refusal and OFFLINE in said:
            problems.append(f"{' '.join(argv)}: refused as offline though it needs no network\n{said}")
        if code and not refusal and not any(why in err for why in NOT_INSTALLED):
            problems.append(f"{' '.join(argv)}: failed for another reason than a missing model\n{said}")
        if guard.attempts:
            problems.append(f"{' '.join(argv)}: tried to reach the network: {guard.attempts}")
            guard.clear()
    assert not problems, "\n\n".join(problems)
    assert no_pip == []

    code, out, _ = run_cli(capsys, "models", "list", "--json")
    installed = json.loads(out)["models"]
    assert code == 0 and [m["source"] for m in installed] == ["import"]
    assert run_cli(capsys, "models", "rm", installed[0]["id"])[0] == 0
    assert guard.attempts == []

    # Notes are local; with an account on a server elsewhere, syncing is refused as offline.
    code, out, _ = run_cli(capsys, "notes", "list", "--json")
    note_id = json.loads(out)[0]["id"]
    assert run_cli(capsys, "notes", "edit", note_id, "for repeats a block")[0] == 0
    assert run_cli(capsys, "notes", "resolve", note_id, "--text", "for repeats a block per item")[0] == 0
    assert run_cli(capsys, "notes", "rm", note_id)[0] == 0
    from app.services.paths import resolve_paths
    from app.services.storage.learning_record import LearningRecord

    record = LearningRecord(resolve_paths().database_file)
    for name, value in (("server", "https://sync.example.org"), ("user", "ana"), ("device_name", "laptop"),
                        ("device_id", "4b9b2f4e-0000-4000-8000-000000000001")):
        record.set_meta(f"sync.{name}", value)
    record.close()
    for argv in (("sync", "now"), ("sync", "now", "--json"), ("sync", "devices")):
        code, _out, err = run_cli(capsys, *argv)
        assert code == 1 and OFFLINE in err and "Hint:" in err, (argv, err)
    code, out, _ = run_cli(capsys, "sync", "status", "--json")
    assert code == 0 and json.loads(out)["offline_mode"] and json.loads(out)["pending"] == 5
    assert run_cli(capsys, "sync", "logout")[0] == 0
    assert guard.attempts == []

    # Every command the parser knows was run above (a new command joins the sweep, or says why not).
    covered = {" ".join(argv[:2]) if argv[0] in {"models", "courses", "auth", "eval", "router"} else argv[0]
               for argv, _, _ in steps} | {"models rm"}
    covered = {c for c in covered if c not in {"sync", "notes"}} | {
        " ".join(argv[:2]) for argv, _, _ in steps if argv[0] in {"sync", "notes"}} | {
        "notes edit", "notes resolve", "notes rm", "sync now", "sync devices", "sync logout"}
    assert command_names(build_parser()) - NO_NETWORK_BY_DESIGN <= covered, (
        command_names(build_parser()) - NO_NETWORK_BY_DESIGN - covered)


def test_the_guard_sees_a_pull_when_offline_mode_is_off(offline_env, guard, capsys, monkeypatch):
    """The positive control: online, the same pull goes for HF_ENDPOINT — and the guard catches it."""
    monkeypatch.setenv("LANTERN_OFFLINE", "0")
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after_s=None: 0.0)
    code, _, err = run_cli(capsys, "models", "pull", "someone/Tutor-GGUF/t.gguf")
    assert code == 1 and OFFLINE not in err
    assert any("203.0.113.1" in str(target) for _, target in guard.attempts), guard.attempts
