"""NVIDIA probing: recorded nvidia-smi outputs, NVML replay, and the NVML -> nvidia-smi fallback."""

from __future__ import annotations

import os
import stat
import sys
import types
from collections import namedtuple

import pytest

from app.core.profile import MIB
from app.services.hardware import nvidia
from app.services.hardware.nvidia import (
    gpus_from_nvml,
    parse_nvidia_smi_table,
    parse_nvidia_smi_xml,
    parse_query_gpu_csv,
)
from tests.hardware_scenarios import HW

NV = HW / "nvidia"


@pytest.mark.parametrize(("name", "product", "total", "free", "used", "driver", "cuda", "cc"), [
    ("rtx3060-12gb.xml", "NVIDIA GeForce RTX 3060", 12288, 11806, 116, "570.124.04", "12.8", "8.6"),
    ("busy-gpu-grid-p4-1q.xml", "GRID P4-1Q", 1024, 106, 807, "513.46", "11.6", "6.1"),
    ("gt1030-2gb.xml", "NVIDIA GeForce GT 1030", 1998, 1123, 875, "470.74", "11.4", "6.1"),
    ("tesla-t4.xml", "Tesla T4", 15360, 13939, 1032, "515.105.01", "11.7", "7.5"),
    ("a100-sxm4-80gb-mig.xml", "NVIDIA A100-SXM4-80GB", 81920, 80999, 50, "535.54.03", "12.2", "8.0"),
    ("gtx1660ti-graphics-device.xml", "Graphics Device", 5912, 5912, 0, "418.43", "10.1", None),
])
def test_nvidia_smi_xml_recordings(name, product, total, free, used, driver, cuda, cc):
    (gpu,) = parse_nvidia_smi_xml((NV / name).read_text())
    assert gpu.name == product
    assert (gpu.total_vram_bytes, gpu.free_vram_bytes, gpu.used_vram_bytes) == (total * MIB, free * MIB, used * MIB)
    assert (gpu.driver_version, gpu.cuda_version, gpu.compute_capability) == (driver, cuda, cc)
    assert gpu.source == "nvidia-smi"


def test_query_gpu_csv_recording_gtx1650():
    (gpu,) = parse_query_gpu_csv((NV / "gtx1650-4gb-busy.query-gpu.csv").read_text())
    assert gpu.name == "NVIDIA GeForce GTX 1650"
    assert (gpu.total_vram_bytes, gpu.used_vram_bytes, gpu.free_vram_bytes) == (4096 * MIB, 2566 * MIB, 1385 * MIB)
    assert gpu.compute_capability == "7.5"


def test_plain_table_recording_rtx4090_x8():
    gpus = parse_nvidia_smi_table((NV / "rtx4090-x8-nvidia-smi.txt").read_text())
    assert [g.index for g in gpus] == list(range(8))
    assert all(g.name == "NVIDIA GeForce RTX 4090" and g.total_vram_bytes == 24564 * MIB for g in gpus)
    assert gpus[0].driver_version == "550.127.05" and gpus[0].cuda_version == "12.4"


def _nvml_replaying(gpus_recorded):
    """An NVML binding that answers with the values a real nvidia-smi recording shows (nvidia-smi
    itself reads them through NVML). No NVIDIA GPU is available to this project's machines."""
    Mem = namedtuple("Mem", "total free used")
    mod = types.SimpleNamespace(calls=[])
    mod.nvmlInit = lambda: mod.calls.append("init")
    mod.nvmlShutdown = lambda: mod.calls.append("shutdown")
    mod.nvmlSystemGetDriverVersion = lambda: gpus_recorded[0].driver_version
    major, minor = gpus_recorded[0].cuda_version.split(".")
    mod.nvmlSystemGetCudaDriverVersion_v2 = lambda: int(major) * 1000 + int(minor) * 10
    mod.nvmlDeviceGetCount = lambda: len(gpus_recorded)
    mod.nvmlDeviceGetHandleByIndex = lambda i: gpus_recorded[i]
    mod.nvmlDeviceGetName = lambda h: h.name.encode()  # older bindings return bytes
    mod.nvmlDeviceGetMemoryInfo = lambda h: Mem(h.total_vram_bytes, h.free_vram_bytes, h.used_vram_bytes)
    mod.nvmlDeviceGetCudaComputeCapability = lambda h: tuple(int(x) for x in h.compute_capability.split("."))
    return mod


def test_nvml_reading_matches_recording():
    recorded = parse_nvidia_smi_xml((NV / "rtx3060-12gb.xml").read_text())
    nvml = _nvml_replaying(recorded)
    (gpu,) = gpus_from_nvml(nvml)
    assert gpu.source == "nvml"
    assert gpu.name == "NVIDIA GeForce RTX 3060"
    assert gpu.free_vram_bytes == 11806 * MIB and gpu.total_vram_bytes == 12288 * MIB
    assert gpu.cuda_version == "12.8" and gpu.compute_capability == "8.6"
    assert nvml.calls == ["init", "shutdown"]


def _fake_smi(tmp_path, fixture: str, *, exit_code: int = 0):
    script = tmp_path / "bin" / "nvidia-smi"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write(open({str(NV / fixture)!r}).read())\n"
                      f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script.parent


def _nvml_missing(monkeypatch):
    broken = types.ModuleType("pynvml")

    class NVMLError_LibraryNotFound(Exception):
        pass

    def init():
        raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    broken.nvmlInit = init
    monkeypatch.setitem(sys.modules, "pynvml", broken)


def test_falls_back_to_nvidia_smi_process_when_nvml_fails(tmp_path, monkeypatch):
    _nvml_missing(monkeypatch)
    bindir = _fake_smi(tmp_path, "tesla-t4.xml")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    (gpu,) = nvidia.probe_nvidia()
    assert gpu.name == "Tesla T4" and gpu.source == "nvidia-smi"


def test_no_driver_means_no_gpus(tmp_path, monkeypatch):
    _nvml_missing(monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert nvidia.probe_nvidia() == []


def test_failing_nvidia_smi_is_an_error_not_a_crash(tmp_path, monkeypatch):
    _nvml_missing(monkeypatch)
    bindir = _fake_smi(tmp_path, "tesla-t4.xml", exit_code=9)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match="nvidia-smi failed"):
        nvidia.probe_nvidia()


@pytest.mark.parametrize(("name", "cc"), [
    ("NVIDIA GeForce RTX 3060", "8.6"), ("NVIDIA GeForce RTX 2080 Ti", "7.5"),
    ("NVIDIA RTX 2000 Ada Generation", "8.9"),
    ("NVIDIA L40S", "8.9"), ("NVIDIA A100-SXM4-80GB", "8.0"), ("NVIDIA H200", "9.0"), ("Graphics Device", None),
])
def test_compute_capability_by_name_for_outputs_that_lack_it(name, cc):
    assert nvidia.capability_for(name) == cc
