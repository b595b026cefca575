"""On-device text embeddings through llama.cpp, for GGUF embedding models (BERT-style encoders and
pooled decoders alike).

We tokenize, truncate, batch and read the pooled vectors ourselves instead of calling `Llama.embed`,
because that one truncates by cutting the tail (dropping the final [SEP] the model was trained
with, so long texts drift from the reference vectors), has no cancel point between batches, and
reports nothing about truncation. llama.cpp still does the pooling the model's metadata names
(`{arch}.pooling_type`); a model without pooling (a chat model) is refused, since it would give one
vector per token.

Not thread-safe: one worker thread drives an embedder (as for chat models).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import InferenceFailed, ModelLoadFailed, OperationCancelled
from app.core.gguf import GgufHeader
from app.core.i18n import N_, _
from app.core.inference import CancelToken
from app.services.inference import llama_log
from app.services.inference.llama_import import import_llama_cpp
from app.services.models.gguf_file import inspect_gguf_file

log = logging.getLogger(__name__)

NORMALIZE_KEY = "lantern.embedding.normalize"    # bool, written by our converter
MAX_TOKENS_KEY = "lantern.embedding.max_tokens"  # the sentence-transformers max_seq_length, if shorter
MAX_CONTEXT = 8192  # chunks are short; a bigger window only grows llama.cpp's compute buffers
POOLING_NAMES = {0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank"}
EMBEDDING_POOLINGS = (1, 2, 3)
CHOOSE_EMBEDDER = N_("Choose an embedding model in GGUF format, such as all-MiniLM-L6-v2 or bge-small-en.")


@dataclass(frozen=True)
class EmbeddingMetadata:
    """What the GGUF header says about using the model for embeddings."""

    pooling: int
    normalize: bool
    context_length: int | None
    max_tokens: int | None


def embedding_metadata(header: GgufHeader, *, label: str) -> EmbeddingMetadata:
    """Read pooling and normalisation from the header; refuse files that are not embedding models."""
    arch = header.architecture or "unknown"
    pooling = header.metadata.get(f"{arch}.pooling_type")
    if not isinstance(pooling, int) or pooling not in EMBEDDING_POOLINGS:
        if pooling == 4:
            message = _("{label} is a reranker, not an embedding model: it scores text pairs instead of making "
                        "vectors.").format(label=label)
        elif header.has_chat_template:
            message = _("{label} is a chat model, not an embedding model: it declares no pooling, so it cannot turn "
                        "a text into one vector.").format(label=label)
        else:
            message = _("{label} is a '{arch}' model, not an embedding model: it declares no pooling, so it cannot "
                        "turn a text into one vector.").format(label=label, arch=arch)
        raise ModelLoadFailed(message, hint=_(CHOOSE_EMBEDDER),
                              debug_context={"architecture": arch, "pooling_type": pooling})
    normalize = header.metadata.get(NORMALIZE_KEY)
    # Absent key (a GGUF from elsewhere): normalise. Embedding models are compared by cosine, their
    # sentence-transformers pipelines nearly all end in Normalize, and llama.cpp's own server and
    # embedding tool normalise pooled vectors by default; unit vectors also make dot product = cosine.
    max_tokens = header.metadata.get(MAX_TOKENS_KEY)
    return EmbeddingMetadata(
        pooling=pooling, normalize=normalize if isinstance(normalize, bool) else True,
        context_length=header.context_length,
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None)


def default_threads() -> int:
    """Physical cores: llama.cpp's matrix work gains nothing from hyper-threads and loses to contention."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class LlamaEmbedder:
    """An `app.core.inference.EmbeddingBackend` over a loaded llama.cpp model in embedding mode."""

    name = "llama.cpp"

    def __init__(self, llm: Any, *, model_id: str, normalize: bool, max_tokens: int | None = None) -> None:
        self._llm: Any = llm
        self.model_id = model_id
        self.normalize = normalize
        self.dimension = int(llm.n_embd())
        self.context_length = int(llm.n_ctx())
        self.max_tokens = min(self.context_length, max_tokens or self.context_length)
        self._n_batch = int(llm.n_batch)
        self._n_seq_max = max(1, int(llm.context_params.n_seq_max))
        # The special tokens the tokenizer appends ([SEP], or an EOS for decoder embedders): truncation
        # keeps them, so a long text still ends the way the model was trained to see.
        empty = self.tokenize("")
        head = 1 if empty and empty[0] == llm.token_bos() else 0
        self._tail = empty[head:]

    @property
    def _model(self) -> Any:
        if self._llm is None:
            raise RuntimeError(f"the embedding model {self.model_id} is closed")
        return self._llm

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for `text`, with its special tokens, before truncation (for chunk sizing)."""
        return list(self._model.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def _fit(self, tokens: list[int]) -> list[int]:
        if len(tokens) <= self.max_tokens:
            return tokens
        keep_tail = len(self._tail) if tokens[len(tokens) - len(self._tail):] == self._tail else 0
        return tokens[:self.max_tokens - keep_tail] + tokens[len(tokens) - keep_tail:]

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[list[float]]:
        """One vector per text, in order. Texts are packed into batches of up to n_batch tokens;
        a cancel is honoured between batches (raises OperationCancelled)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        llm = self._model
        sequences: list[list[int]] = []
        truncated = 0
        for text in texts:
            tokens = self.tokenize(text)
            if not tokens:
                raise InferenceFailed(_("{model_id} cannot embed an empty text (it has no tokens).").format(
                                        model_id=self.model_id),
                                      hint=_("Skip empty chunks before embedding them."))
            if len(tokens) > self.max_tokens:
                truncated += 1
                tokens = self._fit(tokens)
            sequences.append(tokens)
        if truncated:
            log.warning("%s: %d of %d texts were longer than %d tokens and were truncated",
                        self.model_id, truncated, len(sequences), self.max_tokens)
        out: list[list[float]] = []
        batch: list[list[int]] = []
        used = 0
        for tokens in sequences:
            if batch and (used + len(tokens) > self._n_batch or len(batch) >= self._n_seq_max):
                out.extend(self._decode(llm, batch, cancel))
                batch, used = [], 0
            batch.append(tokens)
            used += len(tokens)
        if batch:
            out.extend(self._decode(llm, batch, cancel))
        return out

    def _decode(self, llm: Any, batch: list[list[int]], cancel: CancelToken | None) -> list[list[float]]:
        import llama_cpp

        if cancel is not None and cancel.cancelled:
            raise OperationCancelled()
        llm._batch.reset()
        for seq_id, tokens in enumerate(batch):
            llm._batch.add_sequence(tokens, seq_id, True)
        try:
            llm._ctx.kv_cache_clear()  # decoder embedders keep a KV cache; encoders have none
            llm._ctx.decode(llm._batch)
        except Exception as exc:
            raise InferenceFailed(_("The embedding model failed while reading the text."),
                                  hint=_("Try again; if it keeps failing, reload the model."),
                                  debug_context={"error": repr(exc), "sequences": len(batch),
                                                 "tokens": sum(map(len, batch))}) from exc
        finally:
            llm._batch.reset()
        vectors = []
        for seq_id in range(len(batch)):
            ptr = llama_cpp.llama_get_embeddings_seq(llm.ctx, seq_id)
            if not ptr:
                raise InferenceFailed(_("llama.cpp returned no pooled embedding."),
                                      hint=_("The model's pooling is not supported by this llama.cpp build."))
            vectors.append(_unit(ptr[:self.dimension]) if self.normalize else list(ptr[:self.dimension]))
        return vectors

    def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    @classmethod
    def load(cls, path: Path, *, model_id: str, n_threads: int | None = None,
             n_gpu_layers: int = 0) -> LlamaEmbedder:
        return load_llama_embedder(path, model_id=model_id, n_threads=n_threads, n_gpu_layers=n_gpu_layers)


