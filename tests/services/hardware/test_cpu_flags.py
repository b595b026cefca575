"""The start-up processor check against recorded real /proc/cpuinfo captures (tests/fixtures/hardware)."""

from __future__ import annotations

import pytest

from app.core.errors import UnsupportedProcessor
from app.services.hardware.cpu_flags import (
    check_processor,
    flags_from_mac_sysctl,
    flags_from_proc_cpuinfo,
    read_cpu_flags,
)
from tests.hardware_scenarios import HW

PHENOM = HW / "linux" / "phenom2-x2-555-desktop.cpuinfo.txt"
ACCEPTED = [*sorted(p for p in (HW / "linux").glob("*.cpuinfo.txt") if p != PHENOM),
            HW / "this-box" / "ci-box-2core.cpuinfo.txt"]


def _reader(path, arch):
    flags, brand = flags_from_proc_cpuinfo(path.read_text())
    return lambda: (arch, flags, brand)


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.name.split(".")[0])
def test_every_recorded_machine_since_nehalem_and_every_arm_board_is_accepted(path, monkeypatch):
    monkeypatch.delenv("LANTERN_SKIP_CPU_CHECK", raising=False)
    text = path.read_text()
    flags, _ = flags_from_proc_cpuinfo(text)
    assert flags, path  # the flags line was found
    arch = "arm64" if "asimd" in flags or "CPU implementer" in text else "x86_64"
    assert check_processor(_reader(path, arch)) is None


def test_a_phenom_ii_is_refused_with_what_it_lacks(monkeypatch):
    # It has POPCNT (and AMD's SSE4a) but no SSSE3/SSE4.1/SSE4.2: loose matching on "sse4" would accept it.
    monkeypatch.delenv("LANTERN_SKIP_CPU_CHECK", raising=False)
    refusal = check_processor(_reader(PHENOM, "x86_64"))
    assert isinstance(refusal, UnsupportedProcessor)
    assert "SSSE3, SSE4.1, SSE4.2" in refusal.user_message and "Phenom(tm) II X2 555" in refusal.user_message
    assert "POPCNT" not in refusal.user_message


def test_the_skip_variable_starts_anyway(monkeypatch):
    monkeypatch.setenv("LANTERN_SKIP_CPU_CHECK", "1")
    assert check_processor(_reader(PHENOM, "x86_64")) is None


def test_intel_mac_sysctl_names():
    # machdep.cpu.features as an Intel Mac prints it (tests/services/hardware/test_apple_probe.py uses the same line).
    flags = flags_from_mac_sysctl("FPU SSE3 SSSE3 SSE4.1 SSE4.2 POPCNT AVX1.0 F16C FMA")
    assert {"ssse3", "sse4_1", "sse4_2", "popcnt"} <= flags


def test_this_machine_is_read_and_accepted(monkeypatch):
    monkeypatch.delenv("LANTERN_SKIP_CPU_CHECK", raising=False)
    arch, flags, _brand = read_cpu_flags()
    assert arch in ("x86_64", "arm64") and flags  # Linux CI: /proc/cpuinfo is readable
    assert check_processor() is None  # the tests themselves run here, so it must pass
