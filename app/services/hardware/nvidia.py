"""NVIDIA GPUs through NVML (nvidia-ml-py), with `nvidia-smi -q -x` parsing as the fallback."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from types import ModuleType
from typing import Any

from app.core.profile import MIB, GpuInfo


def _text(node: ET.Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return None if value in ("", "N/A", "Not Supported", "[N/A]") else value


def _mib(value: str | None) -> int | None:
    if not value:
        return None
    number = value.split()[0]
    try:
        return int(float(number) * MIB)
    except ValueError:
        return None


def parse_nvidia_smi_xml(text: str) -> list[GpuInfo]:
    """Parse `nvidia-smi -q -x`; works for the DTD versions from driver 3xx through 5xx/5xx+."""
    root = ET.fromstring(text)
    driver = _text(root, "driver_version")
    cuda = _text(root, "cuda_version")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        name = _text(gpu, "product_name") or "NVIDIA GPU"
        gpus.append(GpuInfo(
            vendor="nvidia",
            name=name,
            index=int(_text(gpu, "minor_number") or index) if (_text(gpu, "minor_number") or "").isdigit() else index,
            total_vram_bytes=_mib(_text(gpu, "fb_memory_usage/total")),
            free_vram_bytes=_mib(_text(gpu, "fb_memory_usage/free")),
            used_vram_bytes=_mib(_text(gpu, "fb_memory_usage/used")),
            compute_capability=_text(gpu, "compute_cap") or capability_for(name),
            driver_version=driver,
            cuda_version=cuda,
            source="nvidia-smi",
        ))
    return gpus


# Compute capability by product name, for nvidia-smi outputs that do not report it (the -q -x XML
# never does). From NVIDIA's "CUDA GPUs - Compute Capability" table; longest match wins.
# Patterns are matched as whole words against the product name; the first match wins.
COMPUTE_CAPABILITY = (
    (r"RTX \d+ Ada", "8.9"),
    (r"GT 1030|GTX 10\d0( Ti)?|Tesla P4|GRID P4|P40", "6.1"), (r"P100", "6.0"), (r"V100", "7.0"),
    (r"GTX 16\d0( Ti| SUPER)?|RTX 20\d0( Ti| SUPER)?|Tesla T4|T4|Quadro RTX \d+", "7.5"),
    (r"A100|A30", "8.0"), (r"RTX 30\d0( Ti)?|A10G?|A40|RTX A\d+", "8.6"),
    (r"RTX 40\d0( Ti| SUPER)?|L4|L40S?", "8.9"), (r"H100|H200", "9.0"), (r"RTX 50\d0( Ti)?", "12.0"),
)


def capability_for(name: str) -> str | None:
    for pattern, capability in COMPUTE_CAPABILITY:
        if re.search(rf"(?<![\w])(?:{pattern})(?![\w])", name, re.I):
            return capability
    return None


def parse_query_gpu_csv(text: str) -> list[GpuInfo]:
    """`nvidia-smi --query-gpu=name,memory.total,memory.used,memory.free --format=csv[,noheader]`."""
    gpus = []
    rows = [row for row in text.splitlines() if row.strip() and not row.startswith("name")]
    for index, line in enumerate(rows):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 4:
            continue
        name = cells[0]
        total, used, free = (_mib(c) for c in cells[1:4])
        gpus.append(GpuInfo(vendor="nvidia", name=name, index=index, total_vram_bytes=total, used_vram_bytes=used,
                            free_vram_bytes=free, compute_capability=capability_for(name), source="nvidia-smi"))
    return gpus


_TABLE_HEAD = re.compile(r"Driver Version:\s*(\S+)\s+CUDA Version:\s*(\S+)")
_TABLE_GPU = re.compile(r"^\|\s+(\d+)\s+(.+?)\s+(On|Off)\s+\|")
_TABLE_MEM = re.compile(r"(\d+)MiB\s*/\s*(\d+)MiB")


def parse_nvidia_smi_table(text: str) -> list[GpuInfo]:
    """The plain `nvidia-smi` summary table (what users paste). It has no free column and hides the
    driver-reserved VRAM, so free = total - used overstates free memory by that reserve (~350 MiB)."""
    head = _TABLE_HEAD.search(text)
    driver, cuda = (head.group(1), head.group(2)) if head else (None, None)
    gpus: list[GpuInfo] = []
    pending: tuple[int, str] | None = None
    for line in text.splitlines():
        match = _TABLE_GPU.match(line)
        if match:
            pending = (int(match.group(1)), match.group(2).strip())
            continue
        mem = _TABLE_MEM.search(line)
        if pending and mem:
            used, total = int(mem.group(1)) * MIB, int(mem.group(2)) * MIB
            gpus.append(GpuInfo(vendor="nvidia", name=pending[1], index=pending[0], total_vram_bytes=total,
                                used_vram_bytes=used, free_vram_bytes=total - used,
                                compute_capability=capability_for(pending[1]), driver_version=driver,
                                cuda_version=cuda, source="nvidia-smi"))
            pending = None
    return gpus


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpus_from_nvml(nvml: ModuleType | Any) -> list[GpuInfo]:
    """Read every GPU through an NVML binding (pynvml from nvidia-ml-py, or a recorded stand-in)."""
    nvml.nvmlInit()
    try:
        driver = _decode(nvml.nvmlSystemGetDriverVersion())
        cuda_int = nvml.nvmlSystemGetCudaDriverVersion_v2() if hasattr(nvml, "nvmlSystemGetCudaDriverVersion_v2") \
            else nvml.nvmlSystemGetCudaDriverVersion()
        cuda = f"{cuda_int // 1000}.{(cuda_int % 1000) // 10}"
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
                capability: str | None = f"{major}.{minor}"
            except Exception:
                capability = None
            gpus.append(GpuInfo(
                vendor="nvidia", name=_decode(nvml.nvmlDeviceGetName(handle)), index=index,
                total_vram_bytes=int(mem.total), free_vram_bytes=int(mem.free), used_vram_bytes=int(mem.used),
                compute_capability=capability, driver_version=driver, cuda_version=cuda, source="nvml",
            ))
        return gpus
    finally:
        nvml.nvmlShutdown()


def probe_nvidia(timeout: float = 3.0) -> list[GpuInfo]:
    """NVML first; `nvidia-smi -q -x` if NVML is missing or fails; [] when there is no NVIDIA driver."""
    nvml_error: Exception | None = None
    try:
        import pynvml

        return gpus_from_nvml(pynvml)
    except Exception as exc:
        nvml_error = exc
    smi = shutil.which("nvidia-smi")
    if smi is None:
        if nvml_error is not None and "NotFound" not in type(nvml_error).__name__ \
                and "not found" not in str(nvml_error).lower() and not isinstance(nvml_error, ImportError):
            raise RuntimeError(f"NVML failed: {nvml_error}") from nvml_error
        return []
    proc = subprocess.run([smi, "-q", "-x"], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nvidia-smi failed: {proc.stderr.strip() or proc.stdout.strip()[:200]}")
    try:
        return parse_nvidia_smi_xml(proc.stdout)
    except ET.ParseError:
        # Some vendor-patched drivers print a broken XML; the CSV query carries the essentials.
        csv = subprocess.run([smi, "--query-gpu=name,memory.total,memory.used,memory.free", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=timeout, check=False)
        return parse_query_gpu_csv(csv.stdout)
