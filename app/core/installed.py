"""Installed models: what is on this machine, where, and whether it checked out.

An InstalledModel is one entry of the installed-model registry (stored by
app.services.storage.models_registry). The registry is a database only: it records files, it never
touches them. This module also holds the pure rules the registry and the CLI share: how a model
id is made (`unique_model_id`) and how what the user typed is resolved to one entry
(`resolve_model_ref`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from app.core.errors import AmbiguousModelRef, InvalidModelId, ModelNotInstalled
from app.core.i18n import _

ModelSource = Literal["catalog", "huggingface", "import", "starter"]
ModelFormat = Literal["gguf", "mlx"]
ModelBackend = Literal["llama.cpp", "mlx"]  # the names app.services.inference.backends registers
ModelStatus = Literal["ok", "corrupt", "missing"]

MODEL_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._:-]*")  # what unique_model_id makes
# What an entry may hold: also upper case, for ids built from catalog quant names ("...:Q8_0").
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
MAX_MODEL_ID_LENGTH = 96
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"InstalledModel.{name} must be timezone-aware (use datetime.now(UTC)), got {value!r}")
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class InstalledModel:
    """One installed model. Keyword-only: there are many fields and several share a type."""

    id: str  # user-facing, e.g. "qwen2.5-coder-0.5b-instruct:q8_0"
    display_name: str
    source: ModelSource
    # Where it came from: "<repo>/<file>@<commit>", the original import path, or the PyPI packages.
    source_ref: str
    path: str
    managed: bool  # lives in Lantern's models folder and is deleted on rm (imported-in-place is not)
    format: ModelFormat
    backend: ModelBackend
    size_bytes: int
    sha256: str | None  # None only for multi-file MLX folders (their manifest is stored elsewhere)
    verified_at: datetime | None = None  # UTC
    status: ModelStatus = "ok"
    catalog_id: str | None = None
    quant: str | None = None
    architecture: str | None = None
    context_length: int | None = None
    has_chat_template: bool | None = None
    measured_tps: float | None = None  # filled by `lantern bench`
    added_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not _VALID_ID.fullmatch(self.id):
            raise InvalidModelId(
                _("'{id}' cannot be a model id.").format(id=self.id),
                hint=_("Use letters, digits, '.', '_', ':' and '-', starting with a letter or digit."),
            )
        # The rest are programming errors, not user errors: plain ValueError.
        for name, allowed in (("source", ModelSource), ("format", ModelFormat), ("backend", ModelBackend),
                              ("status", ModelStatus)):
            value = getattr(self, name)
            if value not in get_args(allowed):
                raise ValueError(f"InstalledModel.{name} must be one of {get_args(allowed)}, got {value!r}")
        if self.size_bytes < 0:
            raise ValueError(f"InstalledModel.size_bytes must be >= 0, got {self.size_bytes}")
        if self.sha256 is not None:
            object.__setattr__(self, "sha256", self.sha256.lower())
            if not _SHA256.fullmatch(self.sha256):
                raise ValueError(f"InstalledModel.sha256 must be 64 hex digits, got {self.sha256!r}")
        elif self.format != "mlx":
            raise ValueError("InstalledModel.sha256 may be None only for a multi-file MLX folder")
        if self.context_length is not None and self.context_length < 0:
            raise ValueError(f"InstalledModel.context_length must be >= 0, got {self.context_length}")
        if self.measured_tps is not None and not self.measured_tps > 0:
            raise ValueError(f"InstalledModel.measured_tps must be positive, got {self.measured_tps}")
        object.__setattr__(self, "verified_at", _utc(self.verified_at, "verified_at"))
        object.__setattr__(self, "added_at", _utc(self.added_at, "added_at"))

    @property
    def usable(self) -> bool:
        """Safe to load: checked at least once and found intact."""
        return self.status == "ok" and self.verified_at is not None


def slugify_model_id(text: str) -> str:
    """Lower-case ASCII, runs of other characters become '-', starts with a letter or digit."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9._:-]+", "-", ascii_text)
    slug = re.sub(r"-{2,}", "-", slug)
    slug = slug[:MAX_MODEL_ID_LENGTH].strip("-._:")
    return slug or "model"


def unique_model_id(base: str, taken: Collection[str]) -> str:
    """A valid id made from `base` that is not in `taken`: "name", then "name-2", "name-3", ...

    Clashes are checked case-insensitively, since users type ids in any case.
    """
    slug = slugify_model_id(base)
    folded = {t.casefold() for t in taken}
    if slug not in folded:
        return slug
    n = 2
    while f"{slug}-{n}" in folded:
        n += 1
    return f"{slug}-{n}"


def resolve_model_ref(ref: str, models: Iterable[InstalledModel]) -> InstalledModel:
    """The one installed model `ref` names: its exact id, else a unique id prefix or catalog id.

    Exact ids always win (so "phi" finds "phi" even when "phi-2" exists); otherwise every model
    whose id starts with `ref` or whose catalog id equals it is a candidate, case-insensitively.
    """
    candidates = list(models)
    wanted = ref.strip()
    for model in candidates:
        if model.id == wanted:
            return model
    folded = wanted.casefold()
    exact = [m for m in candidates if m.id.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    matches = [] if not folded else sorted(
        (m for m in candidates
         if m.id.casefold().startswith(folded) or (m.catalog_id or "").casefold() == folded),
        key=lambda m: m.id,
    )
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ModelNotInstalled(
            _("No installed model is called '{wanted}'.").format(wanted=wanted),
            hint=_("See `lantern models list`."),
            debug_context={"ref": ref, "installed": [m.id for m in candidates]},
        )
    shown = ", ".join(m.id for m in matches[:10]) + (", …" if len(matches) > 10 else "")
    raise AmbiguousModelRef(
        _("'{wanted}' matches {count} installed models: {shown}.").format(
          wanted=wanted, count=len(matches), shown=shown),
        hint=_("Type more of the id; `lantern models list` shows them all."),
        debug_context={"ref": ref, "candidates": [m.id for m in matches]},
    )
