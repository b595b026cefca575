"""Which processors the bundled binaries accept (app/core/cpu_support.py)."""

from __future__ import annotations

from app.core.cpu_support import missing_features, normalise_arch, unsupported_processor
from app.core.errors import LanternError


def test_x86_64_needs_the_v2_level():
    assert missing_features("x86_64", {"ssse3", "sse4_1", "sse4_2", "popcnt", "avx"}) == ()
    assert missing_features("x86_64", {"ssse3", "sse4_1", "popcnt"}) == ("sse4_2",)
    assert missing_features("x86_64", {"POPCNT", "SSSE3", "SSE4_1", "SSE4_2"}) == ()  # case does not matter


def test_unknown_flags_or_other_architectures_are_never_refused():
    assert missing_features("x86_64", None) == ()  # cannot tell: let the app try
    assert missing_features("arm64", set()) == ()


def test_normalise_arch():
    assert [normalise_arch(m) for m in ("AMD64", "x86_64", "aarch64", "arm64", "riscv64")] == [
        "x86_64", "x86_64", "arm64", "arm64", "riscv64"]


def test_refusal_names_the_missing_instructions_and_the_way_out():
    error = unsupported_processor(("ssse3", "sse4_2"), "AMD Phenom(tm) II X2 555 Processor")
    assert isinstance(error, LanternError)
    assert "SSSE3, SSE4.2" in error.user_message and "Phenom" in error.user_message
    assert error.hint and "LANTERN_SKIP_CPU_CHECK=1" in error.hint
