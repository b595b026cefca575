"""Memory and speed estimates, and where a model can run on a given machine.

memory ≈ weights + KV cache + compute buffers + runtime overhead (the seeds' formula), then the
placement: all layers on the GPU, some layers on the GPU, CPU only, or too large. Always judged
against *free* memory minus headroom, so VRAM and RAM used by other apps count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from app.core.catalog import CatalogModel, Variant
from app.core.performance import PerformanceTable
from app.core.profile import GIB, MIB, DeviceProfile, GpuInfo
from app.core.quant import quant

Verdict = Literal["full_gpu", "partial_gpu", "cpu_only", "too_large", "runtime_unavailable"]
RUNS: tuple[Verdict, ...] = ("full_gpu", "partial_gpu", "cpu_only")

KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}  # ggml block layouts
N_UBATCH = 512                     # llama.cpp's default physical batch
APP_RAM_OVERHEAD = 400 * MIB       # Python, Qt, llama.cpp and libraries resident besides the model
CUDA_CONTEXT_VRAM = 400 * MIB      # CUDA context + cuBLAS workspace per process (stated assumption)
RAM_HEADROOM_MIN, RAM_HEADROOM_SHARE = 1 * GIB, 0.10   # left free for the OS and other apps
VRAM_HEADROOM_MIN, VRAM_HEADROOM_SHARE = 256 * MIB, 0.05
KV_FILL_FOR_SPEED = 0.25           # share of the KV cache read per token in a typical chat


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    context_length: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes


@dataclass(frozen=True)
class Fit:
    verdict: Verdict
    memory: MemoryEstimate
    gpu_layers: int
    total_layers: int
    ram_bytes: int            # system RAM this placement needs (including the app's own)
    vram_bytes: int           # GPU memory it needs (0 on CPU)
    tokens_per_second: float | None
    speed_source: Literal["estimate", "measured"]
    device: str               # "RTX 3060", "Apple M2 GPU", "CPU"
    reason: str


def weights_bytes(model: CatalogModel, variant: Variant) -> int:
    return int(model.params_b * 1e9 * quant(variant.quant).bits_per_weight / 8)


def estimate_memory(model: CatalogModel, variant: Variant, context_length: int, *,
                    kv_type: str = "f16") -> MemoryEstimate:
    ctx = min(context_length, model.max_context)
    kv = int(2 * model.n_layers * model.n_kv_heads * model.head_dim * ctx * KV_BYTES[kv_type])
    # Compute buffer for one ubatch: the logits (n_vocab x n_ubatch fp32 dominate small models)
    # plus activations; flash attention (llama.cpp's default where supported) avoids the KQ matrix.
    compute = 4 * N_UBATCH * (model.vocab_size + 4 * model.hidden_size)
    return MemoryEstimate(weights_bytes=weights_bytes(model, variant), kv_cache_bytes=kv,
                          compute_bytes=compute, context_length=ctx)


def usable_ram(profile: DeviceProfile) -> int | None:
    mem = profile.memory
    total = mem.total_bytes
    avail = mem.available_bytes if mem.available_bytes is not None else total
    if avail is None:
        return None
    headroom = max(RAM_HEADROOM_MIN, int(RAM_HEADROOM_SHARE * (total or avail)))
    return max(0, avail - headroom)


def usable_vram(gpu: GpuInfo) -> int:
    free = gpu.free_vram_bytes if gpu.free_vram_bytes is not None else (gpu.total_vram_bytes or 0)
    headroom = max(VRAM_HEADROOM_MIN, int(VRAM_HEADROOM_SHARE * (gpu.total_vram_bytes or free)))
    return max(0, free - headroom - CUDA_CONTEXT_VRAM)


def usable_apple_gpu(profile: DeviceProfile) -> int | None:
    """Unified memory: the Metal working set, but never more than what is free right now."""
    apple = profile.apple
    if apple is None or apple.gpu_working_set_bytes is None:
        return None
    ram = usable_ram(profile)
    budget = apple.gpu_working_set_bytes
    return budget if ram is None else min(budget, ram)


def best_cuda_gpu(profile: DeviceProfile) -> GpuInfo | None:
    gpus = [g for g in profile.nvidia_gpus if g.total_vram_bytes]
    return max(gpus, key=usable_vram) if gpus else None


class SpeedModel:
    """Bandwidth-bound decode speed: time per token = overhead + bytes read / effective bandwidth."""

    def __init__(self, table: PerformanceTable, profile: DeviceProfile) -> None:
        self.table = table
        self.profile = profile
        d = table.defaults
        self.eff = d.efficiency
        cpu = profile.cpu
        cores = cpu.physical_cores or cpu.logical_cores or 1
        board = table.board_named(cpu.board)
        chip = table.apple_chip(profile.apple.chip if profile.apple else None)
        known = chip or board
        ram_gbps = known.bandwidth_gbps if known else d.cpu_ram_gbps
        # On Apple Silicon a CPU core reaches far more bandwidth; cap only by the chip there.
        per_core = ram_gbps if chip else d.cpu_core_gbps * d.core_factor(cpu.features)
        self.cpu_gbps = min(ram_gbps * self.eff, cores * per_core)

    def gpu_gbps(self, device: GpuInfo | None) -> float:
        if device is None or device.vendor == "apple":
            chip = self.table.apple_chip(self.profile.apple.chip if self.profile.apple else None)
            return (chip.bandwidth_gbps if chip else self.table.defaults.gpu_gbps) * self.eff
        entry = self.table.gpu_named(device.name)
        return (entry.bandwidth_gbps if entry else self.table.defaults.gpu_gbps) * self.eff

    def tokens_per_second(self, *, gpu_bytes: float, cpu_bytes: float, gpu: GpuInfo | None) -> float:
        d = self.table.defaults
        seconds = 0.0
        if gpu_bytes:
            seconds += gpu_bytes / (self.gpu_gbps(gpu) * 1e9)
        if cpu_bytes:
            seconds += cpu_bytes / (self.cpu_gbps * 1e9)
        seconds += (d.gpu_token_overhead_ms if not cpu_bytes else d.cpu_token_overhead_ms) / 1000
        return 1.0 / seconds


def runtime_problem(profile: DeviceProfile, model: CatalogModel, variant: Variant) -> str | None:
    if model.unsupported_reason:
        return model.unsupported_reason
    if variant.format == "mlx":
        if profile.apple is None:
            return "MLX runs only on Apple Silicon"
        if not profile.runtimes.mlx.can_run:
            return profile.runtimes.mlx.reason or "MLX cannot run on this Mac"
        return None
    rt = profile.runtimes.llama_cpp
    if not rt.installed:
        return "llama-cpp-python is not installed"
    return None


def plan_fit(profile: DeviceProfile, model: CatalogModel, variant: Variant, *, context_length: int,
             table: PerformanceTable, measured_tps: Mapping[str, float] | None = None) -> Fit:
    """Where this variant runs best on this machine, what it needs, and how fast it should be."""
    mem = estimate_memory(model, variant, context_length)
    layers = model.n_layers
    speed = SpeedModel(table, profile)
    kv_read = mem.kv_cache_bytes * KV_FILL_FOR_SPEED

    def done(verdict: Verdict, *, gpu_layers: int, ram: int, vram: int, tps: float | None,
             device: str, reason: str) -> Fit:
        source: Literal["estimate", "measured"] = "estimate"
        if tps is not None and measured_tps and variant.key in measured_tps:
            tps, source = measured_tps[variant.key], "measured"
        return Fit(verdict, mem, gpu_layers, layers, ram, vram, tps, source, device, reason)

    problem = runtime_problem(profile, model, variant)
    if problem:
        return done("runtime_unavailable", gpu_layers=0, ram=0, vram=0, tps=None, device="-", reason=problem)

    ram_free = usable_ram(profile)
    cpu_need = mem.total_bytes + APP_RAM_OVERHEAD

    # Apple Silicon: Metal (llama.cpp) or MLX share unified memory; partial offload buys nothing.
    if profile.apple is not None and (variant.format == "mlx" or profile.runtimes.llama_cpp.gpu_offload is not False):
        budget = usable_apple_gpu(profile)
        label = f"{profile.apple.chip or 'Apple'} GPU"
        if budget is not None and mem.total_bytes <= budget and (ram_free is None or cpu_need <= ram_free):
            tps = speed.tokens_per_second(gpu_bytes=mem.weights_bytes + kv_read, cpu_bytes=0, gpu=None)
            return done("full_gpu", gpu_layers=layers, ram=cpu_need, vram=mem.total_bytes, tps=tps, device=label,
                        reason=f"fits in the GPU's share of unified memory ({_gb(mem.total_bytes)} of {_gb(budget)})")
        if variant.format == "mlx":
            return done("too_large", gpu_layers=0, ram=cpu_need, vram=mem.total_bytes, tps=None, device=label,
                        reason=f"needs {_gb(mem.total_bytes)}; the GPU may use {_gb(budget or 0)} now")

    gpu = best_cuda_gpu(profile) if profile.runtimes.llama_cpp.gpu_offload is not False else None
    if gpu is not None and variant.format == "gguf":
        vram = usable_vram(gpu)
        gpu_total = mem.total_bytes
        if gpu_total <= vram and (ram_free is None or ram_free >= APP_RAM_OVERHEAD):
            tps = speed.tokens_per_second(gpu_bytes=mem.weights_bytes + kv_read, cpu_bytes=0, gpu=gpu)
            return done("full_gpu", gpu_layers=layers, ram=APP_RAM_OVERHEAD, vram=gpu_total, tps=tps, device=gpu.name,
                        reason=f"fits fully in free VRAM ({_gb(gpu_total)} of {_gb(vram)} usable)")
        # Partial offload: repeating layers (weights + their KV) go to the GPU, the rest stays on the CPU.
        non_layer = min(mem.weights_bytes // 2,
                        int(2 * model.vocab_size * model.hidden_size * quant(variant.quant).bits_per_weight / 8))
        per_layer = (mem.weights_bytes - non_layer + mem.kv_cache_bytes) / layers
        k = int((vram - mem.compute_bytes) // per_layer) if vram > mem.compute_bytes else 0
        k = max(0, min(k, layers - 1))
        if k >= 1:
            gpu_bytes = int(k * per_layer + mem.compute_bytes)
            ram_need = int(mem.total_bytes - k * per_layer + APP_RAM_OVERHEAD)
            if ram_free is None or ram_need <= ram_free:
                share = k / layers
                tps = speed.tokens_per_second(gpu_bytes=(mem.weights_bytes + kv_read) * share,
                                              cpu_bytes=(mem.weights_bytes + kv_read) * (1 - share), gpu=gpu)
                return done("partial_gpu", gpu_layers=k, ram=ram_need, vram=gpu_bytes, tps=tps, device=gpu.name,
                            reason=f"{k} of {layers} layers fit in free VRAM ({_gb(vram)} usable); "
                                   "the rest runs on the CPU")

    if variant.format == "mlx":
        return done("runtime_unavailable", gpu_layers=0, ram=0, vram=0, tps=None, device="-",
                    reason="MLX runs only on Apple Silicon")
    if ram_free is not None and cpu_need <= ram_free:
        tps = speed.tokens_per_second(gpu_bytes=0, cpu_bytes=mem.weights_bytes + kv_read, gpu=None)
        why = "runs on the CPU"
        if gpu is not None:
            why += f" (too large for the {_gb(usable_vram(gpu))} of usable VRAM)"
        elif profile.nvidia_gpus and profile.runtimes.llama_cpp.gpu_offload is False:
            why += " (the installed llama.cpp build has no GPU support)"
        return done("cpu_only", gpu_layers=0, ram=cpu_need, vram=0, tps=tps, device="CPU",
                    reason=f"{why}; needs {_gb(cpu_need)} of {_gb(ram_free)} free RAM")
    free_txt = "unknown free memory" if ram_free is None else f"{_gb(ram_free)} free RAM"
    return done("too_large", gpu_layers=0, ram=cpu_need, vram=0, tps=None, device="-",
                reason=f"needs {_gb(cpu_need)}; this machine has {free_txt}")


def _gb(n: float) -> str:
    return f"{n / GIB:.1f} GB"
