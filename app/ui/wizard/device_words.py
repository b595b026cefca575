"""The device profile in plain words for the first-run wizard: what a learner needs to know (how much
memory, whether the graphics card is used) without the technical summary, which stays one click away.

Whether a GPU counts as usable is decided by the same rules the fit estimates use (`cuda_gpus`,
`usable_apple_gpu`), so the wizard never says "runs on your GPU" when the plan says CPU.
"""

from __future__ import annotations

from app.core.estimates import cuda_gpus, usable_apple_gpu
from app.core.profile import GIB, DeviceProfile
from app.ui.i18n import tr


def gb(n: int | None) -> str:
    """"8 GB", "5.1 GB": whole numbers without a decimal, as people say them."""
    if n is None:
        return tr("an unknown amount")
    value = n / GIB
    return f"{value:.0f} GB" if abs(value - round(value)) < 0.05 else f"{value:.1f} GB"


def memory_line(p: DeviceProfile) -> str:
    total, free = p.memory.total_bytes, p.memory.available_bytes
    if total is None and free is None:
        return tr("Lantern could not measure this machine's memory.")
    if free is None:
        return tr("{total} of memory (how much is free could not be measured)").format(total=gb(total))
    return tr("{total} of memory, {free} free").format(total=gb(total), free=gb(free))


def gpu_lines(p: DeviceProfile) -> list[str]:
    usable = cuda_gpus(p)
    if usable:
        return [tr("{name} with {vram}: models can run on it").format(name=g.name, vram=gb(g.total_vram_bytes))
                for g in usable]
    if p.apple is not None:
        chip = p.apple.chip or tr("Apple Silicon")
        metal = "metal" in p.runtimes.llama_cpp.backends or (p.runtimes.mlx.can_run and p.runtimes.mlx.device == "gpu")
        if metal and usable_apple_gpu(p):
            return [tr("{chip} with {memory} of shared memory: models run on its graphics cores").format(
                chip=chip, memory=gb(p.apple.unified_memory_bytes))]
        return [tr("{chip}: this Lantern build cannot use its graphics cores, so models run on the processor")
                .format(chip=chip)]
    if p.nvidia_gpus:
        unused = tr("{name} found, but this Lantern build cannot use it: models run on the processor")
        return [unused.format(name=g.name) for g in p.nvidia_gpus]
    others = [g for g in p.gpus if g.vendor not in ("nvidia", "apple")]
    if others:
        return [tr("{name} found, which Lantern cannot use yet: models run on the processor").format(name=g.name)
                for g in others]
    return [tr("No graphics card Lantern can use: models run on the processor")]


def cpu_line(p: DeviceProfile) -> str:
    brand = " ".join((p.cpu.brand or "").split()) or tr("unknown model")
    cores = p.cpu.physical_cores or p.cpu.logical_cores
    if not cores:
        return tr("Processor: {brand}").format(brand=brand)
    return tr("Processor: {brand}, {n} cores").format(brand=brand, n=cores)


def disk_line(p: DeviceProfile) -> str:
    if p.disk.free_bytes is None:
        return tr("Free disk space for models could not be measured")
    return tr("{free} of free disk space for models").format(free=gb(p.disk.free_bytes))


def plain_device_lines(p: DeviceProfile) -> list[str]:
    return [memory_line(p), *gpu_lines(p), cpu_line(p), disk_line(p)]
