"""The portable-build settings (installers/portable.py): runtime CPU dispatch, no -march=native."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "installers"))

import portable


def test_llama_cpp_dispatches_at_run_time_except_on_macos():
    linux = portable.llama_cmake_args("linux", "x86_64").split()
    assert {"-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON"} <= set(linux)
    assert "-DCMAKE_INSTALL_BINDIR=llama_cpp/lib" in linux  # the variants land where llama_import loads them
    assert set(portable.llama_cmake_args("win32", "AMD64").split()) == set(linux)
    mac = portable.llama_cmake_args("darwin", "arm64").split()
    assert "-DGGML_NATIVE=OFF" in mac and "-DGGML_BACKEND_DL=ON" not in mac


def test_hnswlib_is_built_without_native_flags():
    (hnsw,) = [w for w in portable.portable_wheels() if w.dist == "hnswlib"]
    assert hnsw.env == {"HNSWLIB_NO_NATIVE": "1"}


def test_a_change_of_flags_never_reuses_a_cached_wheel():
    a = portable.PortableWheel("hnswlib", "0.8.0", {"HNSWLIB_NO_NATIVE": "1"})
    b = portable.PortableWheel("hnswlib", "0.8.0", {})
    assert a.cache_key() != b.cache_key() and a.cache_key() == portable.PortableWheel(
        "hnswlib", "0.8.0", {"HNSWLIB_NO_NATIVE": "1"}).cache_key()
