"""GGUF headers: a streaming parser, a cheap in-bounds check, and the facts the planner needs.

Why not the `gguf` package's GGUFReader: it memory-maps one *local* file and parses all of it with
numpy. We need to read the header from any byte source — a local file, or HTTP Range requests on
a file still on the server, to judge whether it fits before downloading it — and to check that a
file is complete without touching its tensor data. So this is a small hand-written parser over
`read_at(offset, size)`, reading through a buffer in big blocks (a remote header costs a few
requests), with sanity limits so that garbage raises `ModelFileInvalid` instead of allocating
gigabytes or looping for ever. Any input gives a GgufHeader or a ModelFileInvalid, nothing else.

Layout (GGUF v2 and v3 are the same on disk; v3 only added big-endian files, which we refuse):
magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, the key/values, the tensor infos, then
padding up to `general.alignment` and the tensor data. Tensor shapes are in ggml order (ne[0], the
row length, first), as GGUFReader reports them.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from app.core.errors import ModelFileInvalid
from app.core.ggml_types import FILE_TYPE_NAMES, GGML_TYPES, REMOVED_GGML_TYPES
from app.core.gguf_cursor import (
    DAMAGED_HINT,
    DOWNLOAD_AGAIN,
    MAX_HEADER_BYTES,
    MIB,
    Cursor,
    ReadAt,
    damaged,
    invalid,
)
from app.core.i18n import N_, _

__all__ = [
    "DAMAGED_HINT", "DOWNLOAD_AGAIN", "MAX_HEADER_BYTES", "GgufArray", "GgufHeader", "GgufLongString",
    "GgufTensorInfo", "MetaValue", "ReadAt", "check_tensor_bounds", "parse_gguf_header", "validate_gguf",
]

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_TENSORS = 1 << 20              # a 1T-parameter MoE has a few thousand
MAX_KV = 1 << 16                   # real files have ~40 keys
MAX_NAME_BYTES = 4096              # keys and tensor names (ggml itself allows 63 bytes of name)
MAX_KEPT_STRING = MIB              # longer string values are kept as GgufLongString(length)
MAX_KEPT_ARRAY = 64                # longer arrays are kept as GgufArray(element_type, length) ...
MAX_KEPT_NUMBERS = 4096            # ... except numeric ones (per-layer head counts) up to this
MAX_DIMS = 4                       # GGML_MAX_DIMS
MAX_NESTING = 8
INT64_MAX = (1 << 63) - 1

CHOOSE_GGUF = N_("Choose a model file in llama.cpp's GGUF format (its name ends in .gguf).")


@dataclass(frozen=True)
class GgufArray:
    """An array too long to keep (e.g. the tokenizer's 150k tokens): only its type and length."""

    element_type: str
    length: int

    def __len__(self) -> int:
        return self.length


@dataclass(frozen=True)
class GgufLongString:
    """A string value over 1 MiB, skipped unread."""

    length: int


MetaValue: TypeAlias = int | float | bool | str | list[Any] | GgufArray | GgufLongString

# value type id -> (name, struct format or None, smallest encoded size)
_VALUE_TYPES: dict[int, tuple[str, str | None, int]] = {
    0: ("uint8", "B", 1), 1: ("int8", "b", 1), 2: ("uint16", "H", 2), 3: ("int16", "h", 2),
    4: ("uint32", "I", 4), 5: ("int32", "i", 4), 6: ("float32", "f", 4), 7: ("bool", "B", 1),
    8: ("string", None, 8), 9: ("array", None, 12), 10: ("uint64", "Q", 8), 11: ("int64", "q", 8),
    12: ("float64", "d", 8),
}
_STRING, _BOOL = 8, 7


@dataclass(frozen=True)
class GgufTensorInfo:
    name: str
    shape: tuple[int, ...]   # ggml order: ne[0] (row length) first
    ggml_type: int
    offset: int              # relative to the data section
    n_bytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.ggml_type].name

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GgufHeader:
    version: int
    metadata: Mapping[str, MetaValue]
    tensors: tuple[GgufTensorInfo, ...]
    alignment: int
    data_offset: int         # absolute offset of the tensor data section

    def _int(self, key: str) -> int | None:
        """An integer value; a per-layer array counts as its largest item."""
        value = self.metadata.get(key)
        if isinstance(value, list):
            items = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
            return max(items) if items else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _arch_int(self, suffix: str) -> int | None:
        return self._int(f"{self.architecture}.{suffix}") if self.architecture else None

    def _tensor(self, name: str) -> GgufTensorInfo | None:
        return next((t for t in self.tensors if t.name == name), None)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) and value else None

    @property
    def model_name(self) -> str | None:
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) and value else None

    @property
    def context_length(self) -> int | None:
        return self._arch_int("context_length")

    @property
    def block_count(self) -> int | None:
        return self._arch_int("block_count")

    @property
    def embedding_length(self) -> int | None:
        return self._arch_int("embedding_length")

    @property
    def head_count(self) -> int | None:
        return self._arch_int("attention.head_count")

    @property
    def head_count_kv(self) -> int | None:
        """KV heads (the largest, if per layer); without the key, llama.cpp takes head_count."""
        value = self._arch_int("attention.head_count_kv")
        return value if value is not None else self.head_count

    @property
    def key_length(self) -> int | None:
        return self._arch_int("attention.key_length") or self._default_head_dim()

    @property
    def value_length(self) -> int | None:
        return self._arch_int("attention.value_length") or self._default_head_dim()

    def _default_head_dim(self) -> int | None:
        embd, heads = self.embedding_length, self.head_count
        return embd // heads if embd and heads else None

    @property
    def vocab_size(self) -> int | None:
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        if isinstance(tokens, list | GgufArray) and len(tokens):
            return len(tokens)
        value = self._arch_int("vocab_size")
        if value:
            return value
        embd = self._tensor("token_embd.weight")
        return embd.shape[1] if embd is not None and len(embd.shape) >= 2 else None

    @property
    def quant(self) -> str | None:
        """llama.cpp's name for the file's quantisation mix ("Q4_K_M"), from general.file_type; without
        it, the most common type among the 2-D weight tensors ("Q4_K")."""
        file_type = self._int("general.file_type")
        if file_type is not None and file_type in FILE_TYPE_NAMES:
            return FILE_TYPE_NAMES[file_type]
        counts = Counter(t.type_name for t in self.tensors if len(t.shape) == 2 and t.name.endswith(".weight"))
        if not counts:
            counts = Counter(t.type_name for t in self.tensors)
        return counts.most_common(1)[0][0] if counts else None

    @property
    def has_chat_template(self) -> bool:
        value = self.metadata.get("tokenizer.chat_template")
        return isinstance(value, GgufLongString) or (isinstance(value, str) and bool(value.strip()))

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_data_end(self) -> int:
        """Absolute offset just past the last byte of tensor data (data_offset with no tensors)."""
        return max((self.data_offset + t.offset + t.n_bytes for t in self.tensors), default=self.data_offset)


