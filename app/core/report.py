"""Plain-language text and JSON views of a device profile and a recommendation."""

from __future__ import annotations

from typing import Any

from app.core.estimates import Fit
from app.core.profile import GIB, DeviceProfile
from app.core.recommend import Option, Recommendation

RECOMMENDATION_SCHEMA = "lantern.recommendation"
RECOMMENDATION_VERSION = 1

VERDICT_TEXT = {
    "full_gpu": "full GPU offload",
    "partial_gpu": "partial GPU offload",
    "cpu_only": "CPU only",
    "too_large": "too large",
    "context_too_short": "context too short",
    "runtime_unavailable": "runtime not available",
}


def _gb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / GIB:.1f} GB"


def profile_summary(p: DeviceProfile) -> list[str]:
    cpu, mem = p.cpu, p.memory
    lines = [f"System:   {p.os.version or p.os.system or 'unknown'} ({cpu.arch or 'unknown arch'})"]
    cores = "unknown cores"
    if cpu.physical_cores or cpu.logical_cores:
        cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
        if cpu.performance_cores:
            cores += f" ({cpu.performance_cores} performance + {cpu.efficiency_cores or 0} efficiency)"
    lines.append(f"CPU:      {cpu.brand or 'unknown'}, {cores}")
    feats = "unknown" if cpu.features is None else (", ".join(cpu.features) or "none of the tracked ones")
    lines.append(f"SIMD:     {feats}")
    if cpu.board:
        lines.append(f"Board:    {cpu.board}")
    lines.append(f"Memory:   {_gb(mem.total_bytes)} total, {_gb(mem.available_bytes)} available, "
                 f"swap {_gb(mem.swap_total_bytes)}")
    lines.append(f"Disk:     {_gb(p.disk.free_bytes)} free for models ({p.disk.path or 'unknown path'})")
    if p.apple:
        lines.append(f"Apple:    {p.apple.chip or 'Apple Silicon'}, "
                     f"{_gb(p.apple.unified_memory_bytes)} unified memory, "
                     f"GPU may use {_gb(p.apple.gpu_working_set_bytes)}")
    for g in p.gpus:
        if g.vendor == "apple":
            continue
        vram = ""
        if g.total_vram_bytes:
            vram = f", {_gb(g.free_vram_bytes)} free of {_gb(g.total_vram_bytes)} VRAM"
        extra = ""
        if g.vendor == "nvidia":
            extra = (f", compute {g.compute_capability or '?'}, driver {g.driver_version or '?'}, "
                     f"CUDA {g.cuda_version or '?'}")
        lines.append(f"GPU:      {g.name}{vram}{extra} [{g.source}]")
    if not [g for g in p.gpus if g.vendor != "apple"]:
        lines.append("GPU:      no discrete GPU found")
    rt = p.runtimes
    if rt.llama_cpp.installed:
        gpu = {True: "GPU offload available", False: "CPU only (no GPU offload in this build)",
               None: "GPU offload unknown"}[rt.llama_cpp.gpu_offload]
        backends = ", ".join(rt.llama_cpp.backends) or "?"
        lines.append(f"llama.cpp: {rt.llama_cpp.version or '?'}, {gpu}; backends: {backends}")
    else:
        lines.append("llama.cpp: not installed")
    lines.append(f"MLX:      {'can run on ' + (rt.mlx.device or '?') if rt.mlx.can_run else 'not available'}"
                 + (f" ({rt.mlx.reason})" if rt.mlx.reason else ""))
    problems = [n for n in p.notes if n.status != "ok"]
    for n in problems:
        lines.append(f"Unknown:  {n.probe} — {n.status}: {n.detail or ''}".rstrip(": "))
    return lines


def fit_json(fit: Fit) -> dict[str, Any]:
    return {
        "verdict": fit.verdict,
        "device": fit.device,
        "gpu_index": fit.gpu_index,
        "gpu_layers": fit.gpu_layers,
        "total_layers": fit.total_layers,
        "memory_bytes": {
            "weights": fit.memory.weights_bytes,
            "kv_cache": fit.memory.kv_cache_bytes,
            "compute": fit.memory.compute_bytes,
            "total": fit.memory.total_bytes,
        },
        "context_length": fit.memory.context_length,
        "ram_bytes": fit.ram_bytes,
        "vram_bytes": fit.vram_bytes,
        "tokens_per_second": None if fit.tokens_per_second is None else round(fit.tokens_per_second, 1),
        "speed_source": fit.speed_source,
        "reason": fit.reason,
    }


def option_json(o: Option) -> dict[str, Any]:
    return {
        "model_id": o.model.id,
        "name": o.model.name,
        "format": o.variant.format,
        "quant": o.variant.quant,
        "repo": o.variant.repo,
        "file": o.variant.file,
        "params_b": o.model.params_b,
        "strengths": list(o.model.strengths),
        "license": o.model.license,
        "quality": {"score": o.model.quality.score, "metric": o.model.quality.metric,
                    "source": o.model.quality.source, "adjusted_for_quant": round(o.quality, 2)},
        "matches_intent": o.matches_intent,
        "download_bytes": o.download_bytes,
        "download_size_is_estimate": o.download_is_estimate,
        "disk_ok": o.disk_ok,
        "fit": fit_json(o.fit),
    }


def recommendation_json(rec: Recommendation, profile: DeviceProfile) -> dict[str, Any]:
    return {
        "schema": RECOMMENDATION_SCHEMA,
        "version": RECOMMENDATION_VERSION,
        "profile_label": profile.label,
        "intent": rec.intent,
        "context_length": rec.context_length,
        "pick": option_json(rec.pick) if rec.pick else None,
        "reason": rec.reason,
        "warnings": list(rec.warnings),
        "options": [option_json(o) for o in rec.options],
    }


def recommendation_table(rec: Recommendation, *, limit: int | None = 15) -> list[str]:
    header = f"{'':2}{'model':34} {'quant':9} {'verdict':27} {'memory':>8} {'tok/s':>7} {'download':>9}"
    lines = [header]
    shown = rec.options if limit is None else rec.options[:limit]
    for o in shown:
        mark = "★ " if rec.pick is o else "  "
        verdict = VERDICT_TEXT[o.fit.verdict]
        if o.fit.verdict == "partial_gpu":
            verdict += f" {o.fit.gpu_layers}/{o.fit.total_layers}"
        if o.fit.verdict in ("full_gpu", "partial_gpu", "cpu_only") and not o.disk_ok:
            verdict = "exceeds free disk"
        tps = "-" if o.fit.tokens_per_second is None else f"{o.fit.tokens_per_second:.0f}"
        size = ("~" if o.download_is_estimate else "") + _gb(o.download_bytes)
        lines.append(f"{mark}{o.model.name[:34]:34} {o.variant.quant:9} {verdict:27} "
                     f"{_gb(o.fit.memory.total_bytes):>8} {tps:>7} {size:>9}")
    if limit is not None and len(rec.options) > limit:
        lines.append(f"  … {len(rec.options) - limit} more (use --all)")
    return lines


def fit_line(fit: Fit) -> str:
    """One line for `lantern models pull`: the verdict, why, and the expected speed."""
    speed = f"; ~{fit.tokens_per_second:.0f} tokens/s ({fit.speed_source})" if fit.tokens_per_second else ""
    return f"Fit on this machine: {VERDICT_TEXT[fit.verdict]} - {fit.reason}{speed}"
