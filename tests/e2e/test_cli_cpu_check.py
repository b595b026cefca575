"""`lantern` refuses an unsupported processor before loading any compiled library."""

from __future__ import annotations

import pytest

import app.cli as cli
from app.services.hardware import cpu_flags
from app.services.hardware.cpu_flags import flags_from_proc_cpuinfo
from tests.hardware_scenarios import HW


@pytest.fixture
def phenom(monkeypatch):
    flags, brand = flags_from_proc_cpuinfo((HW / "linux" / "phenom2-x2-555-desktop.cpuinfo.txt").read_text())
    monkeypatch.setattr(cpu_flags, "read_cpu_flags", lambda: ("x86_64", flags, brand))
    monkeypatch.delenv("LANTERN_SKIP_CPU_CHECK", raising=False)
    alerts: list[tuple[str, str]] = []
    monkeypatch.setattr(cli, "show_native_alert", lambda title, text: alerts.append((title, text)) or True)
    return alerts


def test_commands_refuse_with_message_hint_and_exit_code(phenom, capsys):
    assert cli.main(["doctor"]) == cli.EXIT_UNSUPPORTED_CPU
    err = capsys.readouterr().err
    assert "cannot run on this computer" in err and "SSE4.2" in err and "Hint:" in err
    assert phenom == []  # a terminal command prints; no dialog


def test_the_app_window_shows_the_refusal_in_a_native_dialog(phenom, capsys):
    assert cli.main(["gui"]) == cli.EXIT_UNSUPPORTED_CPU
    assert len(phenom) == 1 and "SSE4.2" in phenom[0][1] and "LANTERN_SKIP_CPU_CHECK" in phenom[0][1]


def test_version_still_answers(phenom, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and "lantern" in capsys.readouterr().out