def _string(cur: Cursor, what: str, *, max_len: int) -> str | GgufLongString:
    n = cur.u64()
    if n > cur.room():
        raise damaged(cur.source, _("{what} claims to be {n:,} bytes long, more than a GGUF header may hold").format(
                                    what=what, n=n),
                      offset=cur.pos)
    if n > max_len:
        cur.skip(n)
        return GgufLongString(n)
    return cur.take(n).decode("utf-8", errors="replace")


def _name(cur: Cursor, what: str) -> str:
    value = _string(cur, what, max_len=MAX_NAME_BYTES)
    if isinstance(value, GgufLongString):
        raise damaged(cur.source, _("{what} is {length:,} bytes long").format(
                                    what=what, length=value.length), offset=cur.pos)
    return value


def _read_value(cur: Cursor, vtype: int, key: str, depth: int = 0) -> MetaValue:
    spec = _VALUE_TYPES.get(vtype)
    if spec is None:
        raise damaged(cur.source, _("metadata key '{key}' has unknown value type {vtype}").format(
                                    key=key, vtype=vtype), offset=cur.pos)
    _name, fmt, size = spec
    if fmt is not None:
        value = cur.unpack("<" + fmt, size)
        return bool(value) if vtype == _BOOL else value
    if vtype == _STRING:
        return _string(cur, _("the value of '{key}'").format(key=key), max_len=MAX_KEPT_STRING)
    if depth >= MAX_NESTING:
        raise damaged(cur.source, _("metadata key '{key}' nests arrays more than {max_nesting} deep").format(
                                    key=key, max_nesting=MAX_NESTING))
    etype, length = cur.u32(), cur.u64()
    espec = _VALUE_TYPES.get(etype)
    if espec is None:
        raise damaged(cur.source, _("metadata key '{key}' is an array of unknown type {etype}").format(
                                    key=key, etype=etype), offset=cur.pos)
    ename, efmt, esize = espec
    if length * esize > cur.room():
        raise damaged(cur.source, _("metadata key '{key}' claims an array of {length:,} items, more than a GGUF "
                                    "header may hold").format(key=key, length=length), offset=cur.pos)
    keep = length <= (MAX_KEPT_NUMBERS if efmt is not None and etype != _BOOL else MAX_KEPT_ARRAY)
    if efmt is not None:
        if not keep:
            cur.skip(length * esize)
            return GgufArray(ename, length)
        items = list(struct.unpack(f"<{length}{efmt}", cur.take(length * esize)))
        return [bool(v) for v in items] if etype == _BOOL else items
    if keep:
        return [_read_value(cur, etype, key, depth + 1) for _i in range(length)]
    for _i in range(length):
        _read_value(cur, etype, key, depth + 1)
    return GgufArray(ename, length)


