"""Inspecting GGUF files on disk: the real SmolLM2-135M model, a cut-short copy, and unusable paths."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from gguf import GGUFReader

from app.core.errors import ModelFileInvalid
from app.core.estimates import plan_fit
from app.core.gguf import GgufArray, validate_gguf
from app.core.gguf_fit import model_for_fit
from app.services.catalog_store import default_performance_table
from app.services.models.gguf_file import inspect_gguf_file
from app.services.profiles import read_profile

PROFILES = Path(__file__).parents[2] / "fixtures" / "profiles"
SMOLLM2_BYTES = 98_362_432


def test_real_model_header(smollm2_gguf):
    h = inspect_gguf_file(smollm2_gguf)
    assert (h.version, h.architecture, h.model_name) == (3, "llama", "Smollm2 135M 8k Lc100K Mix1 Ep2")
    assert (h.context_length, h.block_count, h.embedding_length) == (8192, 30, 576)
    assert (h.head_count, h.head_count_kv, h.key_length, h.value_length) == (9, 3, 64, 64)
    assert (h.quant, h.has_chat_template, h.vocab_size) == ("Q4_1", True, 49152)
    assert h.metadata["tokenizer.ggml.tokens"] == GgufArray("string", 49152)
    assert h.metadata["tokenizer.ggml.merges"] == GgufArray("string", 48900)
    assert h.parameter_count == 134_515_008
    assert (len(h.tensors), h.alignment, h.data_offset) == (272, 32, 1_785_664)
    assert h.tensor_data_end == SMOLLM2_BYTES == smollm2_gguf.stat().st_size
    embd = h.tensors[0]
    assert (embd.name, embd.shape, embd.type_name, embd.n_bytes) == ("token_embd.weight", (576, 49152), "Q8_0",
                                                                      30_081_024)

    ref = GGUFReader(smollm2_gguf)  # the reference reader agrees on every tensor
    assert [(t.name, t.shape, t.type_name, h.data_offset + t.offset, t.n_bytes) for t in h.tensors] == [
        (r.name, tuple(int(x) for x in r.shape), r.tensor_type.name, r.data_offset, r.n_bytes) for r in ref.tensors]


def test_real_model_header_costs_a_few_big_reads(smollm2_gguf):
    calls: list[tuple[int, int]] = []
    with smollm2_gguf.open("rb") as f:
        def read_at(offset: int, size: int) -> bytes:
            f.seek(offset)
            data = f.read(size)
            calls.append((offset, len(data)))
            return data

        validate_gguf(read_at, SMOLLM2_BYTES, source=smollm2_gguf.name)
    assert len(calls) <= 5
    assert sum(n for _, n in calls) < 4 << 20  # a 1.8 MB header; none of the 96 MB of weights


def test_real_model_fits_a_small_laptop(smollm2_gguf):
    h = inspect_gguf_file(smollm2_gguf)
    model, variant = model_for_fit(h, model_id="smollm2-135m-instruct", file_bytes=SMOLLM2_BYTES)
    assert (model.n_layers, model.n_heads, model.n_kv_heads, model.head_dim, model.vocab_size) == (30, 9, 3, 64, 49152)
    assert model.params_b == pytest.approx(0.1345, abs=1e-4)
    assert variant.quant == "Q4_1"
    fit = plan_fit(read_profile(PROFILES / "laptop-8gb-no-gpu.json"), model, variant, context_length=4096,
                   table=default_performance_table(), weights_bytes=SMOLLM2_BYTES)
    assert fit.verdict == "cpu_only"
    assert fit.memory.weights_bytes == SMOLLM2_BYTES
    assert fit.memory.kv_cache_bytes == 2 * 30 * 3 * 64 * 4096 * 2


def test_cut_short_copy_names_the_tensor(smollm2_gguf, tmp_path):
    cut = 50_000_000
    part = tmp_path / "SmolLM2.gguf"
    with smollm2_gguf.open("rb") as src, part.open("wb") as dst:
        dst.write(src.read(cut))
    header = inspect_gguf_file(smollm2_gguf)
    victim = next(t for t in header.tensors if header.data_offset + t.offset + t.n_bytes > cut)
    end = header.data_offset + victim.offset + victim.n_bytes
    with pytest.raises(ModelFileInvalid) as info:
        inspect_gguf_file(part)
    assert info.value.user_message == (f"'SmolLM2.gguf' is incomplete: tensor '{victim.name}' ends at byte {end:,} "
                                       f"but the file has only {cut:,} bytes.")
    assert victim.name.startswith("blk.")
    assert "download or copy the file again" in (info.value.hint or "")


def test_missing_file_folder_and_non_gguf(tmp_path):
    with pytest.raises(ModelFileInvalid, match="does not exist") as info:
        inspect_gguf_file(tmp_path / "nope.gguf")
    assert info.value.hint and info.value.debug_context["path"].endswith("nope.gguf")
    with pytest.raises(ModelFileInvalid, match="is a folder, not a model file"):
        inspect_gguf_file(tmp_path)
    text = tmp_path / "notes.gguf"
    text.write_text("just some notes\n")
    with pytest.raises(ModelFileInvalid, match=r"'notes\.gguf' is not a GGUF model file"):
        inspect_gguf_file(text)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may read any file")
def test_unreadable_file(tmp_path):
    locked = tmp_path / "locked.gguf"
    locked.write_bytes(b"GGUF")
    locked.chmod(0)
    with pytest.raises(ModelFileInvalid, match="not allowed to read"):
        inspect_gguf_file(locked)


@pytest.mark.parametrize(("error", "words"), [
    (PermissionError(13, "Permission denied"), "Lantern is not allowed to read"),
    (OSError(5, "Input/output error"), "cannot be read (Input/output error)"),
])
def test_os_errors_are_translated_once(tmp_path, monkeypatch, error, words):
    """As root the permission case cannot be made real, so the open itself is made to fail."""
    target = tmp_path / "m.gguf"
    target.write_bytes(b"GGUF")

    def failing_open(self: Path, *args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(Path, "open", failing_open)
    with pytest.raises(ModelFileInvalid, match=re.escape(words)) as info:
        inspect_gguf_file(target)
    assert info.value.hint and info.value.debug_context["errno"] == error.errno
    assert info.value.__cause__ is error
