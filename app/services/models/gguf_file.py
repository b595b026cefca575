"""Inspect a GGUF file on disk: parse its header and check that every tensor is inside the file.

The parsing is app.core.gguf's; this module only opens the file and turns OSError into
ModelFileInvalid (once, here), so callers see one error type for "this file cannot be used".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from app.core.errors import ModelFileInvalid
from app.core.gguf import GgufHeader, validate_gguf
from app.core.i18n import N_, _

CHECK_PATH = N_("Check the path, or download the model again.")


def _unreadable(path: Path, exc: OSError) -> ModelFileInvalid:
    context = {"path": str(path), "errno": exc.errno, "error": str(exc)}
    if isinstance(exc, FileNotFoundError):
        return ModelFileInvalid(_("The model file '{path}' does not exist.").format(
                                  path=path), hint=_(CHECK_PATH), debug_context=context)
    if isinstance(exc, IsADirectoryError):
        return _folder(path)
    if isinstance(exc, PermissionError):
        return ModelFileInvalid(_("Lantern is not allowed to read the model file '{path}'.").format(path=path),
                                hint=_("Give your user read permission on the file, or copy it somewhere you own."),
                                debug_context=context)
    reason = exc.strerror or str(exc)
    return ModelFileInvalid(_("The model file '{path}' cannot be read ({reason}).").format(path=path, reason=reason),
                            hint=_("Check that the disk or network drive is available, then try again."),
                            debug_context=context)


def _folder(path: Path) -> ModelFileInvalid:
    return ModelFileInvalid(_("'{path}' is a folder, not a model file.").format(path=path),
                            hint=_("Choose the .gguf file inside it."), debug_context={"path": str(path)})


def inspect_gguf_file(path: Path) -> GgufHeader:
    """The header of a local GGUF, after checking that the file holds all its tensor data (reads only
    the header: a few MB, whatever the model's size)."""
    try:
        # stat before open: opening a FIFO would block, and a folder opens fine on Linux.
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise _folder(path)
        if not stat.S_ISREG(mode):
            raise ModelFileInvalid(_("'{path}' is not a regular file.").format(path=path), hint=_(CHECK_PATH),
                                   debug_context={"path": str(path), "mode": mode})
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size

            def read_at(offset: int, size: int) -> bytes:
                f.seek(offset)
                return f.read(size)

            return validate_gguf(read_at, size, source=path.name)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
