"""CPU probe: brand, cores, SIMD features, from /proc/cpuinfo, sysctl or CPUID (py-cpuinfo)."""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from app.core.cpu_support import normalise_arch
from app.core.profile import CpuInfo
from app.services.hardware.sysctl import sysctl_int

# The SIMD features the app reports and llama.cpp's CPU kernels care about.
X86_FLAGS = {"sse4_1": "sse4_1", "sse4_2": "sse4_2", "avx": "avx", "avx2": "avx2", "avx512f": "avx512f",
             "f16c": "f16c", "fma": "fma", "avx_vnni": "avx_vnni", "avx512_vnni": "avx512_vnni"}
ARM_FLAGS = {"asimd": "neon", "neon": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve",
             "asimdhp": "fp16"}
# macOS Intel spells them differently in machdep.cpu.features / leaf7_features.
MAC_X86_FLAGS = {"SSE4.1": "sse4_1", "SSE4.2": "sse4_2", "AVX1.0": "avx", "AVX2": "avx2",
                 "AVX512F": "avx512f", "F16C": "f16c", "FMA": "fma"}

# ARM "CPU part" ids (implementer 0x41, Arm Ltd) -> core name, from the Arm TRMs / Linux arch/arm64.
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
             "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2",
             "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
             "0xd82": "Cortex-X4"}


def _features(flags: Iterable[str], table: dict[str, str]) -> tuple[str, ...]:
    found = {table[f] for f in flags if f in table}
    return tuple(sorted(found))


def parse_proc_cpuinfo(text: str, *, machine: str | None = None) -> CpuInfo:
    """Parse Linux /proc/cpuinfo (x86 and ARM layouts)."""
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    processors: list[dict[str, str]] = []
    trailer: dict[str, str] = {}
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "processor" in fields and fields["processor"].isdigit():
            processors.append(fields)
        else:
            trailer.update(fields)
    logical = len(processors) or None
    first = processors[0] if processors else {}
    flags_line = first.get("flags") or first.get("features") or trailer.get("features") or ""
    flags = flags_line.split()
    is_arm = "cpu implementer" in first or "asimd" in flags or (machine or "").startswith(("arm", "aarch"))
    arch = normalise_arch(machine) if machine else ("arm64" if is_arm else "x86_64")

    physical: int | None = None
    core_ids = {(p.get("physical id", "0"), p["core id"]) for p in processors if "core id" in p}
    if core_ids:
        physical = len(core_ids)
    elif is_arm:
        physical = logical  # ARM cores have no SMT siblings in /proc/cpuinfo
    elif "cpu cores" in first and first["cpu cores"].isdigit():
        sockets = len({p.get("physical id", "0") for p in processors}) or 1
        physical = int(first["cpu cores"]) * sockets

    brand = first.get("model name") or trailer.get("model name")
    if is_arm and (not brand or brand.lower().startswith("arm")):
        parts = sorted({ARM_PARTS.get(p.get("cpu part", "").lower(), "") for p in processors} - {""})
        if parts:
            brand = " + ".join(parts)
    board = trailer.get("model") or trailer.get("hardware")
    return CpuInfo(
        arch=arch,
        brand=brand,
        physical_cores=physical,
        logical_cores=logical,
        features=_features(flags, ARM_FLAGS if is_arm else X86_FLAGS),
        board=board,
    )


def cpu_from_sysctl(values: dict[str, str]) -> CpuInfo:
    """macOS: Apple Silicon (hw.optional.arm.*) or Intel (machdep.cpu.*features)."""
    brand = values.get("machdep.cpu.brand_string")
    apple_silicon = bool(brand and brand.startswith("Apple")) or sysctl_int(values, "hw.optional.arm64") == 1
    if apple_silicon:
        feats = {"neon"}  # AArch64 makes Advanced SIMD mandatory, so every Apple Silicon chip has it
        if sysctl_int(values, "hw.optional.arm.FEAT_DotProd"):
            feats.add("dotprod")
        if sysctl_int(values, "hw.optional.arm.FEAT_I8MM"):
            feats.add("i8mm")
        if sysctl_int(values, "hw.optional.arm.FEAT_FP16") or sysctl_int(values, "hw.optional.neon_fp16"):
            feats.add("fp16")
        features: tuple[str, ...] = tuple(sorted(feats))
        arch = "arm64"
    else:
        flags = (values.get("machdep.cpu.features", "") + " " + values.get("machdep.cpu.leaf7_features", ""))
        features = _features(flags.split(), MAC_X86_FLAGS)
        arch = "x86_64"
    return CpuInfo(
        arch=arch,
        brand=brand,
        # `sysctl machdep.cpu` captures lack hw.*cpu; machdep.cpu.core_count/thread_count say the same.
        physical_cores=sysctl_int(values, "hw.physicalcpu") or sysctl_int(values, "machdep.cpu.core_count"),
        logical_cores=sysctl_int(values, "hw.logicalcpu") or sysctl_int(values, "machdep.cpu.thread_count"),
        performance_cores=sysctl_int(values, "hw.perflevel0.physicalcpu") if apple_silicon else None,
        efficiency_cores=sysctl_int(values, "hw.perflevel1.physicalcpu") if apple_silicon else None,
        features=features,
        board=values.get("hw.model"),
    )


def cpu_from_cpuid(info: dict[str, object], *, physical: int | None, logical: int | None) -> CpuInfo:
    """Windows: py-cpuinfo's get_cpu_info() dict (it executes CPUID)."""
    flags = info.get("flags") or []
    arch = normalise_arch(str(info.get("arch_string_raw") or platform.machine()))
    table = ARM_FLAGS if arch == "arm64" else X86_FLAGS
    return CpuInfo(
        arch=arch,
        brand=str(info["brand_raw"]) if info.get("brand_raw") else None,
        physical_cores=physical,
        logical_cores=logical,
        features=_features([str(f) for f in flags] if isinstance(flags, list) else [], table),
    )


def probe_cpu() -> CpuInfo:
    """Probe this machine's CPU (called in a time-bounded thread by the profiler)."""
    import psutil

    if sys.platform.startswith("linux") and Path("/proc/cpuinfo").exists():
        info = parse_proc_cpuinfo(Path("/proc/cpuinfo").read_text(errors="replace"), machine=platform.machine())
        board = info.board
        dt_model = Path("/proc/device-tree/model")
        if board is None and dt_model.exists():
            board = dt_model.read_text(errors="replace").strip("\x00\n ") or None
        # A container's /proc/cpuinfo lists every host CPU; we may only be allowed a few.
        allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        logical = min(info.logical_cores or allowed or 0, allowed or 10**6) or None
        physical = info.physical_cores
        if physical is not None and logical is not None and allowed is not None and allowed < (info.logical_cores or 0):
            physical = max(1, min(physical, logical))
        return info.model_copy(update={"board": board, "logical_cores": logical, "physical_cores": physical})
    if sys.platform == "darwin":
        from app.services.hardware.sysctl import run_sysctl

        return cpu_from_sysctl(run_sysctl())
    physical = psutil.cpu_count(logical=False)
    logical = psutil.cpu_count(logical=True)
    try:
        import cpuinfo  # py-cpuinfo: CPUID on Windows

        return cpu_from_cpuid(cpuinfo.get_cpu_info(), physical=physical, logical=logical)
    except Exception:
        return CpuInfo(arch=normalise_arch(platform.machine()), brand=platform.processor() or None,
                       physical_cores=physical, logical_cores=logical, features=None)
