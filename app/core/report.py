"""Plain-language text and JSON views of a device profile and a recommendation."""

from __future__ import annotations

from typing import Any

from app.core.estimates import Fit
from app.core.i18n import N_, _
from app.core.profile import GIB, DeviceProfile
from app.core.recommend import Option, Recommendation

RECOMMENDATION_SCHEMA = "lantern.recommendation"
RECOMMENDATION_VERSION = 1

VERDICT_TEXT = {
    "full_gpu": N_("full GPU offload"),
    "partial_gpu": N_("partial GPU offload"),
    "cpu_only": N_("CPU only"),
    "too_large": N_("too large"),
    "context_too_short": N_("context too short"),
    "runtime_unavailable": N_("runtime not available"),
}


def _gb(n: int | None) -> str:
    return _("unknown") if n is None else _("{gb:.1f} GB").format(gb=n / GIB)


_LABEL_WIDTH = 10


def _line(label: str, value: str) -> str:
    """A translated label (with its colon) padded so the values line up."""
    return f"{label:<{_LABEL_WIDTH}}{value}" if len(label) < _LABEL_WIDTH else f"{label} {value}"


def profile_summary(p: DeviceProfile) -> list[str]:
    cpu, mem = p.cpu, p.memory
    unknown = _("unknown")
    lines = [_line(_("System:"), f"{p.os.version or p.os.system or unknown} ({cpu.arch or _('unknown arch')})")]
    cores = _("unknown cores")
    if cpu.physical_cores or cpu.logical_cores:
        cores = _("{cores} cores / {threads} threads").format(cores=cpu.physical_cores or "?",
                                                             threads=cpu.logical_cores or "?")
        if cpu.performance_cores:
            cores += " " + _("({performance} performance + {efficiency} efficiency)").format(
                performance=cpu.performance_cores, efficiency=cpu.efficiency_cores or 0)
    lines.append(_line(_("CPU:"), f"{cpu.brand or unknown}, {cores}"))
    feats = unknown if cpu.features is None else (", ".join(cpu.features) or _("none of the tracked ones"))
    lines.append(_line(_("SIMD:"), feats))
    if cpu.board:
        lines.append(_line(_("Board:"), cpu.board))
    lines.append(_line(_("Memory:"), _("{total} total, {available} available, swap {swap}").format(
        total=_gb(mem.total_bytes), available=_gb(mem.available_bytes), swap=_gb(mem.swap_total_bytes))))
    lines.append(_line(_("Disk:"), _("{free} free for models ({path})").format(
        free=_gb(p.disk.free_bytes), path=p.disk.path or _("unknown path"))))
    if p.apple:
        lines.append(_line(_("Apple:"), _("{chip}, {memory} unified memory, GPU may use {gpu}").format(
            chip=p.apple.chip or _("Apple Silicon"), memory=_gb(p.apple.unified_memory_bytes),
            gpu=_gb(p.apple.gpu_working_set_bytes))))
    for g in p.gpus:
        if g.vendor == "apple":
            continue
        vram = ""
        if g.total_vram_bytes:
            vram = ", " + _("{free} free of {total} VRAM").format(free=_gb(g.free_vram_bytes),
                                                                 total=_gb(g.total_vram_bytes))
        extra = ""
        if g.vendor == "nvidia":
            extra = ", " + _("compute {compute}, driver {driver}, CUDA {cuda}").format(
                compute=g.compute_capability or "?", driver=g.driver_version or "?", cuda=g.cuda_version or "?")
        lines.append(_line(_("GPU:"), f"{g.name}{vram}{extra} [{g.source}]"))
    if not [g for g in p.gpus if g.vendor != "apple"]:
        lines.append(_line(_("GPU:"), _("no discrete GPU found")))
    rt = p.runtimes
    if rt.llama_cpp.installed:
        gpu = {True: _("GPU offload available"), False: _("CPU only (no GPU offload in this build)"),
               None: _("GPU offload unknown")}[rt.llama_cpp.gpu_offload]
        backends = ", ".join(rt.llama_cpp.backends) or "?"
        lines.append(_line("llama.cpp:", _("{version}, {gpu}; backends: {backends}").format(
            version=rt.llama_cpp.version or "?", gpu=gpu, backends=backends)))
    else:
        lines.append(_line("llama.cpp:", _("not installed")))
    mlx = (_("can run on {device}").format(device=rt.mlx.device or "?") if rt.mlx.can_run
           else _("not available"))
    lines.append(_line("MLX:", mlx + (f" ({rt.mlx.reason})" if rt.mlx.reason else "")))
    problems = [n for n in p.notes if n.status != "ok"]
    for n in problems:
        lines.append(_line(_("Unknown:"), f"{n.probe} — {n.status}: {n.detail or ''}".rstrip(": ")))
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
    header = (f"{'':2}{_('model'):34} {_('quant'):9} {_('verdict'):27} {_('memory'):>8} {_('tok/s'):>7} "
              f"{_('download'):>9}")
    lines = [header]
    shown = rec.options if limit is None else rec.options[:limit]
    for o in shown:
        mark = "★ " if rec.pick is o else "  "
        verdict = _(VERDICT_TEXT[o.fit.verdict])
        if o.fit.verdict == "partial_gpu":
            verdict += f" {o.fit.gpu_layers}/{o.fit.total_layers}"
        if o.fit.verdict in ("full_gpu", "partial_gpu", "cpu_only") and not o.disk_ok:
            verdict = _("exceeds free disk")
        tps = "-" if o.fit.tokens_per_second is None else f"{o.fit.tokens_per_second:.0f}"
        size = ("~" if o.download_is_estimate else "") + _gb(o.download_bytes)
        lines.append(f"{mark}{o.model.name[:34]:34} {o.variant.quant:9} {verdict:27} "
                     f"{_gb(o.fit.memory.total_bytes):>8} {tps:>7} {size:>9}")
    if limit is not None and len(rec.options) > limit:
        lines.append("  " + _("… {count} more (use --all)").format(count=len(rec.options) - limit))
    return lines


def fit_line(fit: Fit) -> str:
    """One line for `lantern models pull`: the verdict, why, and the expected speed."""
    speed = ""
    if fit.tokens_per_second:
        source = _("measured") if fit.speed_source == "measured" else _("estimate")
        speed = "; " + _("~{tps:.0f} tokens/s ({source})").format(tps=fit.tokens_per_second, source=source)
    return _("Fit on this machine: {verdict} - {reason}{speed}").format(
        verdict=_(VERDICT_TEXT[fit.verdict]), reason=fit.reason, speed=speed)