def _unit(values: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in values))
    return [v / norm for v in values] if norm > 0 else values


def load_llama_embedder(path: Path, *, model_id: str, n_threads: int | None = None,
                        n_gpu_layers: int = 0) -> LlamaEmbedder:
    """Validate the file, check that it is an embedding model, and load it with the trained context
    (capped at MAX_CONTEXT) as one batch: encoders need a whole sequence in one micro-batch."""
    path = Path(path)
    meta = embedding_metadata(inspect_gguf_file(path), label=model_id)
    llama_cpp = import_llama_cpp()
    n_ctx = min(meta.context_length or MAX_CONTEXT, MAX_CONTEXT)
    threads = n_threads or default_threads()
    llama_log.install()
    position = llama_log.mark()
    try:
        llm = llama_cpp.Llama(
            model_path=str(path), embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
            n_threads=threads, n_threads_batch=threads, n_gpu_layers=n_gpu_layers, verbose=False)
    except (ValueError, RuntimeError, MemoryError, OSError) as exc:
        raise _load_error(model_id, exc, llama_log.since(position)) from exc
    if int(llm.pooling_type()) not in EMBEDDING_POOLINGS:
        llm.close()
        raise ModelLoadFailed(_("{model_id} is not an embedding model: llama.cpp gives it no pooling.").format(
                                model_id=model_id),
                              hint=_(CHOOSE_EMBEDDER))
    log.info("loaded embedder %s: %d dims, %d-token window, pooling %s, %d threads", model_id, llm.n_embd(),
             n_ctx, POOLING_NAMES.get(meta.pooling), threads)
    return LlamaEmbedder(llm, model_id=model_id, normalize=meta.normalize, max_tokens=meta.max_tokens)


def _load_error(model_id: str, exc: BaseException, lines: list[str]) -> ModelLoadFailed:
    kind = llama_log.classify(lines, exc)
    message, hint = {
        "memory": (_("there is not enough memory"), _("Close other programs, or choose a smaller embedding model.")),
        "architecture": (_("this llama.cpp does not support its architecture"),
                         _("Update Lantern, or choose another embedding model.")),
        "file": (_("its tensors cannot be read"), _("Download the model again.")),
    }.get(kind, (_("llama.cpp reported an error"), _("Run `lantern models verify` on it; if it is intact, "
                                                     "report the diagnostics.")))
    return ModelLoadFailed(_("The embedding model {model_id} could not be loaded: {message}.").format(
                             model_id=model_id, message=message), hint=hint,
                           debug_context={"kind": kind, "error": repr(exc), "llama_cpp_log": lines[-20:]})
