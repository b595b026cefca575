"""Loading a local model: plan it, try it, step down on memory failures, and say what happened.

A load is one llama.cpp/MLX call; what makes it robust is around it: the file is validated first
(a corrupt file is a clear ModelFileInvalid, not a crash inside the library), llama.cpp's log is
read to tell "out of memory" from "unknown architecture", and only memory failures step down the
fallback ladder (app.core.load_plan.fallback_plans) — retrying a damaged file on the CPU would
only hide the real problem.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from app.core.catalog import Catalog, CatalogModel, Variant
from app.core.errors import BackendUnavailable, ModelFileInvalid, ModelLoadFailed, NotEnoughMemory
from app.core.gguf_fit import model_for_fit
from app.core.i18n import _
from app.core.installed import InstalledModel
from app.core.load_plan import LoadAttempt, LoadPlan, describe_load, fallback_plans, plan_load
from app.core.performance import PerformanceTable
from app.core.profile import DeviceProfile
from app.core.settings import LanternSettings
from app.core.think_filter import DeclaredThinking
from app.services.inference import llama_log
from app.services.inference.llama_import import import_llama_cpp
from app.services.inference.memory import release_freed_memory
from app.services.models.gguf_file import inspect_gguf_file

log = logging.getLogger(__name__)

B = TypeVar("B")


class AttemptFailed(Exception):
    """One load attempt failed; `kind` says whether a smaller plan could help ("memory")."""

    def __init__(self, kind: llama_log.FailureKind, detail: str, log_lines: list[str]) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.log_lines = log_lines


@dataclass(frozen=True)
class Loaded(Generic[B]):
    backend: B
    plan: LoadPlan                  # what was actually used
    attempts: tuple[LoadAttempt, ...]
    notice: str | None              # tell the user: the load did not go as planned, and why


def load_with_fallback(load_one: Callable[[LoadPlan], B], plan: LoadPlan, *, label: str) -> Loaded[B]:
    attempts: list[LoadAttempt] = []
    for candidate in [plan, *fallback_plans(plan)]:
        try:
            backend = load_one(candidate)
        except AttemptFailed as failure:
            attempts.append(LoadAttempt(candidate, failure.detail))
            log.warning("loading %s failed (%s): %s", label, failure.kind, failure.detail)
            if failure.kind != "memory":
                raise _final_error(failure, label) from failure
            del failure
            release_freed_memory()  # what the failed attempt allocated must not crowd the next, smaller one
            continue
        attempts.append(LoadAttempt(candidate, None))
        notice = describe_load(attempts)
        if notice:
            log.warning("%s: %s", label, notice)
        return Loaded(backend, candidate, tuple(attempts), notice)
    last = attempts[-1].plan
    where = _("even on the CPU") if last.placement == "cpu" else _("even on the {device}").format(device=last.device)
    raise NotEnoughMemory(
        _("{label} could not be loaded: it ran out of memory {where} with a {context_length:,}-token context.").format(
          label=label, where=where, context_length=last.context_length),
        hint=_("Close other programs that use memory, or choose a smaller model (`lantern models recommend`)."),
        debug_context={"attempts": [a.failure for a in attempts]})


def _final_error(failure: AttemptFailed, label: str) -> Exception:
    context = {"error": failure.detail, "llama_cpp_log": failure.log_lines[-20:]}
    if failure.kind == "architecture":
        return BackendUnavailable(_("This version of llama.cpp cannot run {label}: its architecture is not "
                                    "supported.").format(label=label),
                                  hint=_("Update Lantern (a newer llama.cpp may support it), or choose another model."),
                                  debug_context=context)
    if failure.kind == "file":
        return ModelFileInvalid(_("{label} is damaged: llama.cpp could not read its tensors.").format(label=label),
                                hint=_("Run `lantern models verify`, then download the model again."),
                                debug_context=context)
    return ModelLoadFailed(_("llama.cpp could not load {label}.").format(label=label),
                           hint=_("Run `lantern models verify` on it; if it is intact, report the diagnostics."),
                           debug_context=context)


LLAMA_KV_TYPES = {"f16": 1, "q8_0": 8}  # ggml_type values


def llama_settings(plan: LoadPlan) -> dict[str, Any]:
    """`llama_cpp.Llama` keyword arguments for `plan` (also what `lantern bench` gives raw llama-cpp-python)."""
    return {"n_ctx": plan.context_length,
            "n_gpu_layers": -1 if plan.gpu_layers >= plan.total_layers else plan.gpu_layers,
            "n_threads": plan.n_threads, "n_threads_batch": plan.n_threads_batch, "n_batch": plan.n_batch,
            "n_ubatch": plan.n_ubatch, "flash_attn": plan.flash_attn, "type_k": LLAMA_KV_TYPES[plan.kv_type],
            "type_v": LLAMA_KV_TYPES[plan.kv_type], "use_mmap": plan.use_mmap, "verbose": False}


def load_llama_chat(path: Path, *, model_id: str, plan: LoadPlan, thinking: DeclaredThinking | None = None) -> Any:
    """One attempt at loading a GGUF chat model with exactly `plan` (raises AttemptFailed)."""
    inspect_gguf_file(path)  # a damaged file fails here, clearly, before llama.cpp sees it
    llama_cpp = import_llama_cpp()
    from app.services.inference.llama_backend import LlamaChatBackend

    llama_log.install()
    with llama_log.capturing() as logged:
        try:
            llm = llama_cpp.Llama(model_path=str(path), use_mlock=False, **llama_settings(plan))
        except (ValueError, RuntimeError, MemoryError, OSError) as exc:
            lines = logged()
            failure = AttemptFailed(llama_log.classify(lines, exc), _summary(lines, exc), [*lines, repr(exc)])
        else:
            return LlamaChatBackend(llm, model_id=model_id, plan=plan, thinking=thinking)
    # Raised outside the except block and without the cause: the exception's traceback holds the
    # half-built Llama (its weights, maybe VRAM), which must be freed before a smaller retry.
    raise failure


def _summary(lines: list[str], exc: BaseException) -> str:
    useful = [line for line in lines if "error" in line.lower() or "fail" in line.lower()]
    return (useful[-1] if useful else str(exc)).strip()[:300]


def gguf_facts(path: Path, *, model_id: str) -> tuple[CatalogModel, Variant, int]:
    """What the GGUF header says, as catalog-style facts (the real file size is the weights)."""
    header = inspect_gguf_file(path)
    catalog_style = re.sub(r"[^a-z0-9.\-]+", "-", model_id.lower()).strip("-.") or "model"
    size = path.stat().st_size
    model, variant = model_for_fit(header, model_id=catalog_style, file_bytes=size)
    return model, variant, size


def model_facts(installed: InstalledModel, catalog: Catalog) -> tuple[CatalogModel, Variant, int | None]:
    """The facts the planner needs: the GGUF header for GGUF files, the catalog entry for MLX folders."""
    path = Path(installed.path)
    if installed.format == "gguf":
        return gguf_facts(path, model_id=installed.id)
    entry = next((m for m in catalog.models if m.id == installed.catalog_id), None)
    mlx = [v for v in (catalog.variants(entry) if entry else []) if v.format == "mlx"]
    variant = next((v for v in mlx if v.quant == installed.quant), mlx[0] if mlx else None)
    if entry is None or variant is None:
        raise BackendUnavailable(_("{id} is an MLX model Lantern has no facts about.").format(id=installed.id),
                                 hint=_("Use an MLX model from the catalog (`lantern models recommend`)."),
                                 debug_context={"config": _mlx_config(path)})
    return entry, variant, installed.size_bytes


def _mlx_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def plan_for(installed: InstalledModel, *, profile: DeviceProfile, settings: LanternSettings,
             table: PerformanceTable, catalog: Catalog, context_length: int | None = None) -> LoadPlan:
    model, variant, weights = model_facts(installed, catalog)
    return plan_load(profile, model, variant, table=table, context_length=context_length or settings.context_length,
                     n_threads=settings.n_threads, gpu_layers=settings.gpu_layers, weights_bytes=weights)
