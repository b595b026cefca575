"""Small but real GGUF files for download/import tests, written with the `gguf` package (llama.cpp's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter, LlamaFileType


def write_gguf(path: Path, *, weight_bytes: int = 1 << 20, arch: str = "llama", block_count: int = 2,
               context_length: int = 2048, embedding: int = 64, vocab: int = 32, seed: int = 0) -> Path:
    """A GGUF with llama-like metadata and F32 tensors holding about `weight_bytes` of random weights."""
    rng = np.random.default_rng(seed)
    w = GGUFWriter(str(path), arch)
    w.add_name(f"test-{arch}")
    w.add_block_count(block_count)
    w.add_context_length(context_length)
    w.add_embedding_length(embedding)
    w.add_feed_forward_length(embedding * 4)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(LlamaFileType.ALL_F32)
    w.add_token_list([f"t{i}" for i in range(vocab)])
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    w.add_tensor("token_embd.weight", rng.standard_normal((vocab, embedding), dtype=np.float32))
    per_block = max(4, weight_bytes // 4 // block_count // embedding)
    for b in range(block_count):
        w.add_tensor(f"blk.{b}.ffn_up.weight", rng.standard_normal((per_block, embedding), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
