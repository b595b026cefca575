"""The model catalog: which models exist, where their files are, and the facts the planner needs.

The catalog is data (resources/catalog/models.toml), validated against these types, so a model
is added by editing the file, not the code. It never carries checksums or exact sizes: sizes are
estimated from parameters x bits per weight, and the server supplies size and sha256 at download.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.core.errors import CatalogInvalid, UnknownModel
from app.core.i18n import _
from app.core.quant import QUANTS, estimated_file_bytes
from app.core.think_filter import DeclaredThinking, ThinkingSwitch

CATALOG_SCHEMA_VERSION = 1
Strength = Literal["general", "code", "multilingual", "reasoning"]
RUNNABLE_RUNTIMES = ("llama.cpp",)  # MLX variants are a format of a llama.cpp-runnable entry


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Quality(_Strict):
    score: float = Field(ge=0, le=100)
    metric: str
    source: str = Field(min_length=3)


class GgufExtra(_Strict):
    repo: str
    quant: str
    file: str


class GgufSource(_Strict):
    repo: str
    files: dict[str, str] = Field(default_factory=dict)
    extra: tuple[GgufExtra, ...] = ()

    @model_validator(mode="after")
    def _known_quants(self) -> GgufSource:
        for q in [*self.files, *(e.quant for e in self.extra)]:
            if q not in QUANTS:
                raise ValueError(f"unknown quantisation type {q!r}")
        for name in [*self.files.values(), *(e.file for e in self.extra)]:
            if not name.endswith(".gguf"):
                raise ValueError(f"GGUF file name must end in .gguf: {name!r}")
        return self


class CatalogModel(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    kind: Literal["chat", "embedding"]
    family: str
    params_b: float = Field(gt=0, lt=1000)
    architecture: str
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_context: int = Field(gt=0)
    license: str
    languages: tuple[str, ...] = ()
    strengths: tuple[Strength, ...] = ()
    runtime: str = "llama.cpp"
    unsupported_reason: str | None = None
    quality: Quality
    gguf: GgufSource | None = None
    mlx: dict[str, str] = Field(default_factory=dict)
    embedding_dim: int | None = None
    pooling: Literal["mean", "cls", "last"] | None = None
    # Whether the model writes hidden <think> reasoning first, and how tutoring turns that off
    # (app.core.think_filter): false, "template" (the chat template's enable_thinking switch),
    # "soft-switch" (only `soft_switch` in the messages) or "always" (cannot be turned off).
    thinking: ThinkingSwitch | Literal[False] = False
    soft_switch: str | None = Field(default=None, min_length=2)   # the family's documented marker, "/no_think"

    @field_validator("mlx")
    @classmethod
    def _mlx_bits(cls, value: dict[str, str]) -> dict[str, str]:
        for bits, repo in value.items():
            if bits not in ("4bit", "8bit"):
                raise ValueError(f"MLX variant must be '4bit' or '8bit', not {bits!r}")
            if "/" not in repo:
                raise ValueError(f"MLX repo must be owner/name: {repo!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CatalogModel:
        if self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads must be a multiple of n_kv_heads")
        if self.runtime not in RUNNABLE_RUNTIMES and not self.unsupported_reason:
            raise ValueError(f"runtime {self.runtime!r} is not shipped: give unsupported_reason")
        if self.kind == "embedding" and not self.embedding_dim:
            raise ValueError("embedding models need embedding_dim")
        if self.gguf is None and not self.mlx:
            raise ValueError("a model needs GGUF files or MLX repos")
        if self.thinking and self.kind != "chat":
            raise ValueError("only chat models think")
        if self.thinking == "soft-switch" and not self.soft_switch:
            raise ValueError("thinking = 'soft-switch' needs the soft_switch marker")
        if self.soft_switch and self.thinking not in ("template", "soft-switch"):
            raise ValueError("soft_switch applies only to thinking = 'template' or 'soft-switch'")
        return self

    @property
    def declared_thinking(self) -> DeclaredThinking | None:
        """What the loaders need to know (None: the model does not think)."""
        return DeclaredThinking(self.thinking, self.soft_switch) if self.thinking else None


class Variant(_Strict):
    """One downloadable form of a model: a GGUF file in one quantisation, or an MLX repo."""

    model_id: str
    format: Literal["gguf", "mlx"]
    quant: str
    repo: str
    file: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model_id}:{self.quant}"


class Catalog(_Strict):
    schema_version: Literal[1]
    models: tuple[CatalogModel, ...]

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        for m in self.models:
            if m.id in seen:
                raise ValueError(f"duplicate model id {m.id!r}")
            seen.add(m.id)
        return self

    def get(self, model_id: str) -> CatalogModel:
        for m in self.models:
            if m.id == model_id:
                return m
        raise UnknownModel(_("There is no model '{model_id}' in the catalog.").format(model_id=model_id),
                           hint=_("See `lantern models recommend --all` for the ids."))

    def declared_thinking(self, model_id: str | None) -> DeclaredThinking | None:
        """The catalog's word on a model's thinking (None: not a catalog model, or it does not think)."""
        entry = next((m for m in self.models if m.id == model_id), None) if model_id else None
        return entry.declared_thinking if entry is not None else None

    def variants(self, model: CatalogModel) -> Iterator[Variant]:
        if model.gguf is not None:
            for q, file in model.gguf.files.items():
                yield Variant(model_id=model.id, format="gguf", quant=q, repo=model.gguf.repo, file=file)
            for extra in model.gguf.extra:
                if extra.quant not in model.gguf.files:
                    yield Variant(model_id=model.id, format="gguf", quant=extra.quant, repo=extra.repo, file=extra.file)
        for bits, repo in model.mlx.items():
            yield Variant(model_id=model.id, format="mlx", quant=f"mlx-{bits}", repo=repo)

    def all_variants(self, *, kind: str | None = "chat") -> Iterator[tuple[CatalogModel, Variant]]:
        for m in self.models:
            if kind is None or m.kind == kind:
                for v in self.variants(m):
                    yield m, v


def estimated_size_bytes(model: CatalogModel, variant: Variant) -> int:
    return estimated_file_bytes(model.params_b, variant.quant)


def parse_catalog(data: dict[str, Any], *, origin: str | None = None) -> Catalog:
    origin = origin or _("the model catalog")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        model_hint = ""
        match = re.match(r"models\.(\d+)", where)
        if match and isinstance(data.get("models"), list):
            idx = int(match.group(1))
            if idx < len(data["models"]) and isinstance(data["models"][idx], dict):
                model_hint = _(" (model '{id}')").format(id=data["models"][idx].get("id", "?"))
        raise CatalogInvalid(
            _("{origin} is invalid at '{where}'{model_hint}: {msg}.").format(
              origin=origin[:1].upper() + origin[1:], where=where, model_hint=model_hint, msg=first["msg"]),
            hint=_("Fix the entry in resources/catalog/models.toml, or reinstall Lantern."),
            debug_context={"errors": exc.errors(include_url=False)},
        ) from exc
