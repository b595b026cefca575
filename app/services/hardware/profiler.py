"""Run every hardware probe at once, each bounded in time, and assemble the DeviceProfile.

A probe that fails or overruns leaves its part "unknown" (None) and a note saying why; it never
fails the whole profile. Probes run in daemon threads so a hung driver call can never keep the
process alive at exit (a ThreadPoolExecutor would join it).
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import __version__
from app.core.i18n import _
from app.core.profile import (
    CpuInfo,
    DeviceProfile,
    DiskInfo,
    GpuInfo,
    MemoryInfo,
    OsInfo,
    ProbeNote,
    Runtimes,
)
from app.services.hardware import apple, cpu, memory, nvidia, other_gpus, runtimes

log = logging.getLogger(__name__)


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    seconds: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


def run_probes(probes: dict[str, Callable[[], Any]], *, timeout: float) -> dict[str, _Outcome]:
    """Start all probes in parallel; wait until all finish or the shared deadline passes."""
    outcomes = {name: _Outcome() for name in probes}

    def worker(name: str, fn: Callable[[], Any]) -> None:
        out = outcomes[name]
        start = time.perf_counter()
        try:
            out.value = fn()
        except BaseException as exc:
            out.error = exc
        finally:
            out.seconds = time.perf_counter() - start
            out.done.set()

    for name, fn in probes.items():
        threading.Thread(target=worker, args=(name, fn), name=f"probe-{name}", daemon=True).start()
    deadline = time.monotonic() + timeout
    for out in outcomes.values():
        out.done.wait(max(0.0, deadline - time.monotonic()))
    return outcomes


def os_info() -> OsInfo:
    system = platform.system() or None
    version: str | None = None
    if sys.platform == "darwin":
        version = f"macOS {platform.mac_ver()[0]}" if platform.mac_ver()[0] else None
    elif sys.platform == "win32":
        version = f"Windows {platform.version()}"
    else:
        try:
            release = platform.freedesktop_os_release()
            version = release.get("PRETTY_NAME") or release.get("NAME")
        except OSError:
            version = None
    return OsInfo(system=system, release=platform.release() or None, version=version)


def default_probes(models_dir: Path) -> dict[str, Callable[[], Any]]:
    probes: dict[str, Callable[[], Any]] = {
        "os": os_info,
        "cpu": cpu.probe_cpu,
        "memory": memory.probe_memory,
        "disk": lambda: memory.probe_disk(models_dir),
        "nvidia": nvidia.probe_nvidia,
        "other_gpus": other_gpus.probe_other_gpus,
        "llama_cpp": runtimes.probe_llama_cpp,
        "mlx": runtimes.probe_mlx,
    }
    if sys.platform == "darwin":
        probes["apple"] = apple.probe_apple
    return probes


def assemble(outcomes: dict[str, _Outcome], *, label: str | None = None) -> DeviceProfile:
    notes = []
    values: dict[str, Any] = {}
    for name, out in outcomes.items():
        if not out.done.is_set():
            notes.append(ProbeNote(probe=name, status="timeout", detail=_("did not answer in time")))
            log.warning("probe %s timed out", name)
        elif out.error is not None:
            notes.append(ProbeNote(probe=name, status="error", seconds=round(out.seconds or 0, 3),
                                   detail=f"{type(out.error).__name__}: {out.error}"[:300]))
            log.info("probe %s failed: %r", name, out.error)
        else:
            values[name] = out.value
            notes.append(ProbeNote(probe=name, status="ok", seconds=round(out.seconds or 0, 3)))
    apple_info = values.get("apple")
    gpus: list[GpuInfo] = list(values.get("nvidia") or []) + list(values.get("other_gpus") or [])
    if apple_info is not None:
        gpus.insert(0, apple.apple_gpu(apple_info))
    memory_info: MemoryInfo = values.get("memory") or MemoryInfo()
    if apple_info is not None and memory_info.total_bytes is None:
        memory_info = memory_info.model_copy(update={"total_bytes": apple_info.unified_memory_bytes})
    return DeviceProfile(
        captured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        lantern_version=__version__,
        label=label,
        os=values.get("os") or OsInfo(),
        cpu=values.get("cpu") or CpuInfo(),
        memory=memory_info,
        disk=values.get("disk") or DiskInfo(),
        apple=apple_info,
        gpus=tuple(gpus),
        runtimes=Runtimes(**{k: values[k] for k in ("llama_cpp", "mlx") if k in values}),
        notes=tuple(notes),
    )


def capture_profile(models_dir: Path, *, timeout: float = 3.0,
                    probes: dict[str, Callable[[], Any]] | None = None) -> DeviceProfile:
    """Probe this machine. `probes` replaces the defaults (tests inject slow or failing ones)."""
    return assemble(run_probes(probes if probes is not None else default_probes(models_dir), timeout=timeout))
