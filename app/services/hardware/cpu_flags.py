"""The processor's raw feature flags, read cheaply enough to check before any compiled library loads.

The full CPU probe (cpu.py) reports only the SIMD features the recommender uses and may call
py-cpuinfo, which takes about a second; this runs at every start, so it reads one file, one sysctl
or one Windows API each time.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from app.core.cpu_support import missing_features, normalise_arch, unsupported_processor
from app.core.errors import UnsupportedProcessor

SKIP_ENV = "LANTERN_SKIP_CPU_CHECK"
# macOS Intel spells flags in machdep.cpu.features as "SSE4.2", "SSSE3", "POPCNT".
_MAC_NAMES = {"SSE4.1": "sse4_1", "SSE4.2": "sse4_2", "SSSE3": "ssse3", "POPCNT": "popcnt"}
# IsProcessorFeaturePresent ids (winnt.h). Windows has no id for POPCNT; every processor with
# SSE4.2 has it (Intel added both in Nehalem, AMD had POPCNT before it had SSE4.2).
_WINDOWS_PF = {"ssse3": 36, "sse4_1": 37, "sse4_2": 38}

CpuFlags = tuple[str, frozenset[str] | None, str | None]  # (architecture, flags or None, brand or None)


def flags_from_proc_cpuinfo(text: str) -> tuple[frozenset[str] | None, str | None]:
    """The first processor's flags (x86 `flags`, ARM `Features`) and model name."""
    flags: frozenset[str] | None = None
    brand = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if flags is None and key in ("flags", "features"):
            flags = frozenset(value.split())
        elif brand is None and key == "model name":
            brand = value.strip()
        if flags is not None and brand is not None:
            break
    return flags, brand


def flags_from_mac_sysctl(features: str) -> frozenset[str]:
    return frozenset(_MAC_NAMES.get(f, f.lower()) for f in features.split())


def _windows_flags() -> frozenset[str]:
    import ctypes

    present = ctypes.windll.kernel32.IsProcessorFeaturePresent  # type: ignore[attr-defined]
    found = {name for name, pf in _WINDOWS_PF.items() if present(pf)}
    if "sse4_2" in found:
        found.add("popcnt")
    return frozenset(found)


def read_cpu_flags() -> CpuFlags:
    """(architecture, flags or None when unreadable, brand or None) for this machine."""
    arch = normalise_arch(platform.machine())
    try:
        if sys.platform.startswith("linux"):
            flags, brand = flags_from_proc_cpuinfo(Path("/proc/cpuinfo").read_text(errors="replace"))
            return arch, flags, brand
        if sys.platform == "darwin" and arch == "x86_64":
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5, check=True).stdout.splitlines()
            return arch, flags_from_mac_sysctl(out[0] if out else ""), (out[1].strip() if len(out) > 1 else None)
        if sys.platform == "win32":
            return arch, _windows_flags(), None
    except (OSError, subprocess.SubprocessError, ValueError):
        return arch, None, None  # unreadable: let the app try rather than refuse a working machine
    return arch, None, None


def check_processor(reader: Callable[[], CpuFlags] | None = None) -> UnsupportedProcessor | None:
    """The refusal to show when this processor cannot run the app, else None."""
    if os.environ.get(SKIP_ENV) == "1":
        return None
    arch, flags, brand = (reader or read_cpu_flags)()
    missing = missing_features(arch, flags)
    return unsupported_processor(missing, brand) if missing else None
