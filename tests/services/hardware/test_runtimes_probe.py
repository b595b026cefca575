"""Runtime probes on this machine: the installed llama.cpp build and MLX."""

from __future__ import annotations

import importlib.util
import sys

from app.services.hardware.runtimes import backends_in, probe_llama_cpp, probe_mlx


def test_llama_cpp_build_is_described():
    rt = probe_llama_cpp()
    assert rt.installed and rt.version
    import llama_cpp

    assert rt.gpu_offload == bool(llama_cpp.llama_supports_gpu_offload())
    assert "cpu" in rt.backends


def test_backend_libraries_are_recognised(tmp_path):
    for name in ("libggml-base.so", "libggml-cpu.so", "libggml-cuda.so", "ggml-metal.dylib", "libllama.so"):
        (tmp_path / name).write_bytes(b"")
    assert backends_in(tmp_path) == ("cpu", "cuda", "metal")


def test_mlx_probe_matches_what_is_installed():
    rt = probe_mlx()
    if importlib.util.find_spec("mlx") is None:
        assert not rt.installed and not rt.can_run and rt.reason
    elif sys.platform.startswith("linux"):  # the `mlx-cpu` extra
        assert rt.installed and rt.device == "cpu"
        assert rt.can_run == (importlib.util.find_spec("mlx_lm") is not None)
