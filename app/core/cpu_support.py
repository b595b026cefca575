"""Which processors the shipped binaries can run on, decided from the CPU's feature flags.

The floor on x86-64 is x86-64-v2 (SSSE3, SSE4.1, SSE4.2, POPCNT): NumPy 2.x wheels are built with
that baseline (numpy reports `X86_V2`) and NumPy is imported by llama-cpp-python, the vector index
and the embedder. llama.cpp itself picks a CPU backend at run time down to plain x86-64, and hnswlib
is built without -march=native (installers/portable.py), so they add nothing above that floor.
ARM64 has no optional feature the binaries rely on (Advanced SIMD is mandatory in AArch64).
"""

from __future__ import annotations

from collections.abc import Iterable

from app.core.errors import UnsupportedProcessor
from app.core.i18n import _

REQUIRED_FEATURES: dict[str, tuple[str, ...]] = {"x86_64": ("ssse3", "sse4_1", "sse4_2", "popcnt")}
FEATURE_NAMES = {"ssse3": "SSSE3", "sse4_1": "SSE4.1", "sse4_2": "SSE4.2", "popcnt": "POPCNT"}


def normalise_arch(machine: str) -> str:
    m = machine.lower()
    if m in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if m in ("arm64", "aarch64", "armv8l", "arm64e"):
        return "arm64"
    return m


def missing_features(arch: str, flags: Iterable[str] | None) -> tuple[str, ...]:
    """Required features absent from `flags`; nothing when the flags are unknown (we cannot tell)."""
    if flags is None:
        return ()
    have = {f.lower() for f in flags}
    return tuple(f for f in REQUIRED_FEATURES.get(arch, ()) if f not in have)


def unsupported_processor(missing: tuple[str, ...], brand: str | None = None) -> UnsupportedProcessor:
    names = ", ".join(FEATURE_NAMES.get(f, f.upper()) for f in missing)
    which = _("This processor ({brand})").format(brand=brand) if brand else _("This processor")
    return UnsupportedProcessor(
        _("Lantern cannot run on this computer. {which} lacks {names}, which Lantern's built-in AI and search "
          "libraries need (they are in almost every PC made since 2010).").format(which=which, names=names),
        hint=_("Use Lantern on a newer computer. If you are sure this processor has these instructions "
               "(a virtual machine can hide them), set LANTERN_SKIP_CPU_CHECK=1 to start anyway."))
