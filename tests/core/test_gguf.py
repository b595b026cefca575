"""GGUF header parsing and validation (app.core.gguf) on real files written by the `gguf` package.

The `gguf` package is the reference here: its writer makes the files, its reader and its type
tables are the oracle our hand-written parser and tables are compared with.
"""

from __future__ import annotations

import contextlib
import random
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.catalog import CatalogModel, Variant
from app.core.errors import ModelFileInvalid
from app.core.estimates import plan_fit
from app.core.ggml_types import FILE_TYPE_NAMES, GGML_TYPES
from app.core.gguf import (
    MAX_HEADER_BYTES,
    GgufArray,
    GgufHeader,
    GgufLongString,
    check_tensor_bounds,
    parse_gguf_header,
    validate_gguf,
)
from app.core.gguf_fit import model_for_fit
from app.services.catalog_store import default_performance_table
from app.services.profiles import read_profile

PROFILES = Path(__file__).parents[1] / "fixtures" / "profiles"
TABLE = default_performance_table()
VOCAB, EMBD = 100, 256
Q = GGMLQuantizationType


def _raw(rows: int, cols: int, qtype: GGMLQuantizationType, seed: int) -> tuple[np.ndarray, GGMLQuantizationType]:
    """Quantised tensor data as the writer takes it: uint8 rows of (cols / block) * type_size bytes."""
    block, size = GGML_QUANT_SIZES[qtype]
    data = np.random.default_rng(seed).integers(0, 256, size=(rows, cols // block * size), dtype=np.uint8)
    return data, qtype


def _tensors() -> list[tuple[str, np.ndarray, GGMLQuantizationType | None]]:
    rng = np.random.default_rng(0)
    return [
        ("token_embd.weight", rng.standard_normal((VOCAB, EMBD)).astype(np.float16), None),
        ("blk.0.attn_norm.weight", np.ones(EMBD, dtype=np.float32), None),
        ("blk.0.attn_q.weight", *_raw(EMBD, EMBD, Q.Q4_0, 1)),
        ("blk.0.ffn_up.weight", *_raw(512, EMBD, Q.Q4_K, 2)),
        ("blk.1.attn_norm.weight", np.ones(EMBD, dtype=np.float32), None),
        ("blk.1.attn_q.weight", *_raw(EMBD, EMBD, Q.Q8_0, 3)),
        ("blk.1.ffn_up.weight", *_raw(512, EMBD, Q.Q4_K, 4)),
        ("blk.1.ffn_down.weight", *_raw(EMBD, 512, Q.Q6_K, 5)),
        ("output.weight", *_raw(VOCAB, EMBD, Q.IQ4_XS, 6)),
    ]


def write_gguf(path: Path, *, file_type: int | None = LlamaFileType.MOSTLY_Q4_K_M, alignment: int | None = None,
               chat_template: str = "{% for m in messages %}{{ m.content }}{% endfor %}",
               heads: bool = True, context: bool = True,
               tensors: list[tuple[str, np.ndarray, GGMLQuantizationType | None]] | None = None) -> bytes:
    w = GGUFWriter(path, "llama")
    w.add_name("Tiny Test")
    w.add_block_count(2)
    if context:
        w.add_context_length(2048)
    w.add_embedding_length(EMBD)
    if heads:
        w.add_head_count(8)
        w.add_head_count_kv(2)
    if file_type is not None:
        w.add_file_type(file_type)
    w.add_token_list([f"tok{i}" for i in range(VOCAB)])
    w.add_token_types([1] * VOCAB)
    w.add_chat_template(chat_template)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -5)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_int32("test.i32", -7)
    w.add_float32("test.f32", 0.25)
    w.add_uint64("test.u64", 2**40)
    w.add_int64("test.i64", -(2**40))
    w.add_float64("test.f64", 1.5)
    w.add_bool("test.bool", True)
    w.add_array("test.strings", ["a", "bé"])
    w.add_key_value("test.nested", [[1, 2], [3]], GGUFValueType.ARRAY)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for name, data, raw in tensors if tensors is not None else _tensors():
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    return path, write_gguf(path)


def reader(data: bytes, calls: list[tuple[int, int]] | None = None) -> Callable[[int, int], bytes]:
    def read_at(offset: int, size: int) -> bytes:
        if calls is not None:
            calls.append((offset, size))
        return data[offset:offset + size]
    return read_at


def validate(data: bytes, source: str = "tiny.gguf") -> GgufHeader:
    return validate_gguf(reader(data), len(data), source=source)


def refused(data: bytes, *, file_size: int | str | None = "len", source: str = "tiny.gguf") -> ModelFileInvalid:
    size = len(data) if file_size == "len" else file_size
    with pytest.raises(ModelFileInvalid) as info:
        if isinstance(size, int):
            validate_gguf(reader(data), size, source=source)
        else:
            parse_gguf_header(reader(data), file_size=None, source=source)
    assert info.value.hint, info.value.user_message
    assert f"'{source}'" in info.value.user_message
    return info.value


def after_key(data: bytes, key: str) -> int:
    """Offset just after a length-prefixed string (a metadata key or a tensor name)."""
    raw = key.encode()
    return data.index(struct.pack("<Q", len(raw)) + raw) + 8 + len(raw)


def patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def tensor_offset_at(data: bytes, name: str, n_dims: int) -> int:
    return after_key(data, name) + 4 + 8 * n_dims + 4


# --- the hand-written tables against the gguf package's ---------------------------------------

def test_ggml_type_table_matches_the_gguf_package():
    assert set(GGML_TYPES) == {t.value for t in GGMLQuantizationType}
    for t in GGMLQuantizationType:
        ours = GGML_TYPES[t.value]
        assert (ours.name, ours.block_size, ours.type_size) == (t.name, *GGML_QUANT_SIZES[t])


def test_file_type_names_match_llama_file_type():
    theirs = {ft.value: ft.name.removeprefix("MOSTLY_").removeprefix("ALL_")
              for ft in LlamaFileType if ft is not LlamaFileType.GUESSED}
    assert theirs == FILE_TYPE_NAMES


# --- valid files -------------------------------------------------------------------------------

def test_parses_what_the_writer_wrote(tiny):
    path, data = tiny
    calls: list[tuple[int, int]] = []
    h = validate_gguf(reader(data, calls), len(data), source="tiny.gguf")
    assert len(calls) == 1 and calls[0] == (0, len(data))  # one read, clipped to the file size
    assert (h.version, h.architecture, h.model_name) == (3, "llama", "Tiny Test")
    assert (h.context_length, h.block_count, h.embedding_length) == (2048, 2, 256)
    assert (h.head_count, h.head_count_kv, h.key_length, h.value_length) == (8, 2, 32, 32)
    assert (h.vocab_size, h.quant, h.has_chat_template, h.alignment) == (VOCAB, "Q4_K_M", True, 32)
    m = h.metadata
    assert (m["test.u8"], m["test.i8"], m["test.u16"], m["test.i16"], m["test.i32"]) == (200, -5, 60000, -30000, -7)
    assert (m["test.f32"], m["test.u64"], m["test.i64"], m["test.f64"]) == (0.25, 2**40, -(2**40), 1.5)
    assert m["test.bool"] is True
    assert m["test.strings"] == ["a", "bé"]
    assert m["test.nested"] == [[1, 2], [3]]
    assert m["tokenizer.ggml.tokens"] == GgufArray("string", VOCAB)
    assert m["tokenizer.ggml.token_type"] == [1] * VOCAB  # numeric arrays up to 4096 items are kept

    ref = GGUFReader(path)
    assert [t.name for t in h.tensors] == [t.name for t in ref.tensors]
    for ours, theirs in zip(h.tensors, ref.tensors, strict=True):
        assert ours.shape == tuple(int(x) for x in theirs.shape)
        assert ours.ggml_type == int(theirs.tensor_type) and ours.type_name == theirs.tensor_type.name
        assert h.data_offset + ours.offset == theirs.data_offset
        assert ours.n_bytes == theirs.n_bytes and ours.n_elements == theirs.n_elements
    assert h.data_offset == ref.data_offset
    assert h.parameter_count == sum(int(t.n_elements) for t in ref.tensors)
    assert h.tensor_data_end == max(t.data_offset + t.n_bytes for t in ref.tensors)
    assert h.tensors[3].name == "blk.0.ffn_up.weight" and h.tensors[3].shape == (256, 512)
    assert h.tensors[3].type_name == "Q4_K" and h.tensors[3].n_bytes == 512 * 144

    for key, field in ref.fields.items():  # every scalar and short value as the reference reads it
        if key.startswith("GGUF.") or key == "test.nested":
            continue
        ours_value = m[key]
        if isinstance(ours_value, GgufArray):
            assert len(field.data) == ours_value.length
        else:
            assert ours_value == pytest.approx(field.contents()), key


def test_version_2_has_the_same_layout(tiny):
    _, data = tiny
    h = validate(patched(data, 4, "<I", 2))
    assert h.version == 2 and h.block_count == 2 and len(h.tensors) == 9


def test_unknown_file_size_parses_and_stops_at_the_end(tiny):
    _, data = tiny
    h = parse_gguf_header(reader(data), file_size=None, source="tiny.gguf")
    assert h == validate(data)
    check_tensor_bounds(h, h.tensor_data_end, source="tiny.gguf")  # e.g. a remote file's size, checked later
    with pytest.raises(ModelFileInvalid, match=r"tensor 'output\.weight' ends at byte"):
        check_tensor_bounds(h, h.tensor_data_end - 1, source="tiny.gguf")


def test_without_file_type_the_quant_is_the_commonest_matrix_type(tmp_path):
    h = validate(write_gguf(tmp_path / "x.gguf", file_type=None))
    assert h.quant == "Q4_K"  # two Q4_K matrices; one each of F16, Q4_0, Q8_0, Q6_K, IQ4_XS


def test_custom_alignment(tmp_path):
    h = validate(write_gguf(tmp_path / "x.gguf", alignment=64))
    assert h.alignment == 64 and h.data_offset % 64 == 0 and all(t.offset % 64 == 0 for t in h.tensors)


def test_long_strings_are_skipped_and_read_in_growing_blocks(tmp_path):
    template = "{{ x }}" * 300_000  # 2.1 MB: more than the 1 MiB kept, more than the first block
    data = write_gguf(tmp_path / "x.gguf", chat_template=template)
    calls: list[tuple[int, int]] = []
    h = validate_gguf(reader(data, calls), len(data), source="x.gguf")
    assert h.metadata["tokenizer.chat_template"] == GgufLongString(len(template))
    assert h.has_chat_template
    # the template is skipped, not read: the second read starts after it, and is clipped to the file
    assert len(calls) == 2 and calls[0] == (0, 1 << 20) and calls[1][0] > len(template)
    assert sum(size for _, size in calls) < len(data)
    calls.clear()
    assert parse_gguf_header(reader(data, calls), file_size=None, source="x.gguf") == h
    assert [size for _, size in calls] == [1 << 20, 2 << 20]  # blocks grow; the short one marks the end


# --- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [4, 8, 64])
def test_zeroed_start_is_not_a_gguf(tiny, n):
    _, data = tiny
    err = refused(bytes(n) + data[n:])
    assert "is not a GGUF model file: it does not start with the GGUF signature" in err.user_message
    assert ".gguf" in (err.hint or "")


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_not_a_gguf(seed):
    data = random.Random(seed).randbytes(5000)
    assert "not a GGUF model file" in refused(data, source="x.bin").user_message


@pytest.mark.parametrize(("data", "words"), [(b"", "it is empty"), (b"GG", "only 2 bytes long"),
                                             (b"tjgg" + bytes(100), "old GGML model file")])
def test_too_short_or_old_format(data, words):
    assert words in refused(data).user_message
    assert words in refused(data, file_size=None).user_message


@pytest.mark.parametrize(("version", "words"), [(1, "GGUF version 1"), (0x03000000, "big-endian"),
                                                (99, "GGUF version 99, which Lantern does not know")])
def test_unsupported_versions(tiny, version, words):
    _, data = tiny
    assert words in refused(patched(data, 4, "<I", version)).user_message


def test_truncated_anywhere_is_incomplete(tiny):
    _, data = tiny
    h = validate(data)
    cuts = [*range(4, h.data_offset + 40, 3), *range(h.data_offset + 40, h.tensor_data_end, 997),
            h.tensor_data_end - 1]
    for cut in cuts:
        err = refused(data[:cut])
        assert "is incomplete" in err.user_message, (cut, err.user_message)
        assert "cut short" in (err.hint or "")
        if cut >= h.data_offset:
            # names the first tensor that does not fit, with its end and the file's size
            victim = next(t for t in h.tensors if h.data_offset + t.offset + t.n_bytes > cut)
            end = h.data_offset + victim.offset + victim.n_bytes
            assert err.user_message == (f"'tiny.gguf' is incomplete: tensor '{victim.name}' ends at byte {end:,} "
                                        f"but the file has only {cut:,} bytes.")
        elif cut < h.data_offset - h.alignment:  # (within the padding before the data, either message)
            assert "inside " in err.user_message
        if cut < h.data_offset - 40:  # inside the header: the same without knowing the size
            assert "is incomplete" in refused(data[:cut], file_size=None).user_message


def test_tensor_offset_beyond_the_end(tiny):
    _, data = tiny
    bad = patched(data, tensor_offset_at(data, "blk.1.attn_q.weight", 2), "<Q", 1 << 30)
    err = refused(bad)
    assert "is damaged" in err.user_message and "'blk.1.attn_q.weight'" in err.user_message
    assert "beyond the end of the file" in err.user_message


def test_misaligned_and_misplaced_tensors(tiny):
    _, data = tiny
    at = tensor_offset_at(data, "blk.0.attn_q.weight", 2)
    offset = struct.unpack_from("<Q", data, at)[0]
    err = refused(patched(data, at, "<Q", offset + 4))
    assert "'blk.0.attn_q.weight' starts at offset" in err.user_message and "alignment (32)" in err.user_message
    err = refused(patched(data, at, "<Q", offset + 32))
    assert "but the tensors before it end at" in err.user_message


def _absurd(data: bytes) -> list[tuple[str, bytes, str]]:
    tokens = after_key(data, "tokenizer.ggml.tokens")
    template = after_key(data, "tokenizer.chat_template")
    return [
        ("kv_count", patched(data, 16, "<Q", 2**60), "1,152,921,504,606,846,976 metadata entries"),
        ("tensor_count", patched(data, 8, "<Q", 2**60), "1,152,921,504,606,846,976 tensors"),
        ("key length", patched(data, 24, "<Q", 2**60), "bytes long"),
        ("array length", patched(data, tokens + 8, "<Q", 2**60), "claims an array of"),
        ("string length", patched(data, template + 4, "<Q", MAX_HEADER_BYTES + 1), "more than a GGUF header"),
        ("value type", patched(data, template, "<I", 77), "unknown value type 77"),
        ("array type", patched(data, tokens + 4, "<I", 77), "array of unknown type 77"),
        ("n_dims", patched(data, after_key(data, "output.weight"), "<I", 2**31), "dimensions"),
    ]


@pytest.mark.parametrize("case", range(8))
@pytest.mark.parametrize("known_size", [True, False])
def test_absurd_values_are_refused_without_big_allocations(tiny, case, known_size):
    _, data = tiny
    what, bad, words = _absurd(data)[case]
    tracemalloc.start()
    try:
        err = refused(bad, file_size="len" if known_size else None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "is damaged" in err.user_message and words in err.user_message, (what, err.user_message)
    assert peak < 4 << 20, (what, peak)


@pytest.mark.parametrize(("type_id", "words", "hint"), [
    (99, "in tensor type 99, which this version of Lantern does not know", "Update Lantern"),
    (31, "as Q4_0_4_4, a type llama.cpp no longer reads", "Q4_K_M"),
])
def test_unknown_tensor_types(tiny, type_id, words, hint):
    _, data = tiny
    err = refused(patched(data, tensor_offset_at(data, "output.weight", 2) - 4, "<I", type_id))
    assert "tensor 'output.weight'" in err.user_message and words in err.user_message
    assert hint in (err.hint or "")


def test_duplicates_and_bad_alignment(tmp_path, tiny):
    _, data = tiny
    dup_key = data.replace(b"test.i8", b"test.u8")
    assert "'test.u8' appears twice" in refused(dup_key).user_message
    dup_tensor = data.replace(b"blk.1.attn_q.weight", b"blk.0.attn_q.weight")
    assert "'blk.0.attn_q.weight' appears twice" in refused(dup_tensor).user_message
    aligned = write_gguf(tmp_path / "odd.gguf", alignment=64)
    odd = patched(aligned, after_key(aligned, "general.alignment") + 4, "<I", 48)
    assert "alignment (48) is not a power of two" in refused(odd).user_message


def test_rows_must_be_whole_blocks(tiny):
    _, data = tiny
    at = after_key(data, "blk.0.attn_q.weight") + 4  # ne[0] of a Q4_0 tensor: 256 -> 250
    assert "rows of 250 values, not a multiple of the Q4_0 block size 32" in refused(
        patched(data, at, "<Q", 250)).user_message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_truncation_or_corruption_parses_or_is_refused(tiny, draw):
    _, data = tiny
    header_end = validate(data).data_offset + 64
    if draw.draw(st.booleans()):
        bad = data[:draw.draw(st.integers(0, len(data)))]
    else:
        at = draw.draw(st.integers(0, header_end))
        bad = data[:at] + bytes([draw.draw(st.integers(0, 255))]) + data[at + 1:]
    for size in (len(bad), None):
        try:
            h = (validate_gguf(reader(bad), size, source="f.gguf") if size is not None
                 else parse_gguf_header(reader(bad), file_size=None, source="f.gguf"))
        except ModelFileInvalid as exc:
            assert exc.user_message.startswith("'f.gguf' ") and exc.hint
            continue
        facts = (h.architecture, h.model_name, h.context_length, h.block_count, h.embedding_length, h.head_count,
                 h.head_count_kv, h.key_length, h.value_length, h.vocab_size, h.quant, h.has_chat_template,
                 h.parameter_count, h.tensor_data_end)
        assert len(facts) == 14
        with contextlib.suppress(ModelFileInvalid):
            model_for_fit(h, model_id="any", file_bytes=len(bad))


# --- any GGUF as a plan_fit input --------------------------------------------------------------

def test_model_for_fit_feeds_plan_fit(tiny):
    _, data = tiny
    h = validate(data)
    model, variant = model_for_fit(h, model_id="tiny-test", file_bytes=len(data), repo="me/tiny", file="tiny.gguf")
    assert (model.n_layers, model.n_heads, model.n_kv_heads, model.head_dim) == (2, 8, 2, 32)
    assert (model.hidden_size, model.vocab_size, model.max_context, model.architecture) == (256, VOCAB, 2048, "llama")
    assert model.params_b == pytest.approx(h.parameter_count / 1e9)
    assert model.quality.score == 0 and "not in the catalog" in model.quality.metric
    assert (variant.quant, variant.repo, variant.file, variant.format) == ("Q4_K_M", "me/tiny", "tiny.gguf", "gguf")
    fit = plan_fit(read_profile(PROFILES / "laptop-8gb-no-gpu.json"), model, variant, context_length=2048,
                   table=TABLE, weights_bytes=len(data))
    assert fit.verdict == "cpu_only"
    assert fit.memory.weights_bytes == len(data)
    assert fit.memory.kv_cache_bytes == 2 * 2 * 2 * 32 * 2048 * 2
    too_long = plan_fit(read_profile(PROFILES / "laptop-8gb-no-gpu.json"), model, variant, context_length=4096,
                        table=TABLE, weights_bytes=len(data))
    assert too_long.verdict == "context_too_short"


def test_model_for_fit_refuses_missing_essentials_and_short_files(tmp_path, tiny):
    _, data = tiny
    no_ctx = validate(write_gguf(tmp_path / "a.gguf", context=False))
    with pytest.raises(ModelFileInvalid, match=r"llama\.context_length"):
        model_for_fit(no_ctx, model_id="a", file_bytes=no_ctx.tensor_data_end)
    with pytest.raises(ModelFileInvalid, match=r"is incomplete: tensor 'output\.weight'"):
        model_for_fit(validate(data), model_id="a", file_bytes=len(data) - 5000)


def test_model_for_fit_without_head_counts_is_conservative(tmp_path):
    h = validate(write_gguf(tmp_path / "a.gguf", heads=False))
    model, _ = model_for_fit(h, model_id="a", file_bytes=h.tensor_data_end)
    assert (model.n_heads, model.n_kv_heads, model.head_dim) == (1, 1, EMBD)


# --- estimates with a real file size -----------------------------------------------------------

LLAMA_8B = CatalogModel(
    id="llama-3.1-8b-instruct", name="Llama 3.1 8B Instruct", kind="chat", family="llama3.1", params_b=8.03,
    architecture="llama", n_layers=32, n_heads=32, n_kv_heads=8, head_dim=128, hidden_size=4096,
    vocab_size=128256, max_context=131072, license="llama3.1",
    quality={"score": 69.4, "metric": "MMLU", "source": "test"},
    gguf={"repo": "example/Llama-3.1-8B-GGUF", "files": {"Q4_K_M": "m-Q4_K_M.gguf"}},
)


def test_weights_bytes_replace_the_estimate_and_allow_unknown_quants():
    q4 = Variant(model_id=LLAMA_8B.id, format="gguf", quant="Q4_K_M", repo="r", file="m.gguf")
    rtx3060 = read_profile(PROFILES / "rtx3060-desktop.json")
    fit = plan_fit(rtx3060, LLAMA_8B, q4, context_length=4096, table=TABLE, weights_bytes=4_000_000_000)
    assert fit.memory.weights_bytes == 4_000_000_000
    iq2 = Variant(model_id=LLAMA_8B.id, format="gguf", quant="IQ2_XXS", repo="r", file="m-IQ2_XXS.gguf")
    fit = plan_fit(rtx3060, LLAMA_8B, iq2, context_length=4096, table=TABLE, weights_bytes=2_400_000_000)
    assert fit.verdict == "full_gpu" and fit.memory.weights_bytes == 2_400_000_000
    busy = read_profile(PROFILES / "gtx1650-laptop-busy.json")  # ~0.8 GB of usable VRAM
    fit = plan_fit(busy, LLAMA_8B, iq2, context_length=4096, table=TABLE, weights_bytes=2_400_000_000)
    assert fit.verdict == "partial_gpu" and 0 < fit.gpu_layers < 32
