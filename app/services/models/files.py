"""Hashing, copying and manifests for model files, with progress for the big ones."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from app.core.downloads import RemoteFile
from app.core.i18n import _
from app.services.hashing import CHUNK, Progress, file_sha256

__all__ = ["CHUNK", "MANIFEST_NAME", "Progress", "copy_with_sha256", "file_sha256"]

MANIFEST_NAME = "lantern-manifest.json"


def copy_with_sha256(src: Path, dest: Path, *, on_progress: Progress | None = None) -> str:
    """Copy through a partial file (renamed into place at the end) and hash what was written."""
    h = hashlib.sha256()
    total = src.stat().st_size
    done = 0
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with src.open("rb") as fin, partial.open("wb") as fout:
            while chunk := fin.read(CHUNK):
                fout.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return h.hexdigest()


def write_manifest(folder: Path, files: Iterable[RemoteFile]) -> None:
    """Per-file sizes and hashes of an MLX folder, so `lantern models verify` can check it later."""
    entries = [{"path": f.filename, "size": f.size, "sha256": f.sha256, "git_sha1": f.git_sha1,
                "source": f.source_ref} for f in files]
    (folder / MANIFEST_NAME).write_text(json.dumps({"version": 1, "files": entries}, indent=1), encoding="utf-8")


def manifest_problems(folder: Path, *, on_progress: Progress | None = None) -> list[str]:
    """What is wrong with an MLX folder against its manifest (empty list = intact)."""
    try:
        entries = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return [_("the file list {manifest_name} is missing or unreadable").format(manifest_name=MANIFEST_NAME)]
    problems = []
    total = sum(int(e["size"]) for e in entries)
    done = 0
    for e in entries:
        path = folder / e["path"]
        if not path.is_file():
            problems.append(f"{e['path']} is missing")
            continue
        if path.stat().st_size != e["size"]:
            problems.append(_("{path} has the wrong size").format(path=e['path']))
            continue

        def step(d: int, _t: int, base: int = done) -> None:
            if on_progress:
                on_progress(base + d, total)
        if e.get("sha256"):
            ok = file_sha256(path, on_progress=step) == e["sha256"]
        else:
            ok = file_sha256(path, on_progress=step, algorithm="sha1", prefix=b"blob %d\0" % e["size"]) == e["git_sha1"]
        if not ok:
            problems.append(_("{path} is damaged (hash mismatch)").format(path=e['path']))
        done += int(e["size"])
    return problems
