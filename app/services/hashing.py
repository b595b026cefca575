"""Hashing big files with progress: used by downloads (verifying a transfer) and by the model library
(verifying installed files), so it sits below both and neither package imports the other for it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

CHUNK = 4 << 20
Progress = Callable[[int, int], None]  # (bytes done, total)


def file_sha256(path: Path, *, on_progress: Progress | None = None, algorithm: str = "sha256",
                prefix: bytes = b"") -> str:
    h = hashlib.new(algorithm)
    h.update(prefix)
    total = path.stat().st_size
    done = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(view):
            h.update(view[:n])
            done += n
            if on_progress:
                on_progress(done, total)
    return h.hexdigest()
