"""Installed models on disk: import a GGUF the learner already has, verify, remove.

The registry (SQLite) says what is installed; this module keeps it true to the files.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from app.core.catalog import Catalog, CatalogModel
from app.core.errors import ChecksumMismatch, LanternError, ModelFileInvalid
from app.core.gguf import GgufHeader
from app.core.i18n import _
from app.core.installed import InstalledModel
from app.services.models.files import Progress, copy_with_sha256, file_sha256, manifest_problems
from app.services.models.gguf_file import inspect_gguf_file
from app.services.storage.models_registry import ModelRegistry


def import_gguf(path: Path, *, registry: ModelRegistry, catalog: Catalog, models_dir: Path, copy: bool,
                model_id: str | None = None, on_progress: Progress | None = None) -> InstalledModel:
    """Validate (cheap) before hashing (not cheap), so a wrong file is refused in milliseconds."""
    src = path.expanduser().resolve()
    header = inspect_gguf_file(src)
    existing = registry.find_by_path(str(src))
    if existing is not None:
        raise LanternError(_("'{name}' is already installed as '{id}'.").format(name=src.name, id=existing.id),
                           hint=_("Check it with `lantern models verify {id}`.").format(id=existing.id))
    if model_id is not None and model_id in registry.ids():  # before copying gigabytes, not after
        raise LanternError(_("An installed model is already called '{model_id}'.").format(model_id=model_id),
                           hint=_("Choose another --id, or see `lantern models list`."))
    if copy:
        dest = models_dir / "imported" / src.name
        if dest.exists():
            raise LanternError(_("A model file named '{name}' is already in the models folder.").format(
                                 name=src.name),
                               hint=_("Rename the file, or import it without --copy."))
        sha256 = copy_with_sha256(src, dest, on_progress=on_progress)
        try:
            inspect_gguf_file(dest)  # the copy, not only the source, must be whole
        except ModelFileInvalid:
            dest.unlink(missing_ok=True)
            raise
    else:
        dest = src
        sha256 = file_sha256(src, on_progress=on_progress)
    same = registry.find_by_sha256(sha256)
    if same is not None and Path(same.path).exists():
        if copy:
            dest.unlink(missing_ok=True)
        raise LanternError(_("This exact model is already installed as '{id}'.").format(id=same.id),
                           hint=_("Use the installed one; `lantern models list` shows it."))
    cat_model = next((m for m, v in catalog.all_variants(kind=None) if v.file == src.name), None)
    base = model_id or (f"{cat_model.id}:{header.quant}" if cat_model else src.stem)
    new_id = registry.new_id(base) if model_id is None else model_id
    try:
        return _register_import(registry, new_id, cat_model, header, src, dest, sha256, copy)
    except BaseException:
        if copy:
            dest.unlink(missing_ok=True)
        raise


def _register_import(registry: ModelRegistry, new_id: str, cat_model: CatalogModel | None, header: GgufHeader,
                     src: Path, dest: Path, sha256: str, copy: bool) -> InstalledModel:
    return registry.add(InstalledModel(
        id=new_id, display_name=cat_model.name if cat_model else (header.model_name or src.stem),
        source="import", source_ref=str(src), path=str(dest), managed=copy, format="gguf", backend="llama.cpp",
        size_bytes=dest.stat().st_size, sha256=sha256, verified_at=datetime.now(UTC),
        catalog_id=cat_model.id if cat_model else None, quant=header.quant, architecture=header.architecture,
        context_length=header.context_length, has_chat_template=header.has_chat_template))


def verify_installed(model: InstalledModel, *, registry: ModelRegistry,
                     on_progress: Progress | None = None) -> InstalledModel:
    """Re-check the file against the recorded sha256 and mark the entry ok, corrupt or missing."""
    path = Path(model.path)
    if not path.exists():
        registry.mark_status(model.id, "missing")
        raise LanternError(_("The file of '{id}' is gone: {path}.").format(id=model.id, path=path),
                           hint=_("Put it back, or remove the entry with `lantern models rm {id}`.").format(
                                  id=model.id))
    now = datetime.now(UTC)
    if model.format == "mlx":
        problems = manifest_problems(path, on_progress=on_progress)
        if problems:
            registry.mark_status(model.id, "corrupt")
            raise ChecksumMismatch(_("'{id}' is damaged: {problems}.").format(
                                     id=model.id, problems='; '.join(problems[:3])),
                                   hint=_("Remove it (`lantern models rm {id}`) and pull it again.").format(
                                          id=model.id))
        registry.mark_verified(model.id, at=now, size_bytes=model.size_bytes, sha256=None)
        return registry.get(model.id)
    try:
        inspect_gguf_file(path)
    except ModelFileInvalid:
        registry.mark_status(model.id, "corrupt")
        raise
    got = file_sha256(path, on_progress=on_progress)
    if got != model.sha256:
        registry.mark_status(model.id, "corrupt")
        raise ChecksumMismatch(
            _("'{id}' is damaged: its sha256 is {got}… but {sha256}… was recorded when it was installed.").format(
              id=model.id, got=got[:12], sha256=str(model.sha256)[:12]),
            hint=_("Remove it (`lantern models rm {id}`) and pull or import it again.").format(id=model.id),
            debug_context={"path": str(path), "expected": model.sha256, "got": got})
    registry.mark_verified(model.id, at=now, size_bytes=path.stat().st_size, sha256=got)
    return registry.get(model.id)


def remove_installed(model: InstalledModel, *, registry: ModelRegistry, models_dir: Path) -> bool:
    """Unregister; delete the file only when Lantern owns it (inside the models folder). True if deleted."""
    registry.remove(model.id)
    path = Path(model.path)
    if not model.managed or not _inside(path, models_dir):
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    parent = path.parent
    while parent != models_dir and _inside(parent, models_dir) and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    return True


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
