"""The shipped catalog validates against its schema and carries what issue 2 asks for."""

from __future__ import annotations

import re
import tomllib

import pytest

from app.core.catalog import parse_catalog
from app.core.errors import CatalogInvalid
from app.core.quant import QUANTS
from app.core.think_filter import DeclaredThinking
from app.services.catalog_store import load_catalog, load_performance_table
from app.services.resources import resource_path

CATALOG_PATH = resource_path("catalog", "models.toml")

REQUIRED_CHAT = [
    "smollm2-135m-instruct", "smollm2-360m-instruct", "smollm2-1.7b-instruct",
    "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct",
    "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b",
    "llama-3.2-1b-instruct", "llama-3.2-3b-instruct", "llama-3.1-8b-instruct",
    "phi-3-mini-4k-instruct", "phi-4-mini-instruct", "gemma-2-2b-it", "gemma-2-9b-it",
    "gemma-3-270m-it", "gemma-3-1b-it", "gemma-3-4b-it", "gemma-3-12b-it", "gemma-3-27b-it",
    "mistral-7b-instruct-v0.3",
]
REQUIRED_EMBEDDING = ["all-minilm-l6-v2", "bge-small-en-v1.5", "nomic-embed-text-v1.5", "multilingual-e5-small"]


@pytest.fixture(scope="module")
def raw():
    with CATALOG_PATH.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_every_required_model_is_listed(catalog):
    ids = {m.id for m in catalog.models}
    assert set(REQUIRED_CHAT) <= ids
    assert set(REQUIRED_EMBEDDING) <= ids
    for mid in REQUIRED_EMBEDDING:
        m = catalog.get(mid)
        assert m.kind == "embedding" and m.embedding_dim and m.pooling


def test_chat_models_come_in_the_quantisations_people_pick(catalog):
    for mid in REQUIRED_CHAT:
        quants = {v.quant for v in catalog.variants(catalog.get(mid)) if v.format == "gguf"}
        assert {"Q4_K_M", "Q5_K_M"} <= quants, mid
        assert quants & {"Q8_0"} or mid.startswith("phi-3"), mid
    all_quants = {v.quant for _, v in catalog.all_variants()}
    assert {"Q4_0", "Q4_K_M", "Q5_K_M", "Q5_1", "Q8_0"} <= all_quants  # the seeds name Q4_0 and Q5_1


def test_mlx_variants_for_apple_silicon(catalog):
    mlx = [v for _, v in catalog.all_variants() if v.format == "mlx"]
    assert len({v.model_id for v in mlx}) >= 20
    assert all(v.repo.startswith("mlx-community/") for v in mlx)


def test_bitnet_is_listed_as_needing_another_runtime(catalog):
    bitnet = next(m for m in catalog.models if m.id.startswith("bitnet"))
    assert bitnet.runtime != "llama.cpp" and bitnet.unsupported_reason and "bitnet.cpp" in bitnet.unsupported_reason


def test_entries_carry_planner_facts_license_and_named_quality_source(catalog):
    for m in catalog.models:
        assert m.n_layers and m.n_kv_heads and m.head_dim and m.max_context, m.id
        assert m.license and m.quality.source and m.quality.metric, m.id


def test_no_checksums_or_exact_sizes_in_the_catalog():
    text = CATALOG_PATH.read_text()
    assert not re.search(r"\b[0-9a-f]{64}\b", text), "the catalog must never carry a sha256"
    assert not re.search(r"^\s*(size|bytes|sha256|size_bytes)\s*=", text, re.M)


def test_file_names_are_gguf_and_repos_are_owner_slash_name(catalog):
    for _, v in catalog.all_variants(kind=None):
        assert re.fullmatch(r"[\w.\-]+/[\w.\-]+", v.repo), v.repo
        assert v.format == "mlx" or (v.file or "").endswith(".gguf")
        assert v.quant in QUANTS


