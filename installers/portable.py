"""Portable builds of the two compiled dependencies whose defaults tie a bundle to the build machine.

llama-cpp-python and hnswlib ship as source on PyPI and compile with -march=native by default
(DESIGN.md, "Measured pitfalls"): a bundle built that way dies with SIGILL on an older CPU. Here
they are built once per (version, Python, platform, flags) into a wheel cache outside the checkout,
so a clean clone on the same machine reuses them:

- llama.cpp on x86-64 and Linux ARM: GGML_NATIVE=OFF with GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS,
  which builds one CPU backend per instruction-set level (x64, sse42, sandybridge, haswell,
  skylakex, icelake, alderlake, zen4, ...) and lets ggml pick the best one at run time. The variants
  are installed beside libllama (CMAKE_INSTALL_BINDIR) where app/services/inference/llama_import.py
  loads them from. The multimodal library (mtmd) is left out: Lantern does not use it.
- llama.cpp on macOS: Metal plus a CPU backend for the architecture's baseline (no native tuning).
- hnswlib: HNSWLIB_NO_NATIVE=1 drops -march=native (its SIMD paths then need only the baseline).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The versions the bundle ships; pyproject.toml allows a range, a bundle is built from exact ones.
LLAMA_CPP_PYTHON = "0.3.36"
HNSWLIB = "0.8.0"


@dataclass(frozen=True)
class PortableWheel:
    dist: str
    version: str
    env: dict[str, str]

    def cache_key(self) -> str:
        """Different flags, Python or platform must never reuse a wheel built for another."""
        ident = {"dist": self.dist, "version": self.version, "env": self.env, "python": sys.version_info[:2],
                 "platform": sys.platform, "machine": platform.machine()}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.dist}-{self.version}-{digest}"


def llama_cmake_args(system: str = sys.platform, machine: str = platform.machine()) -> str:
    args = ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF"]
    if system != "darwin":
        # Runtime CPU dispatch; upstream supports it for x86 (all OSes) and ARM on Linux/Android.
        args += ["-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON", "-DCMAKE_INSTALL_BINDIR=llama_cpp/lib"]
    return " ".join(args)


def portable_wheels() -> list[PortableWheel]:
    llama_env = {"CMAKE_ARGS": llama_cmake_args()}
    if sys.platform == "darwin":
        llama_env["MACOSX_DEPLOYMENT_TARGET"] = "12.0"
    return [
        PortableWheel("llama-cpp-python", LLAMA_CPP_PYTHON, llama_env),
        PortableWheel("hnswlib", HNSWLIB, {"HNSWLIB_NO_NATIVE": "1"}),
    ]


def cache_dir() -> Path:
    base = os.environ.get("LANTERN_BUILD_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lantern-build"


def build_wheel(python: Path, wheel: PortableWheel, log=print) -> Path:
    """The cached wheel for `wheel`, building it first when absent."""
    out = cache_dir() / "wheels" / wheel.cache_key()
    found = sorted(out.glob("*.whl"))
    if found:
        log(f"   {wheel.dist} {wheel.version}: cached portable wheel {found[0].name}")
        return found[0]
    flags = " ".join(f"{k}={v}" for k, v in wheel.env.items())
    log(f"   {wheel.dist} {wheel.version}: building a portable wheel ({flags})")
    tmp = out.with_name(out.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    # --no-cache-dir: pip's wheel cache is keyed by the sdist, not by CMAKE_ARGS, so a native wheel
    # cached by a developer install would otherwise be reused here (and ours would leak back there).
    cmd = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--no-binary", wheel.dist,
           "-w", str(tmp), f"{wheel.dist}=={wheel.version}"]
    jobs = str(os.cpu_count() or 2)  # how fast, not what is built: kept out of the cache key
    subprocess.run(cmd, check=True, env={**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": jobs, **wheel.env})
    built = sorted(tmp.glob("*.whl"))
    if len(built) != 1:
        raise SystemExit(f"expected one wheel for {wheel.dist} in {tmp}, found {[p.name for p in built]}")
    tmp.replace(out)  # only a finished build becomes visible to the next run
    return out / built[0].name
