"""Memory and speed estimates, and where a model can run on a given machine.

memory ≈ weights + KV cache + compute buffers + runtime overhead (the seeds' formula), then the
placement: all layers on the GPU, some layers on the GPU, CPU only, or too large. Always judged
against *free* memory minus headroom, so VRAM and RAM used by other apps count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from app.core.catalog import CatalogModel, Variant, estimated_size_bytes
from app.core.i18n import _
from app.core.performance import PerformanceTable
from app.core.profile import GIB, MIB, DeviceProfile, GpuInfo
from app.core.quant import QUANTS, quant

Verdict = Literal["full_gpu", "partial_gpu", "cpu_only", "too_large", "context_too_short", "runtime_unavailable"]
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
    gpu_index: int | None = None  # position in profile.gpus of the NVIDIA GPU planned for


def estimate_memory(model: CatalogModel, variant: Variant, context_length: int, *,
                    kv_type: str = "f16", weights_bytes: int | None = None) -> MemoryEstimate:
    """`weights_bytes`: the real file size when known (a GGUF judged from its header), used instead
    of the parameters x bits-per-weight estimate."""
    ctx = min(context_length, model.max_context)
    kv = int(2 * model.n_layers * model.n_kv_heads * model.head_dim * ctx * KV_BYTES[kv_type])
    # Compute buffer for one ubatch: the logits (n_vocab x n_ubatch fp32 dominate small models)
    # plus activations; flash attention (llama.cpp's default where supported) avoids the KQ matrix.
    compute = 4 * N_UBATCH * (model.vocab_size + 4 * model.hidden_size)
    weights = weights_bytes if weights_bytes is not None else estimated_size_bytes(model, variant)
    return MemoryEstimate(weights_bytes=weights, kv_cache_bytes=kv,
                          compute_bytes=compute, context_length=ctx)


UNKNOWN_FREE_SHARE = 0.5  # when only the total is known, assume half of it is free


def usable_ram(profile: DeviceProfile) -> int | None:
    """RAM a model may take now: what is available minus headroom. Unknown stays unknown, except
    that a known total with an unknown 'available' is taken as half free (and the pick warns)."""
    mem = profile.memory
    total = mem.total_bytes
    if mem.available_bytes is not None:
        avail = mem.available_bytes
    elif total is not None:
        avail = int(total * UNKNOWN_FREE_SHARE)
    else:
        return None
    headroom = max(RAM_HEADROOM_MIN, int(RAM_HEADROOM_SHARE * (total or avail)))
    return max(0, avail - headroom)


def usable_vram(gpu: GpuInfo) -> int:
    """Free VRAM minus headroom and the CUDA context. VRAM used by other apps is never counted as
    free: without a free figure we use total - used, and without that half the total."""
    total = gpu.total_vram_bytes or 0
    if gpu.free_vram_bytes is not None:
        free = gpu.free_vram_bytes
    elif gpu.used_vram_bytes is not None:
        free = max(0, total - gpu.used_vram_bytes)
    else:
        free = int(total * UNKNOWN_FREE_SHARE)
    headroom = max(VRAM_HEADROOM_MIN, int(VRAM_HEADROOM_SHARE * (total or free)))
    return max(0, free - headroom - CUDA_CONTEXT_VRAM)


def usable_apple_gpu(profile: DeviceProfile) -> int | None:
    """Unified memory: the Metal working set, but never more than what is free right now."""
    apple = profile.apple
    if apple is None or apple.gpu_working_set_bytes is None:
        return None
    ram = usable_ram(profile)
    return None if ram is None else min(apple.gpu_working_set_bytes, ram)


def cuda_gpus(profile: DeviceProfile) -> tuple[GpuInfo, ...]:
    if profile.runtimes.llama_cpp.gpu_offload is False:
        return ()
    return tuple(g for g in profile.nvidia_gpus if g.total_vram_bytes)


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
            return _("MLX runs only on Apple Silicon")
        if not profile.runtimes.mlx.can_run:
            return profile.runtimes.mlx.reason or _("MLX cannot run on this Mac")
        return None
    rt = profile.runtimes.llama_cpp
    if not rt.installed:
        return _("llama-cpp-python is not installed")
    return None


def plan_fit(profile: DeviceProfile, model: CatalogModel, variant: Variant, *, context_length: int,
             table: PerformanceTable, measured_tps: Mapping[str, float] | None = None,
             weights_bytes: int | None = None) -> Fit:
    """Where this variant runs best on this machine, what it needs, and how fast it should be.
    `weights_bytes`: the real file size when known; then the quantisation may also be one
    app.core.quant does not list (IQ2_XXS, a mix): its bits per weight follow from the size."""
    return _Planner(profile, model, variant, context_length, table, measured_tps, weights_bytes).plan()


def bits_per_weight(model: CatalogModel, variant: Variant, weights_bytes: int | None = None) -> float:
    """The quantisation's bits per weight; for a type app.core.quant does not know, the file's own
    average (size x 8 / parameters), which needs `weights_bytes`."""
    if variant.quant in QUANTS or weights_bytes is None:
        return quant(variant.quant).bits_per_weight
    return weights_bytes * 8 / (model.params_b * 1e9)


class _Planner:
    def __init__(self, profile: DeviceProfile, model: CatalogModel, variant: Variant, context_length: int,
                 table: PerformanceTable, measured_tps: Mapping[str, float] | None,
                 weights_bytes: int | None = None) -> None:
        self.profile, self.model, self.variant = profile, model, variant
        self.context_length = context_length
        self.mem = estimate_memory(model, variant, context_length, weights_bytes=weights_bytes)
        self.bpw = bits_per_weight(model, variant, weights_bytes)
        self.speed = SpeedModel(table, profile)
        self.measured_tps = measured_tps
        self.layers = model.n_layers
        self.read_bytes = self.mem.weights_bytes + self.mem.kv_cache_bytes * KV_FILL_FOR_SPEED
        self.ram_free = usable_ram(profile)
        self.cpu_need = self.mem.total_bytes + APP_RAM_OVERHEAD

    def done(self, verdict: Verdict, *, gpu_layers: int = 0, ram: int = 0, vram: int = 0,
             tps: float | None = None, device: str = "-", reason: str, gpu: GpuInfo | None = None) -> Fit:
        source: Literal["estimate", "measured"] = "estimate"
        if tps is not None and self.measured_tps and self.variant.key in self.measured_tps:
            tps, source = self.measured_tps[self.variant.key], "measured"
        index = self.profile.gpus.index(gpu) if gpu is not None else None
        return Fit(verdict, self.mem, gpu_layers, self.layers, ram, vram, tps, source, device, reason, index)

    def plan(self) -> Fit:
        problem = runtime_problem(self.profile, self.model, self.variant)
        if problem:
            return self.done("runtime_unavailable", reason=problem)
        if self.context_length > self.model.max_context:
            return self.done("context_too_short",
                             reason=_("supports at most {max_context:,} tokens of context").format(
                                      max_context=self.model.max_context))
        if self.ram_free is None:
            return self.done("too_large",
                             reason=_("free memory could not be measured, so nothing can be judged to fit"))
        if self.profile.apple is not None and (self.variant.format == "mlx"
                                               or self.profile.runtimes.llama_cpp.gpu_offload is not False):
            fit = self.on_apple_gpu()
            if fit is not None:
                return fit
        if self.variant.format == "mlx":
            return self.done("runtime_unavailable", reason=_("MLX runs only on Apple Silicon"))
        gpu_fits = [f for f in (self.on_cuda_gpu(g) for g in cuda_gpus(self.profile)) if f is not None]
        if gpu_fits:  # several GPUs: the placement that runs fastest
            return max(gpu_fits, key=lambda f: f.tokens_per_second or 0.0)
        return self.on_cpu()

    def on_apple_gpu(self) -> Fit | None:
        """Metal (llama.cpp) or MLX on unified memory; partial offload buys nothing there."""
        apple = self.profile.apple
        assert apple is not None and self.ram_free is not None
        budget = usable_apple_gpu(self.profile)
        label = f"{apple.chip or 'Apple'} GPU"
        total = self.mem.total_bytes
        if budget is not None and total <= budget and self.cpu_need <= self.ram_free:
            tps = self.speed.tokens_per_second(gpu_bytes=self.read_bytes, cpu_bytes=0, gpu=None)
            return self.done("full_gpu", gpu_layers=self.layers, ram=self.cpu_need, vram=total, tps=tps, device=label,
                             reason=_("fits in the GPU's share of unified memory ({total} of {budget})").format(
                                      total=_gb(total), budget=_gb(budget)))
        if self.variant.format == "mlx":
            may_use = _("an unknown amount") if budget is None else _gb(budget)
            return self.done("too_large", ram=self.cpu_need, vram=total, device=label,
                             reason=_("needs {total}; the GPU may use {may_use} now").format(
                                      total=_gb(total), may_use=may_use))
        return None

    def on_cuda_gpu(self, gpu: GpuInfo) -> Fit | None:
        assert self.ram_free is not None
        mem, layers = self.mem, self.layers
        vram = usable_vram(gpu)
        if mem.total_bytes <= vram and self.ram_free >= APP_RAM_OVERHEAD:
            tps = self.speed.tokens_per_second(gpu_bytes=self.read_bytes, cpu_bytes=0, gpu=gpu)
            return self.done("full_gpu", gpu_layers=layers, ram=APP_RAM_OVERHEAD, vram=mem.total_bytes, tps=tps,
                             device=gpu.name, gpu=gpu,
                             reason=_("fits fully in free VRAM ({total_bytes} of {vram} usable)").format(
                                      total_bytes=_gb(mem.total_bytes), vram=_gb(vram)))
        # Partial offload: repeating layers (weights + their KV) go to the GPU, the rest stays on the CPU.
        non_layer = min(mem.weights_bytes // 2, int(2 * self.model.vocab_size * self.model.hidden_size
                                                    * self.bpw / 8))
        per_layer = (mem.weights_bytes - non_layer + mem.kv_cache_bytes) / layers
        k = int((vram - mem.compute_bytes) // per_layer) if vram > mem.compute_bytes else 0
        k = max(0, min(k, layers - 1))
        if k < 1:
            return None
        ram_need = int(mem.total_bytes - k * per_layer + APP_RAM_OVERHEAD)
        if ram_need > self.ram_free:
            return None
        share = k / layers
        tps = self.speed.tokens_per_second(gpu_bytes=self.read_bytes * share, cpu_bytes=self.read_bytes * (1 - share),
                                           gpu=gpu)
        return self.done("partial_gpu", gpu_layers=k, ram=ram_need, vram=int(k * per_layer + mem.compute_bytes),
                         tps=tps, device=gpu.name, gpu=gpu,
                         reason=_("{k} of {layers} layers fit in free VRAM ({vram} usable); the rest runs on the "
                                  "CPU").format(k=k, layers=layers, vram=_gb(vram)))

    def on_cpu(self) -> Fit:
        assert self.ram_free is not None
        if self.cpu_need > self.ram_free:
            return self.done("too_large", ram=self.cpu_need,
                             reason=_("needs {cpu_need}; this machine has {ram_free} free RAM").format(
                                      cpu_need=_gb(self.cpu_need), ram_free=_gb(self.ram_free)))
        tps = self.speed.tokens_per_second(gpu_bytes=0, cpu_bytes=self.read_bytes, gpu=None)
        why = _("runs on the CPU")
        gpus = cuda_gpus(self.profile)
        if gpus:
            why += _(" (too large for the {vram} of usable VRAM)").format(vram=_gb(max(usable_vram(g) for g in gpus)))
        elif self.profile.nvidia_gpus and self.profile.runtimes.llama_cpp.gpu_offload is False:
            why += _(" (the installed llama.cpp build has no GPU support)")
        return self.done("cpu_only", ram=self.cpu_need, tps=tps, device="CPU",
                         reason=_("{why}; needs {cpu_need} of {ram_free} free RAM").format(
                                  why=why, cpu_need=_gb(self.cpu_need), ram_free=_gb(self.ram_free)))


def _gb(n: float) -> str:
    return f"{n / GIB:.1f} GB"
