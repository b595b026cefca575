"""CPU parsing against recorded real /proc/cpuinfo and sysctl outputs (tests/fixtures/hardware)."""

from __future__ import annotations

import pytest

from app.services.hardware.cpu import cpu_from_cpuid, cpu_from_sysctl, parse_proc_cpuinfo, probe_cpu
from app.services.hardware.sysctl import parse_sysctl
from tests.hardware_scenarios import HW

# file -> (machine, brand contains, logical, physical, must have, must lack)
LINUX = {
    "celeron-j1900-qotom-q1900g4": ("x86_64", "J1900", 4, 4, {"sse4_1", "sse4_2"}, {"avx", "avx2", "fma"}),
    "pentium-g640-hp-s5-1224": ("x86_64", "G640", 2, 2, {"sse4_2"}, {"avx", "avx2"}),
    "i7-2600-sandybridge-desktop": ("x86_64", "i7-2600", 8, 4, {"avx", "sse4_2"}, {"avx2", "fma", "f16c"}),
    "xeon-x5560-dual-socket": ("x86_64", "X5560", 16, 8, {"sse4_2"}, {"avx"}),
    "i5-7200u-hp-probook-430-g4": ("x86_64", "i5-7200U", 4, 2, {"avx2", "fma", "f16c"}, {"avx512f"}),
    "ryzen7-2700x-desktop": ("x86_64", "2700X", 16, 8, {"avx2", "fma", "f16c"}, {"avx512f"}),
    "aws-ec2-xeon-8259cl-2vcpu": ("x86_64", "8259CL", 2, 1, {"avx512f", "avx2"}, set()),
    "rpi5-8gb-debian13": ("aarch64", "Cortex-A76", 4, 4, {"neon", "dotprod"}, {"avx"}),
    "rpi4-model-b-rev1.2": ("aarch64", "Cortex-A72", 4, 4, {"neon"}, {"dotprod"}),
    "odroid-c2-cortex-a53": ("aarch64", "", 4, 4, {"neon"}, {"dotprod"}),
    "ci-box-2core": ("x86_64", "EPYC", 2, 2, {"avx2"}, set()),
}


def _cpuinfo(name: str) -> str:
    folder = "this-box" if name == "ci-box-2core" else "linux"
    return (HW / folder / f"{name}.cpuinfo.txt").read_text()


@pytest.mark.parametrize("name", sorted(LINUX))
def test_proc_cpuinfo_recordings(name):
    machine, brand, logical, physical, has, lacks = LINUX[name]
    info = parse_proc_cpuinfo(_cpuinfo(name), machine=machine)
    assert info.arch == ("arm64" if machine == "aarch64" else "x86_64")
    assert brand in (info.brand or "")
    assert info.logical_cores == logical
    assert info.physical_cores == physical
    assert info.features is not None
    assert has <= set(info.features), info.features
    assert not (lacks & set(info.features)), info.features


def test_raspberry_pi_board_is_reported():
    info = parse_proc_cpuinfo(_cpuinfo("rpi4-model-b-rev1.2"), machine="aarch64")
    assert info.board is not None and "Raspberry Pi 4" in info.board


@pytest.mark.parametrize(("name", "brand", "physical", "perf", "eff", "has"), [
    ("m3-max-36gb", "Apple M3 Max", 14, 10, 4, {"neon", "dotprod", "i8mm"}),
    ("m4-max-64gb", "Apple M4 Max", 16, 12, 4, {"neon", "dotprod", "i8mm"}),
    ("m5-24gb", "Apple M5", 10, 4, 6, {"neon"}),
    ("m2-16gb", "Apple M2", 8, None, None, {"neon"}),   # a `sysctl machdep.cpu` capture: no perflevels
    ("m1-pro-16gb", "Apple M1 Pro", 8, 6, 2, {"neon"}),
])
def test_sysctl_recordings(name, brand, physical, perf, eff, has):
    info = cpu_from_sysctl(parse_sysctl((HW / "apple" / f"{name}.sysctl.txt").read_text()))
    assert info.arch == "arm64"
    assert info.brand == brand
    assert info.physical_cores == physical
    assert info.performance_cores == perf
    assert info.efficiency_cores == eff
    assert has <= set(info.features or ())


def test_cpuid_dict_from_py_cpuinfo_shape():
    info = cpu_from_cpuid({"brand_raw": "Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz", "arch_string_raw": "AMD64",
                           "flags": ["avx", "avx2", "fma", "f16c", "sse4_1", "sse4_2", "mmx"]}, physical=2, logical=4)
    assert info.arch == "x86_64" and info.features == ("avx", "avx2", "f16c", "fma", "sse4_1", "sse4_2")


def test_probe_on_this_machine_is_sane():
    info = probe_cpu()
    assert info.logical_cores and info.logical_cores >= 1
    assert info.physical_cores and 1 <= info.physical_cores <= info.logical_cores
    assert info.features is not None
