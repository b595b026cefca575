"""The `lantern` command end to end, as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hardware_scenarios import profile

LANTERN = [sys.executable, "-m", "app"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*LANTERN, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("lantern ")


def test_doctor_summary_on_this_machine():
    proc = run("doctor")
    assert proc.returncode == 0, proc.stderr
    for label in ("System:", "CPU:", "SIMD:", "Memory:", "Disk:", "GPU:", "llama.cpp:", "MLX:"):
        assert label in proc.stdout


def test_doctor_json_reproduces_the_recommendation_anywhere(tmp_path):
    proc = run("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "lantern.device-profile" and data["version"] == 1
    saved = tmp_path / "profile.json"
    saved.write_text(proc.stdout)
    a = json.loads(run("models", "recommend", "--profile", str(saved), "--json").stdout)
    b = json.loads(run("models", "recommend", "--profile", str(saved), "--json").stdout)
    assert a["pick"] is not None and a == b
    # doctor --profile shows someone else's machine
    shown = run("doctor", "--profile", str(saved))
    assert shown.returncode == 0 and "CPU:" in shown.stdout


def test_recommend_for_a_recorded_profile(tmp_path):
    saved = tmp_path / "rtx3060.json"
    saved.write_text(profile("rtx3060-desktop").to_json())
    proc = run("models", "recommend", "--profile", str(saved), "--json", "--ctx", "8192", "--intent", "code")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "lantern.recommendation" and data["intent"] == "code" and data["context_length"] == 8192
    assert data["pick"]["fit"]["verdict"] == "full_gpu"
    assert data["pick"]["download_size_is_estimate"] is True
    assert {o["fit"]["verdict"] for o in data["options"]} >= {"full_gpu", "too_large", "runtime_unavailable"}
    text = run("models", "recommend", "--profile", str(saved))
    assert "Recommended:" in text.stdout and "★" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("models", "recommend", "--profile", "/nonexistent/p.json"), "does not exist"),
    (("models", "recommend", "--ctx", "10"), "out of range"),
])
def test_errors_are_plain_with_a_hint_and_no_traceback(args, message):
    proc = run(*args)
    assert proc.returncode == 1
    assert message in proc.stderr and "Hint:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("env", [{"LANTERN_UI_LANGUAGE": "vi"},  # the setting
                                 {"LANTERN_UI_LANGUAGE": "system", "LANGUAGE": "vi_VN:en", "LC_ALL": "", "LANG": ""}])
def test_the_cli_speaks_the_settings_language_or_the_systems(lantern_home, env):
    proc = run("models", "recommend", "--ctx", "10", env_extra=env)
    assert proc.returncode == 1
    assert "Lỗi: --ctx 10 nằm ngoài phạm vi cho phép." in proc.stderr
    assert "Lỗi:" in proc.stderr and "Gợi ý:" in proc.stderr and "out of range" not in proc.stderr
    english = run("models", "recommend", "--ctx", "10", env_extra={"LANTERN_UI_LANGUAGE": "en"})
    assert "out of range" in english.stderr and "Hint:" in english.stderr


def test_broken_profile_file(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"schema": "lantern.device-profile", "version": 1, "cpu": {"physical_cores": "two"}}')
    proc = run("doctor", "--profile", str(bad))
    assert proc.returncode == 1 and "cpu.physical_cores" in proc.stderr


def test_broken_settings_file_is_reported(lantern_home):
    lantern_home.mkdir(parents=True, exist_ok=True)
    (lantern_home / "config.toml").write_text("context_length = [")
    proc = run("doctor")
    assert proc.returncode == 1 and "not valid TOML" in proc.stderr


def test_debug_logs_to_console_and_file(lantern_home):
    proc = run("--debug", "doctor")
    assert proc.returncode == 0
    assert (lantern_home / "logs" / "lantern.log").exists()


def test_committed_example_profiles_are_current():
    # docs and users reproduce recommendations from these files; keep them equal to the scenarios.
    for path in sorted((ROOT / "tests" / "fixtures" / "profiles").glob("*.json")):
        assert json.loads(path.read_text()) == json.loads(profile(path.stem).to_json()), path.name


def test_gui_starts_offscreen_and_quits_cleanly():
    proc = run("gui", "--quit-after-ms", "1500", env_extra={"QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_gui_without_a_screen_says_so():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([*LANTERN], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    if sys.platform.startswith("linux"):
        assert proc.returncode == 1 and "no screen" in proc.stderr
