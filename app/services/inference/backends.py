"""The registered chat backends, and opening an installed model with the right one.

Embedding models have one path of their own (app.services.knowledge.models.open_embedder →
llama_embedder), since only llama.cpp runs them.

A backend is added by registering a factory here (the cloud backend will register "openai");
callers ask for a role's model and never name a library. Factories import their library lazily, so
`lantern doctor` and the first window do not pay for llama.cpp or MLX.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.catalog import Catalog
from app.core.inference import BackendRegistry, ChatBackend
from app.core.installed import InstalledModel
from app.core.load_plan import LoadPlan
from app.core.performance import PerformanceTable
from app.core.profile import DeviceProfile
from app.core.settings import LanternSettings
from app.core.think_filter import DeclaredThinking
from app.services.inference.loading import AttemptFailed, Loaded, load_llama_chat, load_with_fallback, plan_for


def _llama_chat(*, path: Path, model_id: str, plan: LoadPlan, thinking: DeclaredThinking | None = None) -> ChatBackend:
    backend: ChatBackend = load_llama_chat(path, model_id=model_id, plan=plan, thinking=thinking)
    return backend


def _mlx_chat(*, path: Path, model_id: str, plan: LoadPlan, thinking: DeclaredThinking | None = None) -> ChatBackend:
    from app.services.inference.mlx_backend import load_mlx_backend

    try:
        return load_mlx_backend(path, model_id=model_id, context_length=plan.context_length, thinking=thinking)
    except MemoryError as exc:  # Metal reports running out of memory as a Python MemoryError/RuntimeError
        raise AttemptFailed("memory", str(exc) or "out of memory", []) from exc
    except RuntimeError as exc:
        if "memory" not in str(exc).lower():
            raise
        raise AttemptFailed("memory", str(exc), []) from exc


def _openai_chat(*, endpoint: Any, gate: Any, timeouts: Any = None) -> ChatBackend:
    """Any OpenAI-compatible API (app.services.inference.cloud_backend): takes an endpoint, not a file."""
    from app.services.inference.cloud_backend import open_cloud_engine

    engine: ChatBackend = open_cloud_engine(endpoint, gate=gate, timeouts=timeouts)
    return engine


CHAT_BACKENDS: BackendRegistry[ChatBackend] = BackendRegistry()
CHAT_BACKENDS.register("llama.cpp", _llama_chat)
CHAT_BACKENDS.register("mlx", _mlx_chat)
CHAT_BACKENDS.register("openai", _openai_chat)


def open_chat_model(installed: InstalledModel, *, profile: DeviceProfile, settings: LanternSettings,
                    table: PerformanceTable, catalog: Catalog, context_length: int | None = None) -> Loaded[Any]:
    """Plan, load (stepping down on memory failures) and return the chat backend for `installed`."""
    plan = plan_for(installed, profile=profile, settings=settings, table=table, catalog=catalog,
                    context_length=context_length)
    return load_with_fallback(
        lambda p: CHAT_BACKENDS.create(p.backend, path=Path(installed.path), model_id=installed.id, plan=p,
                                       thinking=catalog.declared_thinking(installed.catalog_id)),
        plan, label=installed.display_name)
