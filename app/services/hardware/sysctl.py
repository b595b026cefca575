"""macOS sysctl: run it once for the keys we need and parse 'key: value' lines."""

from __future__ import annotations

import subprocess

SYSCTL_KEYS = (
    "machdep.cpu.brand_string", "machdep.cpu.features", "machdep.cpu.leaf7_features",
    "machdep.cpu.core_count", "machdep.cpu.thread_count", "hw.model", "hw.memsize", "hw.physicalcpu", "hw.logicalcpu",
    "hw.perflevel0.physicalcpu", "hw.perflevel1.physicalcpu", "hw.optional", "iogpu.wired_limit_mb",
)


def parse_sysctl(text: str) -> dict[str, str]:
    """Accepts `sysctl -a` style ('key: value') and BSD 'key = value' lines; later keys win."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for sep in (": ", " = ", ":"):
            if sep in line:
                key, _, value = line.partition(sep)
                if key and " " not in key.strip():
                    values[key.strip()] = value.strip()
                break
    return values


def sysctl_int(values: dict[str, str], key: str) -> int | None:
    raw = values.get(key)
    if raw is None:
        return None
    try:
        return int(raw.split()[0])
    except (ValueError, IndexError):
        return None


def run_sysctl(timeout: float = 2.0) -> dict[str, str]:
    # Unknown keys (e.g. iogpu.* on Intel Macs) make sysctl print an error and exit non-zero while
    # still printing the others, so the exit status is ignored.
    proc = subprocess.run(["sysctl", *SYSCTL_KEYS], capture_output=True, text=True, timeout=timeout, check=False)
    return parse_sysctl(proc.stdout)
