"""Which inference runtimes are installed and what the installed builds can do."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from pathlib import Path

from app.core.i18n import _
from app.core.profile import LlamaCppRuntime, MlxRuntime

# ggml backend libraries (llama.cpp builds them as separate shared objects) -> backend name.
BACKEND_LIBS = {"cuda": "cuda", "metal": "metal", "vulkan": "vulkan", "hip": "rocm", "sycl": "sycl",
                "blas": "blas", "opencl": "opencl", "cpu": "cpu"}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def backends_in(lib_dir: Path) -> tuple[str, ...]:
    found = set()
    for lib in lib_dir.glob("*ggml*"):
        stem = lib.name.lower()
        for key, name in BACKEND_LIBS.items():
            if f"ggml-{key}" in stem:
                found.add(name)
    return tuple(sorted(found))


def probe_llama_cpp() -> LlamaCppRuntime:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return LlamaCppRuntime(installed=False)
    lib_dir = Path(spec.origin).parent / "lib"
    backends = backends_in(lib_dir) if lib_dir.is_dir() else ()
    # Loading the library is the only reliable way to ask the build itself; the profiler runs this
    # probe in a bounded thread so a slow import never delays `lantern doctor` past its limit.
    from app.services.inference.llama_import import import_llama_cpp

    llama_cpp = import_llama_cpp()
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    version = getattr(llama_cpp, "__version__", None) or _version("llama-cpp-python")
    return LlamaCppRuntime(installed=True, version=version, gpu_offload=gpu, backends=backends or ("cpu",))


def probe_mlx() -> MlxRuntime:
    if importlib.util.find_spec("mlx") is None:
        reason = _("MLX is not installed (Apple Silicon only by default)") if sys.platform != "darwin" else _(
            "MLX is not installed")
        return MlxRuntime(installed=False, can_run=False, reason=reason)
    if sys.platform == "darwin":
        if platform.machine() != "arm64":
            return MlxRuntime(installed=True, can_run=False, reason=_("MLX needs Apple Silicon"))
        mac = tuple(int(p) for p in (platform.mac_ver()[0] or "0").split(".")[:2])
        if mac < (13, 5):
            return MlxRuntime(installed=True, can_run=False, reason=_("MLX needs macOS 13.5 or later"))
    try:
        import mlx.core as mx

        device = "gpu" if sys.platform == "darwin" and mx.metal.is_available() else "cpu"
    except Exception as exc:
        return MlxRuntime(installed=True, can_run=False, reason=_("MLX failed to load: {exc}").format(exc=exc))
    return MlxRuntime(installed=True, can_run=importlib.util.find_spec("mlx_lm") is not None, device=device,
                      reason=None if importlib.util.find_spec("mlx_lm") else _("mlx-lm is not installed"))
