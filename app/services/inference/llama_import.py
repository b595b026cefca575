"""Import llama_cpp with its compute backends registered from the package's own lib folder.

A portable build (installers/portable.py) compiles ggml's CPU backend once per instruction-set level
as separate libraries (libggml-cpu-haswell.so, ...) and loads the best one at run time. Left to
itself, llama.cpp looks for them beside the executable and in the current directory: in a bundle
that is the wrong folder, and the current directory is not a place to load code from. So we ask
ggml to load them from llama_cpp/lib before anything else initialises llama.cpp. A regular build
links its CPU backend in, has backends registered already, and this is a no-op.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path
from types import ModuleType

from app.core.errors import BackendUnavailable
from app.core.i18n import N_, _
from app.services.inference import llama_log

log = logging.getLogger(__name__)
_lock = threading.Lock()
_ready: ModuleType | None = None

REINSTALL_HINT = N_("Reinstall Lantern; if it came from an installer, download it again.")


def import_llama_cpp() -> ModuleType:
    """The llama_cpp module, ready to load models (raises BackendUnavailable when it cannot be)."""
    global _ready
    with _lock:
        if _ready is not None:
            return _ready
        try:
            import llama_cpp
            from llama_cpp import llama_cpp as bindings
        except (ImportError, OSError) as exc:  # OSError: a shared library missing or unloadable
            raise BackendUnavailable(_("llama.cpp could not be loaded ({exc}), so GGUF models cannot run.").format(
                                       exc=exc),
                                     hint=_(REINSTALL_HINT)) from exc
        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        llama_log.install()  # ggml names the CPU backend it picked: into our log, not onto stderr
        # Through libllama's own handle: symbols then resolve in the ggml that libllama links, even
        # where the package holds a second copy of libggml under another file name.
        register_backends(bindings._lib, lib_dir)
        _ready = llama_cpp
        return llama_cpp


def register_backends(lib: ctypes.CDLL, lib_dir: Path) -> int:
    """Load ggml's dynamic backends from lib_dir unless some are registered already; the count.
    `lib` is any library whose symbol scope includes ggml (libllama, or libggml itself)."""
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    count = int(lib.ggml_backend_reg_count())
    if count:
        return count
    lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_load_all_from_path.restype = None
    lib.ggml_backend_load_all_from_path(str(lib_dir).encode("utf-8"))  # ggml reads it as UTF-8
    count = int(lib.ggml_backend_reg_count())
    if not count:
        raise BackendUnavailable(_("llama.cpp found no compute backend for this processor in {lib_dir}.").format(
                                   lib_dir=lib_dir),
                                 hint=_(REINSTALL_HINT))
    log.info("llama.cpp: %d backend(s) loaded from %s", count, lib_dir)
    return count
