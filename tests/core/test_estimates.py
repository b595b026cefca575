"""Memory formula, quantisation sizes and placement (full / partial / CPU / too large)."""

from __future__ import annotations

import pytest

from app.core.catalog import CatalogModel, Variant
from app.core.estimates import (
    APP_RAM_OVERHEAD,
    estimate_memory,
    plan_fit,
    usable_vram,
)
from app.core.profile import GIB, MIB, GpuInfo
from app.core.quant import QUANTS, estimated_file_bytes, quality_after_quant
from app.services.catalog_store import default_performance_table
from tests.hardware_scenarios import profile

# Llama 3.1 8B's published architecture (config.json): 32 layers, 8 KV heads of dim 128.
LLAMA_8B = CatalogModel(
    id="llama-3.1-8b-instruct", name="Llama 3.1 8B Instruct", kind="chat", family="llama3.1", params_b=8.03,
    architecture="llama", n_layers=32, n_heads=32, n_kv_heads=8, head_dim=128, hidden_size=4096,
    vocab_size=128256, max_context=131072, license="llama3.1",
    quality={"score": 69.4, "metric": "MMLU", "source": "test"},
    gguf={"repo": "example/Llama-3.1-8B-GGUF", "files": {"Q4_K_M": "m-Q4_K_M.gguf", "Q8_0": "m-Q8_0.gguf"}},
)
Q4 = Variant(model_id=LLAMA_8B.id, format="gguf", quant="Q4_K_M", repo="r", file="m-Q4_K_M.gguf")
Q8 = Variant(model_id=LLAMA_8B.id, format="gguf", quant="Q8_0", repo="r", file="m-Q8_0.gguf")
TABLE = default_performance_table()


def test_kv_cache_formula():
    # 2 (K and V) x 32 layers x 8 heads x 128 dims x 8192 tokens x 2 bytes (f16) = exactly 1 GiB.
    assert estimate_memory(LLAMA_8B, Q4, 8192).kv_cache_bytes == 1 * GIB
    assert estimate_memory(LLAMA_8B, Q4, 8192, kv_type="q8_0").kv_cache_bytes == int(GIB * 34 / 32 / 2)


def test_context_is_capped_at_the_models_maximum():
    assert estimate_memory(LLAMA_8B, Q4, 10**7).context_length == 131072


def test_quant_sizes_reproduce_llama_cpps_reference_sizes():
    # By construction the Llama-3-8B file sizes llama.cpp prints come back out.
    assert estimated_file_bytes(8.03, "Q4_K_M") / GIB == pytest.approx(4.58, abs=0.01)
    assert estimated_file_bytes(8.03, "Q8_0") / GIB == pytest.approx(7.96, abs=0.01)
    bpw = {name: q.bits_per_weight for name, q in QUANTS.items()}
    assert bpw["Q4_0"] < bpw["Q4_K_M"] < bpw["Q5_K_M"] < bpw["Q5_1"] < bpw["Q8_0"] < bpw["F16"] == 16


def test_quality_cost_ordering():
    scores = [quality_after_quant(70, q) for q in ("Q4_0", "Q4_K_M", "Q5_K_M", "Q8_0")]
    assert scores == sorted(scores) and scores[-1] == pytest.approx(70, abs=0.05)


def _with_gpu(name: str, *, total_mib: int, free_mib: int):
    base = profile("rtx3060-desktop")
    gpu = GpuInfo(vendor="nvidia", name=name, total_vram_bytes=total_mib * MIB, free_vram_bytes=free_mib * MIB,
                  used_vram_bytes=(total_mib - free_mib) * MIB, source="nvidia-smi")
    return base.model_copy(update={"gpus": (gpu,)})


def test_full_partial_and_cpu_placements():
    full = plan_fit(_with_gpu("NVIDIA GeForce RTX 3060", total_mib=12288, free_mib=11806), LLAMA_8B, Q4,
                    context_length=8192, table=TABLE)
    assert full.verdict == "full_gpu" and full.gpu_layers == 32 and full.ram_bytes == APP_RAM_OVERHEAD
    partial = plan_fit(_with_gpu("NVIDIA GeForce RTX 3060", total_mib=12288, free_mib=4000), LLAMA_8B, Q4,
                       context_length=8192, table=TABLE)
    assert partial.verdict == "partial_gpu" and 0 < partial.gpu_layers < 32
    assert partial.vram_bytes <= usable_vram(_with_gpu("x", total_mib=12288, free_mib=4000).gpus[0])
    assert partial.tokens_per_second < full.tokens_per_second
    cpu = plan_fit(_with_gpu("NVIDIA GeForce RTX 3060", total_mib=12288, free_mib=300), LLAMA_8B, Q4,
                   context_length=8192, table=TABLE)
    assert cpu.verdict == "cpu_only" and cpu.gpu_layers == 0 and "usable VRAM" in cpu.reason
    assert cpu.tokens_per_second < partial.tokens_per_second


def test_vram_used_by_other_apps_counts():
    idle = plan_fit(_with_gpu("NVIDIA GeForce RTX 3060", total_mib=12288, free_mib=12000), LLAMA_8B, Q8,
                    context_length=4096, table=TABLE)
    busy = plan_fit(_with_gpu("NVIDIA GeForce RTX 3060", total_mib=12288, free_mib=6000), LLAMA_8B, Q8,
                    context_length=4096, table=TABLE)
    assert idle.verdict == "full_gpu" and busy.verdict == "partial_gpu"


def test_too_large_for_a_small_box():
    fit = plan_fit(profile("box-4gb-no-avx2"), LLAMA_8B, Q8, context_length=4096, table=TABLE)
    assert fit.verdict == "too_large" and fit.tokens_per_second is None and "needs" in fit.reason


def test_cpu_build_on_a_gpu_machine_says_why():
    p = profile("rtx3060-desktop")
    no_gpu = p.runtimes.llama_cpp.model_copy(update={"gpu_offload": False})
    cpu_build = p.runtimes.model_copy(update={"llama_cpp": no_gpu})
    fit = plan_fit(p.model_copy(update={"runtimes": cpu_build}), LLAMA_8B, Q4, context_length=4096, table=TABLE)
    assert fit.verdict == "cpu_only" and "no GPU support" in fit.reason


def test_measured_speed_replaces_the_estimate():
    p = profile("ci-box-2core")
    fit = plan_fit(p, LLAMA_8B, Q4, context_length=4096, table=TABLE, measured_tps={Q4.key: 3.3})
    assert fit.tokens_per_second == 3.3 and fit.speed_source == "measured"


def test_speed_estimate_matches_the_measurements_it_was_calibrated_on():
    # Measured on this 2-core box with benchmarks/decode_speed.py (docs/benchmarks.md):
    # Qwen2.5-Coder-0.5B Q8_0 (491,400,064 bytes) 47.2 tok/s, SmolLM2-135M Q4_1 (98,362,432) 119.4.
    from app.core.estimates import SpeedModel

    speed = SpeedModel(TABLE, profile("ci-box-2core"))
    assert speed.tokens_per_second(gpu_bytes=0, cpu_bytes=491_400_064, gpu=None) == pytest.approx(47.2, rel=0.15)
    assert speed.tokens_per_second(gpu_bytes=0, cpu_bytes=98_362_432, gpu=None) == pytest.approx(119.4, rel=0.15)
