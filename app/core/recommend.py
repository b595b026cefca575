"""Rank every catalog variant for a machine and pick one, with a one-sentence reason.

Rules (issue 2): judge against free memory with headroom; never recommend what does not fit or
exceeds free disk; prefer MLX on Apple Silicon when MLX can run; do not pick a model below a
conversational speed when a fitting faster one exists, and warn when nothing is fast; more
memory never yields a worse pick. The last holds because (a) more memory only adds placements
and only moves layers to faster memory, and (b) the pick maximises a key that depends on the
variant and its speed alone — see `pick_key`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.core.catalog import Catalog, CatalogModel, Variant, estimated_size_bytes
from app.core.downloads import disk_needed
from app.core.estimates import RUNS, Fit, plan_fit
from app.core.i18n import _
from app.core.performance import PerformanceTable
from app.core.profile import GIB, DeviceProfile
from app.core.quant import quality_after_quant
from app.core.settings import Intent

CONVERSATIONAL_TPS = 8.0           # below this, reading speed outpaces the answer
COMFORTABLE_TPS = 32.0             # beyond this, more speed is not felt in a chat
SPEED_POINTS = 5.0                 # quality points per doubling of speed between the two
SLOW_POINTS = 20.0                 # quality points lost per halving of speed below the floor
INTENT_STRENGTH = {"chat": None, "code": "code", "multilingual": "multilingual"}
FORMAT_ORDER = {"gguf": 0, "mlx": 1}


@dataclass(frozen=True)
class Option:
    model: CatalogModel
    variant: Variant
    fit: Fit
    download_bytes: int
    download_is_estimate: bool
    disk_ok: bool
    quality: float                 # catalog score adjusted for the quantisation's quality cost
    matches_intent: bool

    @property
    def runs(self) -> bool:
        return self.fit.verdict in RUNS and self.disk_ok

    @property
    def fast(self) -> bool:
        return (self.fit.tokens_per_second or 0.0) >= CONVERSATIONAL_TPS


@dataclass(frozen=True)
class Recommendation:
    options: tuple[Option, ...]            # every variant, best first
    pick: Option | None
    reason: str
    warnings: tuple[str, ...] = field(default=())
    intent: Intent = "chat"
    context_length: int = 4096


def utility(option: Option) -> float:
    """Quality plus a bonus for speed above the conversational floor, so a model that runs fully on
    the GPU at 25 tokens/s beats a marginally better one crawling at 9 with layers on the CPU.
    SPEED_POINTS per doubling of speed, counted up to COMFORTABLE_TPS."""
    tps = min(option.fit.tokens_per_second or 0.0, COMFORTABLE_TPS)
    bonus = SPEED_POINTS * math.log2(tps / CONVERSATIONAL_TPS) if tps > CONVERSATIONAL_TPS else 0.0
    return option.quality + bonus


def slow_utility(option: Option) -> float:
    """Below the floor every halving of speed costs SLOW_POINTS quality points: a much better model
    that is a little slower still wins, a crawling one does not."""
    tps = max(option.fit.tokens_per_second or 0.0, 0.01)
    return option.quality + SLOW_POINTS * math.log2(tps / CONVERSATIONAL_TPS)


def pick_key(option: Option, *, prefer_mlx: bool) -> tuple[bool, bool, int, float]:
    """Higher is better, and a function of the option alone (so more memory never lowers the best).

    Fast options first; among them those matching the intent, then the preferred format (MLX on
    Apple Silicon when it can run), then utility. When nothing is fast, slow_utility decides.
    """
    fmt = FORMAT_ORDER[option.variant.format] if prefer_mlx else -FORMAT_ORDER[option.variant.format]
    if option.fast:
        return (True, option.matches_intent, fmt, round(utility(option), 3))
    return (False, False, fmt, round(slow_utility(option), 3))


def build_options(profile: DeviceProfile, catalog: Catalog, *, table: PerformanceTable, intent: Intent,
                  context_length: int, measured_tps: Mapping[str, float] | None = None,
                  exact_sizes: Mapping[str, int] | None = None) -> list[Option]:
    want = INTENT_STRENGTH[intent]
    options = []
    free_disk = profile.disk.free_bytes
    for model, variant in catalog.all_variants(kind="chat"):
        fit = plan_fit(profile, model, variant, context_length=context_length, table=table, measured_tps=measured_tps)
        exact = (exact_sizes or {}).get(variant.key)
        size = exact if exact is not None else estimated_size_bytes(model, variant)
        disk_ok = free_disk is None or disk_needed(size) <= free_disk
        options.append(Option(
            model=model, variant=variant, fit=fit, download_bytes=size, download_is_estimate=exact is None,
            disk_ok=disk_ok, quality=quality_after_quant(model.quality.score, variant.quant),
            matches_intent=want is None or want in model.strengths,
        ))
    return options


def recommend(profile: DeviceProfile, catalog: Catalog, *, table: PerformanceTable, intent: Intent = "chat",
              context_length: int = 4096, measured_tps: Mapping[str, float] | None = None,
              exact_sizes: Mapping[str, int] | None = None) -> Recommendation:
    options = build_options(profile, catalog, table=table, intent=intent, context_length=context_length,
                            measured_tps=measured_tps, exact_sizes=exact_sizes)
    prefer_mlx = profile.apple is not None and profile.runtimes.mlx.can_run
    warnings: list[str] = []
    runnable = [o for o in options if o.runs]
    warnings.extend(memory_warnings(profile))
    ranked = sorted(options, key=lambda o: (o.runs, pick_key(o, prefer_mlx=prefer_mlx)), reverse=True)
    pick = max(runnable, key=lambda o: pick_key(o, prefer_mlx=prefer_mlx)) if runnable else None
    if pick is None:
        return Recommendation(tuple(ranked), None, no_pick_reason(options), tuple(warnings), intent, context_length)
    if not pick.matches_intent:
        warnings.append(_("No model tuned for {intent} runs well here; this is the best general model.").format(
            intent=intent))
    if not pick.fast:
        warnings.append(
            _("Nothing in the catalog runs at a conversational speed ({target:.0f} tokens/s) here; this pick runs "
              "at ~{tps:.1f} tokens/s.").format(target=CONVERSATIONAL_TPS, tps=pick.fit.tokens_per_second)
        )
    return Recommendation(tuple(ranked), pick, explain(pick), tuple(warnings), intent, context_length)


def memory_warnings(profile: DeviceProfile) -> list[str]:
    mem = profile.memory
    if mem.total_bytes is None and mem.available_bytes is None:
        return [_("Free memory could not be measured, so nothing could be judged to fit.")]
    out = []
    if mem.available_bytes is None:
        out.append(_("Free RAM could not be measured; half of the total was assumed free."))
    if any(g.free_vram_bytes is None for g in profile.nvidia_gpus):
        out.append(_("Free VRAM could not be measured; memory in use by other apps may be higher than assumed."))
    return out


def no_pick_reason(options: list[Option]) -> str:
    verdicts = {o.fit.verdict for o in options}
    if verdicts <= {"runtime_unavailable"}:
        common = Counter(o.fit.reason for o in options).most_common(1)[0][0]
        return _("No inference runtime can run these models here: {reason}.").format(reason=common.rstrip("."))
    if verdicts & set(RUNS):
        return _("No model that fits in memory also fits on the free disk space; free some space and check again.")
    if verdicts <= {"runtime_unavailable", "context_too_short"}:
        return _("No model that runs here supports that much context; choose a shorter context length.")
    return _("No catalog model fits in this machine's free memory.")


def explain(pick: Option) -> str:
    """One sentence saying what the pick is, where it runs, how fast, and why it won."""
    fit = pick.fit
    name = f"{pick.model.name} {pick.variant.quant}"
    if not fit.tokens_per_second:
        speed = _("unknown speed")
    elif fit.speed_source == "measured":
        speed = _("~{tps:.0f} tokens/s (measured)").format(tps=fit.tokens_per_second)
    else:
        speed = _("~{tps:.0f} tokens/s").format(tps=fit.tokens_per_second)
    if fit.verdict == "full_gpu":
        where = _("runs entirely on the {device}").format(device=fit.device)
    elif fit.verdict == "partial_gpu":
        where = _("runs {gpu_layers} of {layers} layers on the {device} and the rest on the CPU").format(
            gpu_layers=fit.gpu_layers, layers=fit.total_layers, device=fit.device)
    else:
        where = _("runs on the CPU")
    runtime = "MLX" if pick.variant.format == "mlx" else "llama.cpp"
    why = (_("the best balance of quality and speed among the models that fit") if pick.fast
           else _("the best this machine can run, though slower than conversational speed"))
    return _("{name} {where} at {speed} with {runtime}: {why} (quality {score:g}: {metric}; needs ~{gb:.1f} GB at "
             "{context} tokens of context).").format(
        name=name, where=where, speed=speed, runtime=runtime, why=why, score=pick.model.quality.score,
        metric=pick.model.quality.metric, gb=fit.memory.total_bytes / GIB, context=fit.memory.context_length)
