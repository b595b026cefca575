"""How to load a model on this machine, and what to try when loading fails.

`plan_load` turns the device profile and the model's facts into concrete llama.cpp/MLX settings,
starting from issue 2's placement (app.core.estimates.plan_fit): all layers on the GPU, some, or
none; a context window that fits the free memory; threads and batch sizes. Every choice carries a
plain-language reason, so what the user is told matches what was done.

Estimates can be wrong (another app grabs VRAM between the check and the load; drivers reserve
more than we model), so a load that fails for lack of memory steps down `fallback_plans`: fewer GPU
layers, then a shorter context, then the CPU. `describe_load` says what happened and why: silently
running on the CPU is the most common complaint about competing apps.

Deliberate choices (measured on this project's 2-core CI box, docs/benchmarks.md):
- threads = physical cores for generation and prompt processing: SMT siblings share the FPUs that
  matrix multiplication saturates, so extra threads only contend.
- n_batch = n_ubatch = 512: llama.cpp's defaults, and what the memory estimate's compute buffer
  assumes (a cancel while a long prompt is read uses llama.cpp's abort callback, not smaller batches).
- flash attention on: less memory for attention, and faster on CUDA, Metal and (measured) the CPU.
- KV cache f16: q8_0 would halve it but costs quality; the fallback ladder does not use it yet.
- mmap on: loading is a page-in, pages are shared with the OS cache, and unloading returns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from app.core.catalog import CatalogModel, Variant
from app.core.errors import BackendUnavailable, NotEnoughMemory
from app.core.estimates import Fit, plan_fit
from app.core.i18n import _
from app.core.performance import PerformanceTable
from app.core.profile import DeviceProfile

KvType = Literal["f16", "q8_0"]

MIN_CONTEXT = 2048       # below this a tutor prompt (instructions + passages + question) does not fit
# Measured on the 2-core CI box (docs/benchmarks.md, "Flash attention on the CPU"): prompt processing
# +13-18 %, generation at a 1k-token context +1-8 %, for SmolLM2 and Qwen2.5 0.5B; it also avoids the
# KQ matrix in memory. llama.cpp's own default ("auto") turns it on where supported, too.
CPU_FLASH_ATTN = True


@dataclass(frozen=True)
class LoadPlan:
    """Everything a local backend needs to load a model, and why each choice was made."""

    backend: str                 # registry name: "llama.cpp" or "mlx"
    context_length: int
    gpu_layers: int              # 0 = CPU only; == total_layers = everything on the GPU
    total_layers: int
    n_threads: int               # generation threads (physical cores: SMT siblings only contend)
    n_threads_batch: int         # prompt-processing threads
    n_batch: int = 512
    n_ubatch: int = 512
    flash_attn: bool = False
    kv_type: KvType = "f16"
    use_mmap: bool = True
    device: str = "CPU"          # what the user is told: "CPU", "RTX 3060", "Apple M2 GPU"
    reasons: tuple[str, ...] = ()

    @property
    def placement(self) -> Literal["gpu", "partial", "cpu"]:
        if self.gpu_layers <= 0:
            return "cpu"
        return "gpu" if self.gpu_layers >= self.total_layers else "partial"

    def with_reason(self, reason: str, **changes: object) -> LoadPlan:
        return replace(self, reasons=(*self.reasons, reason), **changes)  # type: ignore[arg-type]


def _threads(profile: DeviceProfile, override: int | None) -> int:
    if override:
        return override
    return profile.cpu.physical_cores or profile.cpu.logical_cores or 1


def plan_load(profile: DeviceProfile, model: CatalogModel, variant: Variant, *, table: PerformanceTable,
              context_length: int, n_threads: int | None = None, gpu_layers: int | None = None,
              weights_bytes: int | None = None, measured_tps: Mapping[str, float] | None = None) -> LoadPlan:
    """The settings to load `variant` with. `context_length` is what the user asked for (settings);
    `gpu_layers` an explicit override (-1 = all, 0 = CPU). Raises NotEnoughMemory when even
    MIN_CONTEXT does not fit, BackendUnavailable when no installed runtime can run it."""
    reasons: list[str] = []
    ctx = context_length
    if ctx > model.max_context:
        reasons.append(_("context {max_context:,} tokens: the most this model was trained for ({asked:,} was "
                         "asked)").format(max_context=model.max_context, asked=ctx))
        ctx = model.max_context
    fit = _fit(profile, model, variant, table, ctx, weights_bytes, measured_tps)
    while fit.verdict == "too_large" and ctx // 2 >= MIN_CONTEXT:
        ctx //= 2
        fit = _fit(profile, model, variant, table, ctx, weights_bytes, measured_tps)
        if fit.verdict != "too_large":
            reasons.append(_("context shortened to {ctx:,} tokens so the model fits in free memory").format(ctx=ctx))
    if fit.verdict == "runtime_unavailable":
        raise BackendUnavailable(_("{name} cannot run here: {reason}.").format(name=model.name, reason=fit.reason),
                                 hint=_("Choose a GGUF model, or install the runtime it needs."))
    if fit.verdict == "too_large":
        raise NotEnoughMemory(
            _("{name} ({quant}) does not fit in this machine's free memory: {reason}.").format(
              name=model.name, quant=variant.quant, reason=fit.reason),
            hint=_("Close other programs, or choose a smaller model or quantisation (`lantern models recommend`)."),
            debug_context={"context": ctx})
    threads = _threads(profile, n_threads)
    backend = "mlx" if variant.format == "mlx" else "llama.cpp"
    layers = model.n_layers
    placed = fit.gpu_layers if fit.verdict in ("full_gpu", "partial_gpu") else 0
    reasons.append(_placement_reason(fit))
    if gpu_layers is not None and backend == "llama.cpp":
        placed = layers if gpu_layers < 0 else min(gpu_layers, layers)
        reasons.append(_("GPU layers set to all in settings") if gpu_layers < 0
                       else _("GPU layers set to {layers} in settings").format(layers=gpu_layers))
    on_gpu = placed > 0
    if threads == 1:
        thread_note = _("1 CPU thread (physical cores)") if not n_threads else _("1 CPU thread (from settings)")
    else:
        thread_note = (_("{threads} CPU threads (physical cores)") if not n_threads
                       else _("{threads} CPU threads (from settings)"))
    reasons.append(thread_note.format(threads=threads))
    return LoadPlan(backend=backend, context_length=ctx, gpu_layers=placed, total_layers=layers,
                    n_threads=threads, n_threads_batch=threads, n_batch=min(512, ctx), n_ubatch=min(512, ctx),
                    flash_attn=on_gpu or CPU_FLASH_ATTN, device=fit.device if on_gpu else "CPU",
                    reasons=tuple(reasons))


def _fit(profile: DeviceProfile, model: CatalogModel, variant: Variant, table: PerformanceTable, ctx: int,
         weights_bytes: int | None, measured_tps: Mapping[str, float] | None) -> Fit:
    return plan_fit(profile, model, variant, context_length=ctx, table=table, measured_tps=measured_tps,
                    weights_bytes=weights_bytes)


def _placement_reason(fit: Fit) -> str:
    if fit.verdict == "full_gpu":
        return _("all {layers} layers on the {device}: {reason}").format(
            layers=fit.total_layers, device=fit.device, reason=fit.reason)
    if fit.verdict == "partial_gpu":
        return _("{gpu_layers} of {layers} layers on the {device}: {reason}").format(
            gpu_layers=fit.gpu_layers, layers=fit.total_layers, device=fit.device, reason=fit.reason)
    return _("on the CPU: {reason}").format(reason=fit.reason)


def fallback_plans(plan: LoadPlan, *, min_context: int = MIN_CONTEXT) -> list[LoadPlan]:
    """What to try, in order, after `plan` failed for lack of memory: fewer GPU layers (3/4, 1/2,
    1/4 of them), then shorter contexts with the fewest of those layers, then the CPU at the
    planned context and shorter ones. MLX has no layer split: only shorter contexts."""
    out: list[LoadPlan] = []
    ctx = plan.context_length
    shorter = []
    c = ctx // 2
    while c >= min(min_context, ctx):
        shorter.append(c)
        c //= 2
    if plan.backend == "mlx":
        return [plan.with_reason(_("retried with a {ctx:,}-token context after running out of memory").format(ctx=c),
                                 context_length=c) for c in shorter]
    last = plan
    if plan.gpu_layers > 0:
        for k in sorted({plan.gpu_layers * 3 // 4, plan.gpu_layers // 2, plan.gpu_layers // 4}, reverse=True):
            if 0 < k < plan.gpu_layers:
                last = plan.with_reason(_("retried with {k} of {layers} layers on the GPU after it ran out of "
                                          "memory").format(k=k, layers=plan.total_layers), gpu_layers=k)
                out.append(last)
        out += [last.with_reason(_("retried with a {ctx:,}-token context").format(ctx=c), context_length=c,
                                 n_batch=min(512, c), n_ubatch=min(512, c)) for c in shorter]
        cpu = plan.with_reason(_("fell back to the CPU after the GPU ran out of memory"), gpu_layers=0,
                               device="CPU", flash_attn=CPU_FLASH_ATTN)
        out.append(cpu)
    else:
        cpu = plan
    out += [cpu.with_reason(_("retried with a {ctx:,}-token context after running out of memory").format(ctx=c),
                            context_length=c, n_batch=min(512, c), n_ubatch=min(512, c)) for c in shorter]
    return out


@dataclass(frozen=True)
class LoadAttempt:
    plan: LoadPlan
    failure: str | None    # None: this attempt loaded


def describe_load(attempts: list[LoadAttempt]) -> str | None:
    """What the user should be told when the model did not load as planned (None when it did)."""
    if len(attempts) < 2 or attempts[-1].failure is not None:
        return None
    planned, used = attempts[0].plan, attempts[-1].plan
    why = attempts[0].failure or _("it ran out of memory")
    if used.placement == "cpu" and planned.placement != "cpu":
        loaded = _("Loaded on the CPU only")
        cost = _("Answers will be noticeably slower than planned.")
    elif used.gpu_layers < planned.gpu_layers:
        loaded = _("Loaded with {gpu_layers} of {layers} layers on the {device}").format(
            gpu_layers=used.gpu_layers, layers=used.total_layers, device=planned.device)
        cost = _("Answers will be slower than planned.")
    else:
        loaded = (_("Loaded on the CPU") if used.placement == "cpu"
                  else _("Loaded on the {device}").format(device=used.device))
        cost = ""
    if used.context_length < planned.context_length:
        loaded += " " + _("with a {ctx:,}-token context instead of {planned:,}").format(
            ctx=used.context_length, planned=planned.context_length)
    message = _("{loaded}, because loading as planned failed: {why}.").format(loaded=loaded, why=why)
    if cost:
        message += " " + cost
    return message + " " + _("Closing other programs that use memory and reloading may restore the planned setup.")
