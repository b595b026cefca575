"""Installed-model entries: ids, validation, and resolving what the user typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.errors import AmbiguousModelRef, InvalidModelId, LanternError, ModelNotInstalled
from app.core.installed import (
    MODEL_ID_PATTERN,
    InstalledModel,
    resolve_model_ref,
    slugify_model_id,
    unique_model_id,
)

SHA = "ab" * 32


def entry(model_id: str, **changes) -> InstalledModel:
    fields = dict(id=model_id, display_name=model_id, source="import", source_ref="/tmp/x.gguf", path="/tmp/x.gguf",
                  managed=False, format="gguf", backend="llama.cpp", size_bytes=1, sha256=SHA,
                  verified_at=datetime(2025, 1, 1, tzinfo=UTC))
    return InstalledModel(**{**fields, **changes})


@pytest.mark.parametrize(("base", "expected"), [
    ("Qwen2.5-Coder-0.5B-Instruct:Q8_0", "qwen2.5-coder-0.5b-instruct:q8_0"),
    ("SmolLM2 135M Instruct (Q4_1)", "smollm2-135m-instruct-q4_1"),
    ("  --My   Model--  ", "my-model"),
    ("Mô hình tiếng Việt", "mo-hinh-tieng-viet"),
    ("模型", "model"),
    ("", "model"),
    ("../../etc/passwd", "etc-passwd"),
])
def test_slugify(base, expected):
    assert slugify_model_id(base) == expected


def test_unique_model_id_appends_a_counter():
    assert unique_model_id("phi", []) == "phi"
    assert unique_model_id("phi", ["phi"]) == "phi-2"
    assert unique_model_id("Phi", ["phi", "phi-2", "phi-4"]) == "phi-3"
    assert unique_model_id("phi", ["PHI"]) == "phi-2"  # clashes are case-insensitive


@given(base=st.text(max_size=200), taken=st.lists(st.text(max_size=30), max_size=20))
def test_unique_model_id_is_always_valid_and_free(base, taken):
    got = unique_model_id(base, taken)
    assert MODEL_ID_PATTERN.fullmatch(got)
    assert got not in taken


@given(base=st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True), n=st.integers(0, 30))
def test_unique_model_id_with_many_clashes(base, n):
    taken = [base] + [f"{base}-{i}" for i in range(2, n + 2)]
    assert unique_model_id(base, taken) == f"{base}-{n + 2}"


def test_usable_needs_ok_and_verified():
    assert entry("a").usable
    assert not entry("a", verified_at=None).usable
    assert not entry("a", status="corrupt").usable
    assert not entry("a", status="missing").usable


def test_datetimes_are_normalised_to_utc_and_naive_ones_refused():
    plus7 = timezone(timedelta(hours=7))
    model = entry("a", verified_at=datetime(2025, 1, 1, 7, tzinfo=plus7), added_at=datetime(2025, 1, 1, tzinfo=plus7))
    assert model.verified_at == datetime(2025, 1, 1, 0, tzinfo=UTC) and model.verified_at.tzinfo is UTC
    assert model.added_at.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        entry("a", verified_at=datetime(2025, 1, 1))
    assert entry("a").added_at.tzinfo is UTC  # default: now, in UTC


def test_validation():
    with pytest.raises(InvalidModelId) as info:
        entry("My Model")
    assert isinstance(info.value, LanternError) and info.value.hint
    assert entry("qwen:Q8_0").id == "qwen:Q8_0"  # catalog quant names keep their case
    with pytest.raises(ValueError, match="status"):
        entry("a", status="broken")
    with pytest.raises(ValueError, match="sha256"):
        entry("a", sha256="nothex")
    with pytest.raises(ValueError, match="MLX"):
        entry("a", sha256=None)
    assert entry("a", sha256=None, format="mlx", backend="mlx").sha256 is None
    assert entry("a", sha256=SHA.upper()).sha256 == SHA


def test_resolve_model_ref():
    models = [entry("phi"), entry("phi-2"), entry("qwen2.5-coder-0.5b-instruct:q8_0", catalog_id="qwen-coder-0.5b"),
              entry("qwen2.5-coder-0.5b-instruct:q4_k_m", catalog_id="qwen-coder-0.5b"),
              entry("smollm2-135m:q4_1", catalog_id="smollm2-135m")]
    assert resolve_model_ref("phi", models).id == "phi"  # exact wins over prefix
    assert resolve_model_ref("PHI-2", models).id == "phi-2"
    assert resolve_model_ref("smol", models).id == "smollm2-135m:q4_1"
    assert resolve_model_ref("smollm2-135m", models).id == "smollm2-135m:q4_1"
    assert resolve_model_ref("qwen2.5-coder-0.5b-instruct:q8", models).id == "qwen2.5-coder-0.5b-instruct:q8_0"
    with pytest.raises(AmbiguousModelRef) as info:
        resolve_model_ref("qwen-coder-0.5b", models)
    assert "q8_0" in info.value.user_message and "q4_k_m" in info.value.user_message and info.value.hint
    with pytest.raises(ModelNotInstalled) as missing:
        resolve_model_ref("llama", models)
    assert missing.value.hint == "See `lantern models list`."
    with pytest.raises(ModelNotInstalled):
        resolve_model_ref("", models)
