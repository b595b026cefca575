"""llama.cpp's own log, routed into Lantern's log and kept briefly to explain failures.

llama-cpp-python reports a failed load only as "Failed to load model from file"; the reason (out of
memory, an architecture this build does not know, a bad tensor) is in llama.cpp's log lines just
before. We install one log callback for the process that forwards warnings and errors to the
`lantern.llama_cpp` logger and keeps the recent lines so a failure can be classified and explained.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

log = logging.getLogger("lantern.llama_cpp")

FailureKind = Literal["memory", "architecture", "file", "unknown"]

# ggml_log_level in the llama.cpp that llama-cpp-python 0.3.x bundles: NONE 0, DEBUG 1, INFO 2, WARN 3,
# ERROR 4, CONT 5 (continues the previous line). INFO is ~2,000 lines of loader chatter per load: DEBUG here.
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
_recent: collections.deque[str] = collections.deque(maxlen=200)
_lock = threading.Lock()
_load_lock = threading.Lock()
_last_level = [logging.DEBUG]
_count = [0]  # lines ever logged (a list: mutated from the callback without `global`)
_callback: Any = None  # kept alive: llama.cpp holds a raw pointer to it

_MEMORY = re.compile(
    r"out of memory|failed to allocate|unable to allocate|cudaMalloc failed|alloc.*fail|"
    r"not enough (memory|space)|insufficient memory|kIOGPUCommandBufferCallbackErrorOutOfMemory|"
    r"failed to (create|initialize) (the )?(kv|compute|buffer)|ErrorOutOfDeviceMemory", re.IGNORECASE)
_ARCH = re.compile(r"unknown (model )?architecture|unsupported (model )?architecture", re.IGNORECASE)
_FILE = re.compile(r"tensor .* (has wrong|data is not within)|invalid magic|failed to read|corrupt", re.IGNORECASE)


def install() -> None:
    """Route llama.cpp's log through ours (idempotent; replaces llama-cpp-python's stderr printer)."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        with _lock:
            _recent.append(line)
            _count[0] += 1
            if level != 5:
                _last_level[0] = _LEVELS.get(level, logging.DEBUG)
            python_level = _last_level[0]
        log.log(python_level, "%s", line)

    _callback = _on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


@contextmanager
def capturing() -> Iterator[Callable[[], list[str]]]:
    """Hold the load lock while a model loads; yields a function giving the lines logged since. One
    load at a time, so a chat and an embedding model loading together cannot mix their lines."""
    with _load_lock:
        position = mark()
        yield lambda: since(position)


def mark() -> int:
    """A position in the log; `since(mark)` gives the lines logged after it (up to the last 200)."""
    with _lock:
        return _count[0]


def since(position: int) -> list[str]:
    with _lock:
        n = min(_count[0] - position, len(_recent))
        return list(_recent)[len(_recent) - n:] if n > 0 else []


def classify(lines: list[str], error: BaseException) -> FailureKind:
    text = "\n".join([*lines, str(error)])
    if isinstance(error, MemoryError) or _MEMORY.search(text):
        return "memory"
    if _ARCH.search(text):
        return "architecture"
    if _FILE.search(text):
        return "file"
    return "unknown"
