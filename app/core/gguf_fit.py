"""Any GGUF as a catalog entry, so the planner (app.core.estimates.plan_fit) can judge it.

The header is all we need: layers, heads, head sizes, vocabulary and context come from the
metadata, the parameter count from the tensor shapes, and the real file size replaces the
parameters x bits-per-weight estimate (pass it to plan_fit as `weights_bytes`).

What is required and what is estimated follows llama.cpp, which refuses a model without
`{arch}.context_length`, `{arch}.embedding_length` or `{arch}.block_count`: a header without them
(after the fallbacks below) raises ModelFileInvalid. Head counts are optional in llama.cpp too;
without them we assume the conservative case, one KV head as wide as the whole embedding (the KV
cache of full multi-head attention: an upper bound for grouped-query models and attention-free ones
such as Mamba or RWKV, whose cache is smaller).
"""

from __future__ import annotations

import re

from app.core.catalog import CatalogModel, GgufSource, Quality, Variant
from app.core.errors import ModelFileInvalid
from app.core.gguf import DAMAGED_HINT, GgufHeader, check_tensor_bounds
from app.core.i18n import _

NOT_IN_CATALOG = "not in the catalog"
MAX_PARAMS_B = 999.0  # CatalogModel requires < 1000 B; larger models fit nowhere a desktop reaches anyway


def _missing(source: str, what: str, key: str) -> ModelFileInvalid:
    return ModelFileInvalid(
        _("'{source}' does not say {what} (metadata key '{key}'), so it cannot be judged or loaded.").format(
          source=source, what=what, key=key),
        hint=_(DAMAGED_HINT), debug_context={"source": source, "missing": key})


def _positive(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def _block_count(header: GgufHeader) -> int | None:
    """`{arch}.block_count`, else the number of `blk.N.` tensor groups."""
    if _positive(header.block_count):
        return header.block_count
    layers = {int(m.group(1)) for t in header.tensors if (m := re.match(r"blk\.(\d+)\.", t.name))}
    return max(layers) + 1 if layers else None


def _embedding_length(header: GgufHeader) -> int | None:
    if _positive(header.embedding_length):
        return header.embedding_length
    embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    return embd.shape[0] if embd is not None and embd.shape and embd.shape[0] else None


def model_for_fit(header: GgufHeader, *, model_id: str, file_bytes: int, repo: str = "local",
                  file: str | None = None) -> tuple[CatalogModel, Variant]:
    """A CatalogModel and Variant describing this GGUF (quality score 0: it is not in the catalog).

    `file_bytes` is the size of the whole file; it must hold every tensor the header lists
    (checked here: a header from a partial download raises ModelFileInvalid), and is what to pass
    to plan_fit(..., weights_bytes=file_bytes). `model_id` must be a catalog-style id
    (lowercase letters, digits, '.', '-').
    """
    source = file or model_id
    check_tensor_bounds(header, file_bytes, source=source)
    arch = header.architecture
    if arch is None:
        raise _missing(source, _("which model architecture it is"), "general.architecture")
    n_layers = _block_count(header)
    if not n_layers:
        raise _missing(source, _("how many layers it has"), f"{arch}.block_count")
    hidden = _embedding_length(header)
    if not hidden:
        raise _missing(source, _("its embedding size"), f"{arch}.embedding_length")
    context = _positive(header.context_length)
    if not context:
        raise _missing(source, _("its context length"), f"{arch}.context_length")
    vocab = _positive(header.vocab_size)
    if not vocab:
        raise _missing(source, _("its vocabulary size"), "tokenizer.ggml.tokens")
    params = header.parameter_count
    if params <= 0:
        raise ModelFileInvalid(_("'{source}' holds no model weights (a vocabulary-only file?).").format(
                                 source=source),
                               hint=_("Choose the GGUF file of the model itself."), debug_context={"source": source})

    n_heads, n_kv = _positive(header.head_count), _positive(header.head_count_kv)
    key, value = _positive(header.key_length), _positive(header.value_length)
    if n_heads and n_kv:
        head_dim = -(-(key + value) // 2) if key and value else -(-hidden // n_heads)
    else:  # conservative: full multi-head KV cache (see the module docstring)
        n_heads, n_kv, head_dim = 1, 1, hidden
    if n_heads % n_kv:
        raise ModelFileInvalid(
            _("'{source}' is damaged: it claims {n_heads} attention heads but {n_kv} KV heads, which do not "
              "divide.").format(source=source, n_heads=n_heads, n_kv=n_kv),
            hint=_(DAMAGED_HINT), debug_context={"source": source})

    meta = header.metadata
    name = header.model_name or model_id
    license_ = meta.get("general.license")
    basename = meta.get("general.basename")
    languages = meta.get("general.languages")
    model = CatalogModel(
        id=model_id, name=name, kind="chat",
        family=basename if isinstance(basename, str) and basename else arch,
        params_b=min(params / 1e9, MAX_PARAMS_B), architecture=arch,
        n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv, head_dim=head_dim, hidden_size=hidden,
        vocab_size=vocab, max_context=context,
        license=license_ if isinstance(license_, str) and license_ else "unknown",
        languages=tuple(x for x in languages if isinstance(x, str)) if isinstance(languages, list) else (),
        quality=Quality(score=0, metric=NOT_IN_CATALOG, source=f"{NOT_IN_CATALOG}: read from the GGUF header"),
        gguf=GgufSource(repo=repo),
    )
    variant = Variant(model_id=model_id, format="gguf", quant=header.quant or "unknown", repo=repo, file=file)
    return model, variant
