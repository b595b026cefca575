"""Apple Silicon: chip, unified memory and the GPU working-set budget."""

from __future__ import annotations

import re
import subprocess

from app.core.profile import GIB, MIB, AppleSiliconInfo, GpuInfo
from app.services.hardware.sysctl import sysctl_int

# Metal's recommendedMaxWorkingSetSize as llama.cpp logs it on real machines: 10922.67 MB on 16 GB
# and 21845.34 MB on 32 GB (2/3), 49152 MB on 64 GB (3/4); a 128 GB M5 Max logged 107.52 GiB (0.84)
# (llama.cpp issues #1870, #2011; ollama #434; antirez/ds4 #893). We take 2/3 up to 32 GiB and 3/4
# above: never more than the real budget on the machines we have records of.
SMALL_RATIO = 2 / 3
LARGE_RATIO = 3 / 4
LARGE_THRESHOLD = 32 * GIB


def default_working_set(memsize: int) -> int:
    return int(memsize * (SMALL_RATIO if memsize <= LARGE_THRESHOLD else LARGE_RATIO))


def apple_from_sysctl(values: dict[str, str], *, ioreg_text: str | None = None) -> AppleSiliconInfo | None:
    brand = values.get("machdep.cpu.brand_string") or ""
    if not brand.startswith("Apple"):
        return None
    memsize = sysctl_int(values, "hw.memsize")
    wired_mb = sysctl_int(values, "iogpu.wired_limit_mb")
    if wired_mb:  # 0 means "system default"
        budget, source = wired_mb * MIB, "iogpu.wired_limit_mb"
    elif memsize:
        budget, source = default_working_set(memsize), "default-ratio"
    else:
        budget, source = None, None
    gpu_cores = None
    if ioreg_text:
        match = re.search(r'"gpu-core-count"\s*=\s*(\d+)', ioreg_text)
        gpu_cores = int(match.group(1)) if match else None
    return AppleSiliconInfo(chip=brand, unified_memory_bytes=memsize, gpu_working_set_bytes=budget,
                            gpu_working_set_source=source, gpu_cores=gpu_cores)


def parse_system_profiler(text: str) -> dict[str, str]:
    """`system_profiler SPHardwareDataType`: 'Key: value' lines under 'Hardware Overview'."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep and value:
            values[key] = value.strip()
    return values


def _memory_bytes(text: str) -> int | None:
    match = re.match(r"([\d.]+)\s*(GB|TB|MB)", text)
    if not match:
        return None
    scale = {"MB": MIB, "GB": GIB, "TB": 1024 * GIB}[match.group(2)]
    return int(float(match.group(1)) * scale)


def apple_from_system_profiler(values: dict[str, str]) -> AppleSiliconInfo | None:
    """Fallback when sysctl lacks the brand string; Apple reports 'Memory: 8 GB' meaning GiB."""
    chip = values.get("Chip")
    if not chip or not chip.startswith("Apple"):
        return None
    memsize = _memory_bytes(values.get("Memory", ""))
    return AppleSiliconInfo(chip=chip, unified_memory_bytes=memsize,
                            gpu_working_set_bytes=default_working_set(memsize) if memsize else None,
                            gpu_working_set_source="default-ratio" if memsize else None)


def cores_from_system_profiler(values: dict[str, str]) -> tuple[int | None, int | None, int | None]:
    """'Total Number of Cores: 8 (4 performance and 4 efficiency)' -> (8, 4, 4)."""
    match = re.match(r"(\d+)(?:\s*\((\d+) performance and (\d+) efficiency\))?",
                     values.get("Total Number of Cores", ""))
    if not match:
        return None, None, None
    total, perf, eff = match.groups()
    return int(total), int(perf) if perf else None, int(eff) if eff else None


def apple_gpu(info: AppleSiliconInfo) -> GpuInfo:
    return GpuInfo(vendor="apple", name=f"{info.chip} GPU" + (f" ({info.gpu_cores} cores)" if info.gpu_cores else ""),
                   total_vram_bytes=info.gpu_working_set_bytes, source="sysctl")


def probe_apple() -> AppleSiliconInfo | None:
    from app.services.hardware.sysctl import run_sysctl

    values = run_sysctl()
    ioreg = None
    try:
        ioreg = subprocess.run(["ioreg", "-rc", "AGXAccelerator", "-d", "1"], capture_output=True, text=True,
                               timeout=2.0, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        ioreg = None
    info = apple_from_sysctl(values, ioreg_text=ioreg)
    if info is None and sysctl_int(values, "hw.optional.arm64") == 1:  # Apple Silicon, no brand string
        proc = subprocess.run(["system_profiler", "SPHardwareDataType"], capture_output=True, text=True,
                              timeout=5.0, check=False)
        info = apple_from_system_profiler(parse_system_profiler(proc.stdout))
    return info
