"""The bandwidth table (resources/hardware/performance.toml) as validated data."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import CatalogInvalid
from app.core.i18n import _


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BandwidthEntry(_Strict):
    match: str
    bandwidth_gbps: float = Field(gt=0)
    source: str = Field(min_length=3)


class PerformanceDefaults(_Strict):
    efficiency: float = Field(gt=0, le=1)
    cpu_ram_gbps: float = Field(gt=0)
    cpu_core_gbps: float = Field(gt=0)
    cpu_token_overhead_ms: float = Field(ge=0)
    gpu_token_overhead_ms: float = Field(ge=0)
    gpu_gbps: float = Field(gt=0)
    simd_core_factor: dict[str, float]

    def core_factor(self, features: tuple[str, ...] | None) -> float:
        """The factor of the widest SIMD level present (features None = unknown)."""
        if features is None:
            return self.simd_core_factor["unknown"]
        for level in ("avx512f", "avx2", "avx", "sse4_2", "dotprod", "neon"):
            if level in features and level in self.simd_core_factor:
                return self.simd_core_factor[level]
        return self.simd_core_factor.get("sse4_2", 0.25)


class PerformanceTable(_Strict):
    schema_version: int
    defaults: PerformanceDefaults
    apple: tuple[BandwidthEntry, ...] = ()
    gpu: tuple[BandwidthEntry, ...] = ()
    board: tuple[BandwidthEntry, ...] = ()

    @staticmethod
    def _lookup(entries: tuple[BandwidthEntry, ...], name: str | None) -> BandwidthEntry | None:
        if not name:
            return None
        # Whole-word match, so "A10" does not match "RTX A1000" nor "L4" match "L40S".
        hits = [e for e in entries if re.search(rf"(?<![\w]){re.escape(e.match)}(?![\w])", name, re.I)]
        return max(hits, key=lambda e: len(e.match)) if hits else None

    def apple_chip(self, chip: str | None) -> BandwidthEntry | None:
        return self._lookup(self.apple, chip)

    def gpu_named(self, name: str | None) -> BandwidthEntry | None:
        return self._lookup(self.gpu, name)

    def board_named(self, name: str | None) -> BandwidthEntry | None:
        return self._lookup(self.board, name)


def parse_performance_table(data: dict[str, Any]) -> PerformanceTable:
    try:
        return PerformanceTable.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CatalogInvalid(
            _("The hardware performance table is invalid at '{where}': {msg}.").format(
              where=".".join(map(str, first["loc"])), msg=first["msg"]),
            hint=_("Fix resources/hardware/performance.toml, or reinstall Lantern."),
        ) from exc
