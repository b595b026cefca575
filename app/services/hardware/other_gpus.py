"""AMD and Intel GPUs, reported where the OS makes them visible (sysfs on Linux, CIM on Windows).

They are listed for the user's information; llama.cpp's Vulkan/ROCm/SYCL builds are not what we
ship, so the planner does not offload to them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from app.core.profile import GpuInfo

PCI_VENDORS = {"0x1002": "amd", "0x1022": "amd", "0x8086": "intel", "0x10de": "nvidia"}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def lspci_names(text: str) -> dict[str, str]:
    """`lspci -mm -D` lines -> {pci slot: "Vendor Device"} for display controllers."""
    names = {}
    for line in text.splitlines():
        fields = re.findall(r'"([^"]*)"', line)
        slot = line.split(" ", 1)[0]
        if len(fields) >= 3 and re.search(r"VGA|3D|Display", fields[0]):
            names[slot] = f"{fields[1]} {fields[2]}"
    return names


def sysfs_gpus(drm_root: Path = Path("/sys/class/drm"), lspci_text: str | None = None) -> list[GpuInfo]:
    names = lspci_names(lspci_text) if lspci_text else {}
    gpus: list[GpuInfo] = []
    for card in sorted(drm_root.glob("card[0-9]*")):
        if "-" in card.name:  # connectors like card0-HDMI-A-1
            continue
        device = card / "device"
        vendor = PCI_VENDORS.get(_read(device / "vendor") or "")
        if vendor in (None, "nvidia"):  # NVIDIA comes from NVML/nvidia-smi with real VRAM figures
            continue
        slot = device.resolve().name
        total = _read(device / "mem_info_vram_total")
        used = _read(device / "mem_info_vram_used")
        gpus.append(GpuInfo(
            vendor="amd" if vendor == "amd" else "intel",
            name=names.get(slot) or f"{vendor.upper()} GPU {_read(device / 'device') or ''}".strip(),
            total_vram_bytes=int(total) if total and total.isdigit() else None,
            used_vram_bytes=int(used) if used and used.isdigit() else None,
            free_vram_bytes=int(total) - int(used) if total and used and total.isdigit() and used.isdigit() else None,
            source="sysfs",
        ))
    return gpus


def windows_gpus(timeout: float) -> list[GpuInfo]:
    cmd = ["powershell", "-NoProfile", "-Command",
           "Get-CimInstance Win32_VideoController | Select-Object Name,AdapterRAM | ConvertTo-Json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    data = json.loads(proc.stdout or "[]")
    rows = data if isinstance(data, list) else [data]
    gpus = []
    for row in rows:
        name = str(row.get("Name") or "")
        low = name.lower()
        vendor = "amd" if ("amd" in low or "radeon" in low) else "intel" if "intel" in low else None
        if vendor is None:
            continue
        # AdapterRAM is a 32-bit field: it saturates at 4 GiB, so larger cards read as unknown.
        ram = row.get("AdapterRAM")
        total = int(ram) if isinstance(ram, int) and 0 < ram < 4 * 1024**3 - 1 else None
        gpus.append(GpuInfo(vendor=vendor, name=name, total_vram_bytes=total, source="wmi"))
    return gpus


def probe_other_gpus(timeout: float = 3.0) -> list[GpuInfo]:
    if sys.platform.startswith("linux"):
        lspci = shutil.which("lspci")
        text = None
        if lspci:
            text = subprocess.run([lspci, "-mm", "-D"], capture_output=True, text=True, timeout=timeout,
                                  check=False).stdout
        return sysfs_gpus(lspci_text=text)
    if sys.platform == "win32":
        return windows_gpus(timeout)
    return []
