"""The device profile: what this machine has, as one versioned, serialisable value.

`lantern doctor --json` prints it and `--profile FILE` reads it back, so a user's diagnostics
reproduce their recommendation anywhere. Every field that a probe could not determine is None
("unknown"), and the probe's reason is kept in `notes`; nothing here is ever guessed.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import InvalidProfile
from app.core.i18n import _

PROFILE_SCHEMA: Literal["lantern.device-profile"] = "lantern.device-profile"
PROFILE_VERSION: Literal[1] = 1

GIB = 1024**3
MIB = 1024**2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OsInfo(_Frozen):
    system: str | None = Field(None, description="Linux, Darwin or Windows")
    release: str | None = Field(None, description="Kernel or OS release")
    version: str | None = Field(None, description="Human-readable OS version, e.g. 'macOS 14.5', 'Debian 12'")


class CpuInfo(_Frozen):
    arch: str | None = Field(None, description="x86_64 or arm64 (normalised)")
    brand: str | None = None
    physical_cores: int | None = Field(None, ge=1)
    logical_cores: int | None = Field(None, ge=1)
    performance_cores: int | None = Field(None, description="Apple/Intel hybrid: P-cores")
    efficiency_cores: int | None = Field(None, description="Apple/Intel hybrid: E-cores")
    features: tuple[str, ...] | None = Field(
        None, description="SIMD features present, from sse4_1 sse4_2 avx avx2 avx512f f16c fma neon"
    )
    board: str | None = Field(None, description="Board/computer model where the OS reports one (ARM boards)")

    def has(self, feature: str) -> bool | None:
        """True/False when features are known, None when they are not."""
        return None if self.features is None else feature in self.features


class MemoryInfo(_Frozen):
    total_bytes: int | None = Field(None, ge=0)
    available_bytes: int | None = Field(None, ge=0)
    swap_total_bytes: int | None = Field(None, ge=0)
    swap_free_bytes: int | None = Field(None, ge=0)


class DiskInfo(_Frozen):
    path: str | None = Field(None, description="The models directory the figures are for")
    total_bytes: int | None = Field(None, ge=0)
    free_bytes: int | None = Field(None, ge=0)


class AppleSiliconInfo(_Frozen):
    chip: str | None = Field(None, description="e.g. 'Apple M2 Pro'")
    unified_memory_bytes: int | None = Field(None, ge=0)
    gpu_working_set_bytes: int | None = Field(
        None, description="How much unified memory the GPU may wire (Metal's recommendedMaxWorkingSetSize)"
    )
    gpu_working_set_source: str | None = Field(None, description="'iogpu.wired_limit_mb' or 'default-ratio'")
    gpu_cores: int | None = None


class GpuInfo(_Frozen):
    vendor: Literal["nvidia", "amd", "intel", "apple", "other"]
    name: str
    index: int | None = None
    total_vram_bytes: int | None = Field(None, ge=0)
    free_vram_bytes: int | None = Field(None, ge=0)
    used_vram_bytes: int | None = Field(None, ge=0)
    compute_capability: str | None = Field(None, description="NVIDIA only, e.g. '8.6'")
    driver_version: str | None = None
    cuda_version: str | None = Field(None, description="Highest CUDA version the driver supports")
    source: str = Field(description="Which probe found it: nvml, nvidia-smi, sysfs, lspci, wmi, sysctl")


class LlamaCppRuntime(_Frozen):
    installed: bool = False
    version: str | None = None
    gpu_offload: bool | None = Field(None, description="llama_supports_gpu_offload() of the installed build")
    backends: tuple[str, ...] = Field((), description="Compiled-in backends: cpu, cuda, metal, vulkan, ...")


class MlxRuntime(_Frozen):
    installed: bool = False
    can_run: bool = False
    device: str | None = Field(None, description="'gpu' (Metal) or 'cpu'")
    reason: str | None = Field(None, description="Why MLX cannot run, when it cannot")


class Runtimes(_Frozen):
    llama_cpp: LlamaCppRuntime = LlamaCppRuntime()
    mlx: MlxRuntime = MlxRuntime()


class ProbeNote(_Frozen):
    probe: str
    status: Literal["ok", "unknown", "timeout", "error"]
    detail: str | None = None
    seconds: float | None = None


class DeviceProfile(_Frozen):
    schema_id: Literal["lantern.device-profile"] = Field(PROFILE_SCHEMA, alias="schema")
    version: Literal[1] = PROFILE_VERSION
    captured_at: str | None = Field(None, description="ISO-8601 UTC time of capture")
    lantern_version: str | None = None
    label: str | None = Field(None, description="Free text, e.g. which real machine a recorded profile is")
    os: OsInfo = OsInfo()
    cpu: CpuInfo = CpuInfo()
    memory: MemoryInfo = MemoryInfo()
    disk: DiskInfo = DiskInfo()
    apple: AppleSiliconInfo | None = None
    gpus: tuple[GpuInfo, ...] = ()
    runtimes: Runtimes = Runtimes()
    notes: tuple[ProbeNote, ...] = ()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def nvidia_gpus(self) -> tuple[GpuInfo, ...]:
        return tuple(g for g in self.gpus if g.vendor == "nvidia")

    @property
    def is_apple_silicon(self) -> bool:
        return self.apple is not None

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(by_alias=True, indent=indent)

    @classmethod
    def from_json(cls, text: str, *, origin: str = "profile") -> DeviceProfile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidProfile(
                _("The {origin} is not valid JSON (line {lineno}, column {colno}).").format(
                  origin=origin, lineno=exc.lineno, colno=exc.colno),
                hint=_("Use the output of `lantern doctor --json` unchanged."),
            ) from exc
        if not isinstance(data, dict) or data.get("schema") != PROFILE_SCHEMA:
            raise InvalidProfile(
                _('The {origin} is not a Lantern device profile (missing "schema": "{profile_schema}").').format(
                  origin=origin, profile_schema=PROFILE_SCHEMA),
                hint=_("Use the output of `lantern doctor --json` unchanged."),
            )
        if data.get("version") != PROFILE_VERSION:
            raise InvalidProfile(
                _("The {origin} has profile version {version!r}; this Lantern reads version {profile_version}.").format(
                  origin=origin, version=data.get('version'), profile_version=PROFILE_VERSION),
                hint=_("Capture it again with this version of Lantern (`lantern doctor --json`)."),
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidProfile(
                _("The {origin} has an invalid field '{where}': {msg}.").format(
                  origin=origin, where=where, msg=first['msg']),
                hint=_("Use the output of `lantern doctor --json` unchanged."),
                debug_context={"errors": exc.errors(include_url=False)},
            ) from exc
