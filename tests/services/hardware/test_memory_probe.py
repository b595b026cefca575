from __future__ import annotations

from app.services.hardware.memory import parse_meminfo, probe_disk, probe_memory
from tests.hardware_scenarios import HW


def test_meminfo_recording_with_memavailable():
    info = parse_meminfo((HW / "linux" / "rpi5-8gb-debian13.meminfo.txt").read_text())
    assert info.total_bytes == 8252368 * 1024
    assert info.available_bytes == 6126208 * 1024


def test_meminfo_recording_from_kernel_without_memavailable():
    # i7-2600's kernel predates MemAvailable: estimate from MemFree + Cached + Buffers.
    info = parse_meminfo((HW / "linux" / "i7-2600-sandybridge-desktop.meminfo.txt").read_text())
    assert info.total_bytes == 8131884 * 1024
    assert info.available_bytes == (5525628 + 1575808 + 328328) * 1024


def test_probes_on_this_machine(tmp_path):
    mem = probe_memory()
    assert mem.total_bytes and mem.available_bytes and 0 < mem.available_bytes <= mem.total_bytes
    disk = probe_disk(tmp_path / "not" / "yet" / "created")
    assert disk.free_bytes is not None and disk.free_bytes > 0
    assert disk.path.endswith("created")
