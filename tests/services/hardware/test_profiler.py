"""The profiler: probes run in parallel, each bounded; failures and hangs become 'unknown'."""

from __future__ import annotations

import threading
import time

from app.core.profile import CpuInfo, DeviceProfile, MemoryInfo
from app.services.hardware.profiler import capture_profile


def test_hung_and_failing_probes_do_not_fail_the_profile(tmp_path):
    release = threading.Event()

    def hangs():
        release.wait(30)
        return CpuInfo(brand="never")

    def fails():
        raise OSError("permission denied reading /sys")

    start = time.perf_counter()
    profile = capture_profile(tmp_path, timeout=0.5, probes={
        "cpu": hangs, "memory": fails, "disk": lambda: None,
    })
    elapsed = time.perf_counter() - start
    release.set()
    assert elapsed < 3.0  # bounded by the timeout, not by the hung probe
    notes = {n.probe: n for n in profile.notes}
    assert notes["cpu"].status == "timeout"
    assert notes["memory"].status == "error" and "permission denied" in (notes["memory"].detail or "")
    assert profile.cpu == CpuInfo() and profile.memory == MemoryInfo()  # unknown, not guessed


def test_real_capture_on_this_machine(tmp_path):
    profile = capture_profile(tmp_path / "models")
    assert profile.cpu.logical_cores and profile.memory.total_bytes and profile.disk.free_bytes
    assert profile.runtimes.llama_cpp.installed  # a runtime dependency
    assert profile.runtimes.llama_cpp.gpu_offload is not None
    assert {n.probe for n in profile.notes} >= {"cpu", "memory", "disk", "nvidia", "llama_cpp", "mlx"}
    # The JSON that `doctor --json` prints reads back to the same profile.
    assert DeviceProfile.from_json(profile.to_json()) == profile