def _check_signature(cur: Cursor, source: str, file_size: int | None) -> int:
    try:
        magic = cur.take(4)
    except ModelFileInvalid:
        size = cur.eof if cur.eof is not None else file_size
        if size is None or size >= 4:
            raise
        what = _("it is empty") if size == 0 else _("it is only {size} bytes long").format(size=size)
        raise invalid(source, _("'{source}' is not a GGUF model file: {what}.").format(
                                source=source, what=what), _(CHOOSE_GGUF)) from None
    if magic in (b"lmgg", b"fmgg", b"tjgg"):
        raise invalid(source, _("'{source}' is an old GGML model file, the format GGUF replaced in 2023.").format(
                                source=source),
                      _("Download the GGUF version of this model."))
    if magic != GGUF_MAGIC:
        raise invalid(source, _("'{source}' is not a GGUF model file: it does not start with the GGUF "
                                "signature.").format(source=source),
                      _(CHOOSE_GGUF), magic=magic.hex())
    version = cur.u32()
    if version in (2, 3):
        return version
    if version == 1:
        raise invalid(source, _("'{source}' is a GGUF version 1 file, which llama.cpp no longer reads.").format(
                                source=source),
                      _("Download a newer conversion of this model (GGUF version 2 or 3)."))
    if int.from_bytes(version.to_bytes(4, "little"), "big") in (2, 3):
        raise invalid(source, _("'{source}' is a big-endian GGUF file, which Lantern cannot use.").format(
                                source=source),
                      _("Download the ordinary (little-endian) GGUF file of this model."))
    raise invalid(source, _("'{source}' says it is GGUF version {version}, which Lantern does not know.").format(
                            source=source, version=version),
                  _("The file may be damaged, or newer than this Lantern: download it again, or update Lantern."),
                  version=version)


def _alignment(metadata: Mapping[str, MetaValue], source: str) -> int:
    value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value & (value - 1) or value > 1 << 30:
        raise damaged(source, _("its data alignment ({value!r}) is not a power of two").format(value=value))
    return value


def _tensor_info(cur: Cursor, alignment: int, source: str) -> GgufTensorInfo:
    name = _name(cur, "a tensor name")
    n_dims = cur.u32()
    if n_dims > MAX_DIMS:
        raise damaged(source, _("tensor '{name}' claims {n_dims} dimensions (at most {max_dims})").format(
                                name=name, n_dims=n_dims, max_dims=MAX_DIMS))
    shape = tuple(cur.u64() for _i in range(n_dims))
    type_id, offset = cur.u32(), cur.u64()
    gtype = GGML_TYPES.get(type_id)
    if gtype is None:
        if type_id in REMOVED_GGML_TYPES:
            raise invalid(source, _("'{source}' stores tensor '{name}' as {removed_ggml_types}, a type llama.cpp no "
                                    "longer reads.").format(
                                    source=source, name=name, removed_ggml_types=REMOVED_GGML_TYPES[type_id]),
                          _("Download the model in a current quantisation such as Q4_0 or Q4_K_M."), ggml_type=type_id)
        raise invalid(source, _("'{source}' stores tensor '{name}' in tensor type {type_id}, which this version of "
                                "Lantern does not know.").format(
                                source=source, name=name, type_id=type_id),
                      _("Update Lantern (and its llama.cpp), or choose the model in a common quantisation such as "
                        "Q4_K_M."), ggml_type=type_id)
    n_elements = 1
    for d in shape:
        n_elements *= d
        if n_elements > INT64_MAX:
            raise damaged(source, _("tensor '{name}' has an impossible shape {shape}").format(name=name, shape=shape))
    row = shape[0] if shape else 1
    if row % gtype.block_size:
        raise damaged(source, _("tensor '{name}' has rows of {row} values, not a multiple of the {type} block size "
                                "{block_size}").format(
                                name=name, row=row, type=gtype.name, block_size=gtype.block_size))
    if offset % alignment:
        raise damaged(source, _("tensor '{name}' starts at offset {offset:,}, which is not a multiple of the file's "
                                "alignment ({alignment})").format(name=name, offset=offset, alignment=alignment))
    n_bytes = n_elements // gtype.block_size * gtype.type_size
    return GgufTensorInfo(name=name, shape=shape, ggml_type=type_id, offset=offset, n_bytes=n_bytes)


