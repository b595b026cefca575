"""`lantern models pull`: from what the learner named to a verified, registered model.

plan()   resolve the name to files pinned to a commit, read a GGUF's header over HTTP Range, and
         judge the fit on this machine before a byte of weights is fetched;
start()  queue the download (resumable; see transfer.py);
finish() validate the GGUF and register it. A file that fails any check is deleted, never listed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.catalog import Catalog, CatalogModel, Variant
from app.core.downloads import RemoteFile
from app.core.errors import LanternError, ModelFileInvalid, RemoteNotFound
from app.core.estimates import RUNS, Fit, plan_fit
from app.core.gguf import GgufHeader
from app.core.gguf_fit import model_for_fit
from app.core.i18n import _
from app.core.installed import InstalledModel
from app.core.model_spec import ModelSpec
from app.core.performance import PerformanceTable
from app.core.profile import DeviceProfile
from app.core.recommend import build_options, pick_key
from app.services.downloads.hub import MLX_PATTERNS, HubClient
from app.services.downloads.manager import DownloadJob, DownloadManager, DownloadRequest
from app.services.downloads.remote_gguf import read_remote_gguf_header
from app.services.models.files import file_sha256, write_manifest
from app.services.models.gguf_file import inspect_gguf_file
from app.services.storage.models_registry import ModelRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullPlan:
    label: str
    format: str                       # "gguf" | "mlx"
    files: tuple[RemoteFile, ...]
    dest: Path                        # the .gguf file, or the MLX folder
    model: CatalogModel | None        # the catalog entry, when it is one
    variant: Variant | None
    fit: Fit | None
    header: GgufHeader | None
    header_bytes_read: int = 0
    already: InstalledModel | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


class ModelAcquirer:
    def __init__(self, *, hub: HubClient, manager: DownloadManager, registry: ModelRegistry, catalog: Catalog,
                 models_dir: Path, table: PerformanceTable, context_length: int) -> None:
        self.hub, self.manager, self.registry, self.catalog = hub, manager, registry, catalog
        self.models_dir, self.table, self.context_length = models_dir, table, context_length

    # -- plan ------------------------------------------------------------------------------------

    def plan(self, spec: ModelSpec, *, profile: DeviceProfile | None) -> PullPlan:
        if spec.is_catalog:
            assert spec.catalog_id is not None
            model = self.catalog.get(spec.catalog_id)
            variant = self._choose_variant(model, spec.quant, profile)
            if variant.format == "mlx":
                return self._plan_mlx(variant.repo, spec.revision, profile, model, variant)
            assert variant.file is not None
            return self._plan_gguf(variant.repo, variant.file, spec.revision, profile, model, variant)
        assert spec.repo_id is not None
        if spec.filename is not None:
            found, found_variant = self._catalog_match(spec.repo_id, spec.filename)
            return self._plan_gguf(spec.repo_id, spec.filename, spec.revision, profile, found, found_variant)
        return self._plan_repo(spec.repo_id, spec.revision, spec.quant, profile)

    def _choose_variant(self, model: CatalogModel, quant: str | None, profile: DeviceProfile | None) -> Variant:
        variants = list(self.catalog.variants(model))
        if quant:
            for v in variants:
                if v.quant.upper() == quant.upper():
                    return v
            raise LanternError(_("{name} has no '{quant}' download in the catalog.").format(
                                 name=model.name, quant=quant),
                               hint=_("Available: {choices}.").format(choices=", ".join(v.quant for v in variants)))
        if profile is not None:
            prefer_mlx = profile.apple is not None and profile.runtimes.mlx.can_run
            options = [o for o in build_options(profile, self.catalog, table=self.table, intent="chat",
                                                context_length=self.context_length) if o.model.id == model.id]
            runnable = [o for o in options if o.runs]
            if runnable:
                return max(runnable, key=lambda o: pick_key(o, prefer_mlx=prefer_mlx)).variant
        gguf = [v for v in variants if v.format == "gguf"]
        for preferred in ("Q4_K_M", "Q4_0", "Q8_0"):
            for v in gguf:
                if v.quant == preferred:
                    return v
        return (gguf or variants)[0]

    def _catalog_match(self, repo_id: str, filename: str) -> tuple[CatalogModel | None, Variant | None]:
        for model, variant in self.catalog.all_variants(kind=None):
            if variant.repo.lower() == repo_id.lower() and variant.file == filename:
                return model, variant
        return None, None

    def _plan_gguf(self, repo_id: str, filename: str, revision: str, profile: DeviceProfile | None,
                   model: CatalogModel | None, variant: Variant | None) -> PullPlan:
        if not filename.lower().endswith(".gguf"):
            raise LanternError(_("'{filename}' is not a GGUF file.").format(filename=filename),
                               hint=_("Lantern runs GGUF files with llama.cpp (or MLX folders on Apple Silicon)."))
        remote = self.hub.file_metadata(repo_id, filename, revision=revision)
        header, cost = read_remote_gguf_header(self.hub, self.manager.transfer.client, remote)
        fit = None
        if profile is not None:
            if model is None or variant is None:
                fit_model, fit_variant = model_for_fit(header, model_id=_slug(f"{repo_id}-{filename}"),
                                                       file_bytes=remote.size)
            else:
                fit_model, fit_variant = model, variant
            fit = plan_fit(profile, fit_model, fit_variant, context_length=self.context_length, table=self.table,
                           weights_bytes=remote.size)
        dest = self.models_dir / "gguf" / repo_id.replace("/", "--") / filename
        already = self.registry.find_by_sha256(remote.sha256) if remote.sha256 else None
        if already is not None and not (already.usable and Path(already.path).exists()):
            already = None
        return PullPlan(label=remote.label, format="gguf", files=(remote,), dest=dest, model=model, variant=variant,
                        fit=fit, header=header, header_bytes_read=cost, already=already)

    def _plan_mlx(self, repo_id: str, revision: str, profile: DeviceProfile | None,
                  model: CatalogModel | None, variant: Variant | None) -> PullPlan:
        files = self.hub.list_files(repo_id, revision=revision, patterns=MLX_PATTERNS)
        if not any(f.filename.endswith(".safetensors") for f in files):
            raise RemoteNotFound(_("{repo_id} has no .safetensors weights, so it is not an MLX model.").format(
                                   repo_id=repo_id),
                                 hint=_("Name a GGUF file (Org/Repo/file.gguf) or an mlx-community repository."))
        total = sum(f.size for f in files)
        fit = None
        if profile is not None and model is not None and variant is not None:
            fit = plan_fit(profile, model, variant, context_length=self.context_length, table=self.table,
                           weights_bytes=total)
        dest = self.models_dir / "mlx" / repo_id.replace("/", "--")
        return PullPlan(label=repo_id, format="mlx", files=tuple(files), dest=dest, model=model, variant=variant,
                        fit=fit, header=None)

    def _plan_repo(self, repo_id: str, revision: str, quant: str | None, profile: DeviceProfile | None) -> PullPlan:
        files = self.hub.list_files(repo_id, revision=revision, patterns=("*.gguf",))
        single = [f for f in files if not re.search(r"-\d{5}-of-\d{5}\.gguf$", f.filename)
                  or f.filename.endswith("-00001-of-00001.gguf")]
        if quant:
            single = [f for f in single if quant.lower() in f.filename.lower()]
        if len(single) == 1:
            model, variant = self._catalog_match(repo_id, single[0].filename)
            return self._plan_gguf(repo_id, single[0].filename, revision, profile, model, variant)
        if single:
            names = ", ".join(f.filename for f in single[:12])
            raise LanternError(_("{repo_id} has {count} GGUF files; say which one to download.").format(
                                 repo_id=repo_id, count=len(single)),
                               hint=_("For example `lantern models pull {repo_id}/{filename}` (or add --quant). "
                                      "Files: {names}.").format(
                                      repo_id=repo_id, filename=single[0].filename, names=names))
        for model, variant in self.catalog.all_variants(kind=None):
            if variant.format == "mlx" and variant.repo.lower() == repo_id.lower():
                return self._plan_mlx(repo_id, revision, profile, model, variant)
        return self._plan_mlx(repo_id, revision, profile, None, None)

    # -- fit, download, register -----------------------------------------------------------------

    @staticmethod
    def refuse_if_unfit(plan: PullPlan) -> None:
        """Too large or no runtime: refuse. A short context is only a warning (the model still runs,
        with less context), which the fit line already states."""
        if plan.fit is None or plan.fit.verdict in RUNS or plan.fit.verdict == "context_too_short":
            return
        raise LanternError(
            _("{label} would not run on this machine: {reason}.").format(label=plan.label, reason=plan.fit.reason),
            hint=_("Choose a smaller model or quantisation (`lantern models recommend`), or add --force to "
                   "download it anyway."), debug_context={"verdict": plan.fit.verdict})

    def start(self, plan: PullPlan) -> DownloadJob:
        if plan.format == "gguf":
            request = DownloadRequest(plan.label, ((plan.files[0], plan.dest),))
        else:
            request = DownloadRequest(plan.label, tuple((f, plan.dest / f.filename) for f in plan.files),
                                      final_dir=plan.dest)
        return self.manager.submit(request)

    def finish(self, plan: PullPlan) -> InstalledModel:
        """Validate what arrived and register it; anything invalid is deleted, never listed."""
        now = datetime.now(UTC)
        if plan.format == "gguf":
            remote = plan.files[0]
            try:
                header = inspect_gguf_file(plan.dest)
            except ModelFileInvalid:
                plan.dest.unlink(missing_ok=True)
                raise
            sha256 = remote.sha256 or file_sha256(plan.dest)
            quant = header.quant or (plan.variant.quant if plan.variant else "unknown")  # the file is the truth
            base = f"{plan.model.id}:{quant}" if plan.model else f"{remote.repo_id.split('/')[-1]}:{quant}"
            existing = self.registry.find_by_path(str(plan.dest))
            if existing is not None:
                self.registry.remove(existing.id)
            return self.registry.add(InstalledModel(
                id=self.registry.new_id(base), display_name=plan.model.name if plan.model else remote.label,
                source="catalog" if plan.model else "huggingface", source_ref=remote.source_ref,
                path=str(plan.dest), managed=True, format="gguf", backend="llama.cpp", size_bytes=remote.size,
                sha256=sha256, verified_at=now, catalog_id=plan.model.id if plan.model else None, quant=quant,
                architecture=header.architecture, context_length=header.context_length,
                has_chat_template=header.has_chat_template))
        write_manifest(plan.dest, plan.files)
        config = _read_json(plan.dest / "config.json")
        quant = plan.variant.quant if plan.variant else _mlx_quant(config)
        existing = self.registry.find_by_path(str(plan.dest))
        if existing is not None:
            self.registry.remove(existing.id)
        return self.registry.add(InstalledModel(
            id=self.registry.new_id(f"{plan.model.id}:{quant}" if plan.model else plan.label.split("/")[-1]),
            display_name=plan.model.name if plan.model else plan.label,
            source="catalog" if plan.model else "huggingface", source_ref=f"{plan.label}@{plan.files[0].commit}",
            path=str(plan.dest), managed=True, format="mlx", backend="mlx", size_bytes=plan.total_bytes,
            sha256=None, verified_at=now, catalog_id=plan.model.id if plan.model else None, quant=quant,
            architecture=config.get("model_type"), context_length=config.get("max_position_embeddings"),
            has_chat_template=(plan.dest / "chat_template.jinja").exists()
            or "chat_template" in _read_json(plan.dest / "tokenizer_config.json")))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _mlx_quant(config: dict[str, Any]) -> str:
    q = config.get("quantization") or config.get("quantization_config") or {}
    bits = q.get("bits") if isinstance(q, dict) else None
    return f"mlx-{bits}bit" if bits else "mlx"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.\-]+", "-", text.lower()).strip("-")[:80] or "model"
