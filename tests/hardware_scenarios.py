"""Device profiles of real hardware classes, built from recorded real outputs.

Each scenario names the recordings it is built from (tests/fixtures/hardware/*, provenance in each
folder's SOURCES.md) and runs them through the same parsers the probes use. What no recording can
give is a *situation*, stated explicitly per scenario: how much RAM the class has when no meminfo
was recorded (from the class description in issue 2), how much of it other apps use, free disk,
and which llama.cpp build is installed. Those are the test's inputs, not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.core.profile import (
    GIB,
    CpuInfo,
    DeviceProfile,
    DiskInfo,
    GpuInfo,
    LlamaCppRuntime,
    MemoryInfo,
    MlxRuntime,
    OsInfo,
    Runtimes,
)
from app.services.hardware.apple import (
    apple_from_sysctl,
    apple_from_system_profiler,
    apple_gpu,
    cores_from_system_profiler,
    parse_system_profiler,
)
from app.services.hardware.cpu import cpu_from_sysctl, parse_proc_cpuinfo
from app.services.hardware.memory import parse_meminfo
from app.services.hardware.nvidia import parse_nvidia_smi_table, parse_nvidia_smi_xml, parse_query_gpu_csv
from app.services.hardware.sysctl import parse_sysctl

HW = Path(__file__).parent / "fixtures" / "hardware"

CPU_BUILD = Runtimes(llama_cpp=LlamaCppRuntime(installed=True, version="0.3.36", gpu_offload=False, backends=("cpu",)))
CUDA_BUILD = Runtimes(llama_cpp=LlamaCppRuntime(installed=True, version="0.3.36", gpu_offload=True,
                                                backends=("cpu", "cuda")))
METAL_BUILD = Runtimes(llama_cpp=LlamaCppRuntime(installed=True, version="0.3.36", gpu_offload=True,
                                                 backends=("cpu", "metal")),
                       mlx=MlxRuntime(installed=True, can_run=True, device="gpu"))


def _read(rel: str) -> str:
    return (HW / rel).read_text()


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    recordings: tuple[str, ...]
    # situation (stated, not measured):
    ram_total_gib: float | None = None     # None: from the recorded meminfo / sysctl
    ram_in_use_gib: float = 0.0            # used by the OS and other apps
    disk_free_gib: float = 200.0
    runtimes: Runtimes = field(default=CPU_BUILD)
    gpu_parser: str | None = None          # "xml", "csv", "table"


def _memory(s: Scenario, recorded: MemoryInfo | None, unified: int | None) -> MemoryInfo:
    total = int(s.ram_total_gib * GIB) if s.ram_total_gib is not None else (
        unified if unified is not None else (recorded.total_bytes if recorded else None))
    assert total is not None, s.name
    if recorded is not None and s.ram_total_gib is None and unified is None:
        return recorded  # the recording's own MemTotal / MemAvailable
    return MemoryInfo(total_bytes=total, available_bytes=total - int(s.ram_in_use_gib * GIB),
                      swap_total_bytes=None, swap_free_bytes=None)


def build(s: Scenario) -> DeviceProfile:
    cpu: CpuInfo | None = None
    recorded_mem: MemoryInfo | None = None
    apple = None
    gpus: list[GpuInfo] = []
    system = "Linux"
    for rec in s.recordings:
        text = _read(rec)
        if rec.endswith(".cpuinfo.txt"):
            machine = "aarch64" if any(k in rec for k in ("rpi", "graviton", "odroid")) else "x86_64"
            cpu = parse_proc_cpuinfo(text, machine=machine)
        elif rec.endswith(".meminfo.txt"):
            recorded_mem = parse_meminfo(text)
        elif rec.endswith(".sysctl.txt"):
            values = parse_sysctl(text)
            cpu = cpu_from_sysctl(values)
            apple = apple_from_sysctl(values)
            system = "Darwin"
        elif rec.endswith(".system_profiler.txt"):
            values = parse_system_profiler(text)
            apple = apple_from_system_profiler(values)
            total, perf, eff = cores_from_system_profiler(values)
            cpu = CpuInfo(arch="arm64", brand=values.get("Chip"), physical_cores=total, logical_cores=total,
                          performance_cores=perf, efficiency_cores=eff, features=("neon",),
                          board=values.get("Model Identifier"))
            system = "Darwin"
        elif rec.endswith(".xml"):
            gpus += parse_nvidia_smi_xml(text)
        elif rec.endswith(".csv"):
            gpus += parse_query_gpu_csv(text)
        elif rec.endswith("nvidia-smi.txt"):
            gpus += parse_nvidia_smi_table(text)[:1]  # one card of the recorded 8-GPU box
        else:
            raise AssertionError(f"unknown recording {rec}")
    if apple is not None:
        gpus.insert(0, apple_gpu(apple))
    memory = _memory(s, recorded_mem, apple.unified_memory_bytes if apple else None)
    if apple is not None:
        memory = MemoryInfo(total_bytes=memory.total_bytes,
                            available_bytes=memory.total_bytes - int(s.ram_in_use_gib * GIB))  # type: ignore[operator]
    return DeviceProfile(
        label=f"{s.name}: {s.description}",
        os=OsInfo(system=system),
        cpu=cpu or CpuInfo(),
        memory=memory,
        disk=DiskInfo(path="/models", total_bytes=None, free_bytes=int(s.disk_free_gib * GIB)),
        apple=apple,
        gpus=tuple(gpus),
        runtimes=s.runtimes,
    )


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("m1-air-8gb", "MacBook Air M1, 8 GB (system_profiler recording)",
             ("apple/m1-air-8gb.system_profiler.txt",), ram_in_use_gib=3.0, runtimes=METAL_BUILD),
    Scenario("m2-16gb", "Apple M2, 16 GB (sysctl recording)",
             ("apple/m2-16gb.sysctl.txt",), ram_in_use_gib=5.0, runtimes=METAL_BUILD),
    Scenario("m3-max-36gb", "MacBook Pro M3 Max, 36 GB (sysctl recording)",
             ("apple/m3-max-36gb.sysctl.txt",), ram_in_use_gib=8.0, runtimes=METAL_BUILD),
    Scenario("rtx3060-desktop", "RTX 3060 12 GB + 16 GB RAM desktop (Ryzen 7 2700X cpuinfo, RTX 3060 nvidia-smi -q -x)",
             ("linux/ryzen7-2700x-desktop.cpuinfo.txt", "nvidia/rtx3060-12gb.xml"),
             ram_total_gib=16, ram_in_use_gib=4.0, runtimes=CUDA_BUILD),
    Scenario("rtx4090-workstation", "RTX 4090 24 GB + 64 GB RAM (Ryzen 7 2700X cpuinfo, RTX 4090 nvidia-smi table)",
             ("linux/ryzen7-2700x-desktop.cpuinfo.txt", "nvidia/rtx4090-x8-nvidia-smi.txt"),
             ram_total_gib=64, ram_in_use_gib=8.0, runtimes=CUDA_BUILD),
    Scenario("gtx1650-laptop-busy",
             "GTX 1650 4 GB with 2.5 GB held by another app + 16 GB RAM (i5-7200U laptop cpuinfo)",
             ("linux/i5-7200u-hp-probook-430-g4.cpuinfo.txt", "nvidia/gtx1650-4gb-busy.query-gpu.csv"),
             ram_total_gib=16, ram_in_use_gib=5.0, runtimes=CUDA_BUILD),
    Scenario("busy-vgpu", "GPU mostly used by other apps: GRID P4-1Q vGPU 807 of 1024 MiB used + 8 GB RAM",
             ("linux/i5-7200u-hp-probook-430-g4.cpuinfo.txt", "nvidia/busy-gpu-grid-p4-1q.xml"),
             ram_total_gib=8, ram_in_use_gib=3.0, runtimes=CUDA_BUILD),
    Scenario("laptop-8gb-no-gpu", "8 GB laptop without GPU (i5-7200U cpuinfo)",
             ("linux/i5-7200u-hp-probook-430-g4.cpuinfo.txt",), ram_total_gib=8, ram_in_use_gib=3.0),
    Scenario("box-4gb-no-avx2", "4 GB mini PC without AVX2 (Celeron J1900 cpuinfo)",
             ("linux/celeron-j1900-qotom-q1900g4.cpuinfo.txt",), ram_total_gib=4, ram_in_use_gib=1.0),
    Scenario("rpi5-8gb", "Raspberry Pi 5 8 GB (recorded cpuinfo and meminfo)",
             ("linux/rpi5-8gb-debian13.cpuinfo.txt", "linux/rpi5-8gb-debian13.meminfo.txt"), disk_free_gib=40),
    Scenario("ci-box-2core", "this project's 2-core CI box (recorded cpuinfo and meminfo)",
             ("this-box/ci-box-2core.cpuinfo.txt", "this-box/ci-box-2core.meminfo.txt"), disk_free_gib=79),
    Scenario("nearly-full-disk", "i7-2600 desktop, recorded meminfo, 3 GB free disk",
             ("linux/i7-2600-sandybridge-desktop.cpuinfo.txt", "linux/i7-2600-sandybridge-desktop.meminfo.txt"),
             disk_free_gib=3.0),
    Scenario("old-dual-xeon", "dual Xeon X5560 server, recorded cpuinfo and meminfo (AVX-less)",
             ("linux/xeon-x5560-dual-socket.cpuinfo.txt", "linux/xeon-x5560-dual-socket.meminfo.txt")),
)}


def profile(name: str) -> DeviceProfile:
    return build(SCENARIOS[name])