def _with(raw, index, **changes):
    data = {"schema_version": raw["schema_version"], "models": [dict(m) for m in raw["models"]]}
    data["models"][index].update(changes)
    return data


@pytest.mark.parametrize(("changes", "message"), [
    ({"n_kv_heads": 5, "n_heads": 9}, "multiple of n_kv_heads"),
    ({"id": "Has Spaces"}, "id"),
    ({"gguf": {"repo": "a/b", "files": {"Q3_XL": "x.gguf"}}}, "unknown quantisation"),
    ({"gguf": {"repo": "a/b", "files": {"Q4_K_M": "x.bin"}}}, ".gguf"),
    ({"runtime": "exotic"}, "unsupported_reason"),
    ({"quality": {"score": 140, "metric": "MMLU", "source": "x"}}, "quality.score"),
    ({"mlx": {"3bit": "mlx-community/x"}}, "4bit"),
    ({"thinking": "sometimes"}, "thinking"),
    ({"thinking": "soft-switch"}, "needs the soft_switch"),
    ({"thinking": False, "soft_switch": "/no_think"}, "soft_switch applies only"),
    ({"thinking": "always", "soft_switch": "/no_think"}, "soft_switch applies only"),
])
def test_schema_rejects_bad_entries_with_a_clear_message(raw, changes, message):
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(_with(raw, 0, **changes))
    assert message in info.value.user_message and "models.0" in info.value.user_message


def test_duplicate_ids_are_rejected(raw):
    data = {"schema_version": 1, "models": [raw["models"][0], raw["models"][0]]}
    with pytest.raises(CatalogInvalid, match="duplicate"):
        parse_catalog(data)


def test_performance_table_validates_and_names_sources():
    table = load_performance_table()
    for entry in (*table.apple, *table.gpu, *table.board):
        assert entry.source and entry.bandwidth_gbps > 0
    assert table.gpu_named("NVIDIA GeForce RTX 3060 Ti").match == "RTX 3060 Ti"
    assert table.gpu_named("NVIDIA GeForce RTX 3060").match == "RTX 3060"
    assert table.apple_chip("Apple M3 Max").match == "Apple M3 Max"
    assert table.gpu_named("Some Future GPU") is None


def test_gpu_names_match_whole_words_and_laptop_parts():
    table = load_performance_table()
    assert table.gpu_named("NVIDIA RTX A1000") is None          # not the A10
    assert table.gpu_named("NVIDIA L40S") is None                # not the L4
    assert table.gpu_named("NVIDIA GeForce RTX 4090 Laptop GPU").bandwidth_gbps < \
        table.gpu_named("NVIDIA GeForce RTX 4090").bandwidth_gbps


# The families that write hidden <think> reasoning before answering, and how tutoring turns it off.
THINKING_FAMILIES = {"qwen3": ("template", "/no_think")}


def test_every_chat_model_says_whether_it_thinks(raw, catalog):
    for entry in raw["models"]:
        assert ("thinking" in entry) == (entry["kind"] == "chat"), entry["id"]   # stated, never left to a default
    for m in catalog.models:
        assert (m.thinking, m.soft_switch) == THINKING_FAMILIES.get(m.family, (False, None)), m.id
    assert catalog.get("qwen3-4b").declared_thinking == DeclaredThinking("template", "/no_think")
    assert catalog.declared_thinking("qwen3-14b") == DeclaredThinking("template", "/no_think")
    for mid in ("qwen2.5-coder-0.5b-instruct", "llama-3.2-1b-instruct", "phi-4-mini-instruct", "gemma-3-1b-it",
                "smollm2-135m-instruct", "all-minilm-l6-v2", "not-in-the-catalog", None):
        assert catalog.declared_thinking(mid) is None, mid


def test_an_embedding_model_cannot_think(raw):
    index = next(i for i, m in enumerate(raw["models"]) if m["kind"] == "embedding")
    with pytest.raises(CatalogInvalid, match="only chat models think"):
        parse_catalog(_with(raw, index, thinking="always"))
