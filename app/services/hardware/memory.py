"""RAM, swap and free-disk probes."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.core.profile import DiskInfo, MemoryInfo


def parse_meminfo(text: str) -> MemoryInfo:
    """Linux /proc/meminfo (values in kB)."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kb[key.strip()] = int(parts[0]) * 1024
    available = kb.get("MemAvailable")
    if available is None and "MemFree" in kb:  # kernels before 3.14 have no MemAvailable
        available = kb["MemFree"] + kb.get("Cached", 0) + kb.get("Buffers", 0)
    return MemoryInfo(
        total_bytes=kb.get("MemTotal"),
        available_bytes=available,
        swap_total_bytes=kb.get("SwapTotal"),
        swap_free_bytes=kb.get("SwapFree"),
    )


def probe_memory() -> MemoryInfo:
    import psutil

    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    return MemoryInfo(total_bytes=vm.total, available_bytes=vm.available,
                      swap_total_bytes=sw.total, swap_free_bytes=sw.free)


def probe_disk(models_dir: Path) -> DiskInfo:
    """Free space on the volume that holds (or will hold) the models directory."""
    target = models_dir
    while not target.exists() and target.parent != target:
        target = target.parent
    usage = shutil.disk_usage(target)
    return DiskInfo(path=str(models_dir), total_bytes=usage.total, free_bytes=usage.free)
