"""Apple Silicon chip, unified memory and GPU working set from recorded sysctl/system_profiler."""

from __future__ import annotations

import pytest

from app.core.profile import GIB, MIB
from app.services.hardware.apple import (
    apple_from_sysctl,
    apple_from_system_profiler,
    cores_from_system_profiler,
    default_working_set,
    parse_system_profiler,
)
from app.services.hardware.sysctl import parse_sysctl
from tests.hardware_scenarios import HW


@pytest.mark.parametrize(("name", "chip", "mem_gib"), [
    ("m2-16gb", "Apple M2", 16), ("m3-max-36gb", "Apple M3 Max", 36), ("m4-max-64gb", "Apple M4 Max", 64),
    ("m5-24gb", "Apple M5", 24),
])
def test_sysctl_recordings(name, chip, mem_gib):
    info = apple_from_sysctl(parse_sysctl((HW / "apple" / f"{name}.sysctl.txt").read_text()))
    assert info is not None
    assert info.chip == chip
    assert info.unified_memory_bytes == mem_gib * GIB
    assert info.gpu_working_set_source == "default-ratio"
    assert info.gpu_working_set_bytes == default_working_set(mem_gib * GIB)


def test_working_set_matches_metal_figures_logged_on_real_macs():
    # recommendedMaxWorkingSetSize logged by llama.cpp: 16 GB -> 10922.67 MB, 32 GB -> 21845.34 MB,
    # 64 GB -> 49152 MB (llama.cpp issues #1870/#2011, ollama #434).
    assert default_working_set(16 * GIB) / MIB == pytest.approx(10922.67, abs=0.01)
    assert default_working_set(32 * GIB) / MIB == pytest.approx(21845.34, abs=0.01)
    assert default_working_set(64 * GIB) / MIB == pytest.approx(49152.0, abs=0.01)


def test_wired_limit_overrides_default():
    values = parse_sysctl("machdep.cpu.brand_string: Apple M2\nhw.memsize: 17179869184\niogpu.wired_limit_mb: 14336\n")
    info = apple_from_sysctl(values)
    assert info is not None and info.gpu_working_set_bytes == 14336 * MIB
    assert info.gpu_working_set_source == "iogpu.wired_limit_mb"


def test_sysctl_without_brand_is_not_guessed():
    # `sysctl hw` captures have no brand string: the chip stays unknown rather than guessed.
    assert apple_from_sysctl(parse_sysctl((HW / "apple" / "m1-air-16gb.sysctl.txt").read_text())) is None


def test_system_profiler_m1_air_8gb():
    values = parse_system_profiler((HW / "apple" / "m1-air-8gb.system_profiler.txt").read_text())
    info = apple_from_system_profiler(values)
    assert info is not None and info.chip == "Apple M1" and info.unified_memory_bytes == 8 * GIB
    assert cores_from_system_profiler(values) == (8, 4, 4)


def test_intel_mac_is_not_apple_silicon():
    values = parse_sysctl("machdep.cpu.brand_string: Intel(R) Core(TM) i7-8850H CPU @ 2.60GHz\n"
                          "machdep.cpu.features: FPU SSE4.1 SSE4.2 AVX1.0 F16C FMA\nmachdep.cpu.leaf7_features: AVX2\n"
                          "hw.memsize: 17179869184\n")
    assert apple_from_sysctl(values) is None