def parse_gguf_header(read_at: ReadAt, *, file_size: int | None, source: str) -> GgufHeader:
    """Read and check the header (metadata and tensor infos) without touching the tensor data.
    `file_size` (None when unknown) only bounds the reads; use check_tensor_bounds for the data."""
    cur = Cursor(read_at, file_size=file_size, source=source)
    version = _check_signature(cur, source, file_size)
    n_tensors, n_kv = cur.u64(), cur.u64()
    if n_tensors > MAX_TENSORS:
        raise damaged(source, _("its header claims {n_tensors:,} tensors").format(
                                n_tensors=n_tensors), tensor_count=n_tensors)
    if n_kv > MAX_KV:
        raise damaged(source, _("its header claims {n_kv:,} metadata entries").format(n_kv=n_kv), kv_count=n_kv)
    metadata: dict[str, MetaValue] = {}
    for i in range(n_kv):
        cur.where = _("metadata entry {i} of {n_kv}").format(i=i + 1, n_kv=n_kv)
        key = _name(cur, "a metadata key")
        value = _read_value(cur, cur.u32(), key)
        if key in metadata:
            raise damaged(source, _("metadata key '{key}' appears twice").format(key=key))
        metadata[key] = value
    alignment = _alignment(metadata, source)
    tensors: list[GgufTensorInfo] = []
    names: set[str] = set()
    for i in range(n_tensors):
        cur.where = _("tensor info {i} of {n_tensors}").format(i=i + 1, n_tensors=n_tensors)
        info = _tensor_info(cur, alignment, source)
        if info.name in names:
            raise damaged(source, _("tensor '{name}' appears twice").format(name=info.name))
        names.add(info.name)
        tensors.append(info)
    data_offset = -(-cur.pos // alignment) * alignment
    return GgufHeader(version=version, metadata=metadata, tensors=tuple(tensors), alignment=alignment,
                      data_offset=data_offset)


def check_tensor_bounds(header: GgufHeader, file_size: int, *, source: str) -> None:
    """Every tensor lies inside the file, where llama.cpp expects it: packed in header order, each
    padded to the alignment (gguf.cpp refuses any other layout)."""
    expected = 0
    for t in header.tensors:
        start = header.data_offset + t.offset
        end = start + t.n_bytes
        if end > file_size:
            if t.offset == expected:
                raise invalid(source, _("'{source}' is incomplete: tensor '{name}' ends at byte {end:,} but the "
                                        "file has only {file_size:,} bytes.").format(
                                        source=source, name=t.name, end=end, file_size=file_size), _(DOWNLOAD_AGAIN),
                              tensor=t.name, tensor_end=end, file_size=file_size)
            raise damaged(source, _("tensor '{name}' is said to lie at bytes {start:,} to {end:,}, beyond the end "
                                    "of the file ({file_size:,} bytes)").format(
                                    name=t.name, start=start, end=end, file_size=file_size),
                          tensor=t.name, file_size=file_size)
        if t.offset != expected:
            raise damaged(source, _("tensor '{name}' starts at offset {offset:,} of the data section, but the "
                                    "tensors before it end at {expected:,}").format(
                                    name=t.name, offset=t.offset, expected=expected), tensor=t.name)
        expected += -(-t.n_bytes // header.alignment) * header.alignment


def validate_gguf(read_at: ReadAt, file_size: int, *, source: str) -> GgufHeader:
    """Parse the header and check that every tensor lies inside the file: a cheap completeness check
    (it reads only the header) that catches truncated downloads and damaged headers."""
    header = parse_gguf_header(read_at, file_size=file_size, source=source)
    check_tensor_bounds(header, file_size, source=source)
    return header
