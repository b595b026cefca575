"""llama_cpp is imported through one function that registers ggml's compute backends first."""

from __future__ import annotations

from pathlib import Path

from app.services.inference.llama_import import import_llama_cpp, register_backends


def test_import_gives_a_ready_module_once():
    first = import_llama_cpp()
    assert first is import_llama_cpp() and hasattr(first, "Llama")


def test_backends_are_registered_in_the_ggml_libllama_uses():
    llama_cpp = import_llama_cpp()
    lib = llama_cpp.llama_cpp._lib  # libllama's handle: its symbol scope includes the ggml it links
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    count = register_backends(lib, lib_dir)
    assert count >= 1  # at least the CPU backend (linked in, or loaded from lib_dir in a portable build)
    assert register_backends(lib, lib_dir) == count  # a second call loads nothing more
