"""Load planning on recorded profiles of real hardware classes, and the fallback ladder."""

from __future__ import annotations

import pytest

from app.core.errors import BackendUnavailable, NotEnoughMemory
from app.core.load_plan import MIN_CONTEXT, LoadAttempt, LoadPlan, describe_load, fallback_plans, plan_load
from app.core.profile import GIB, MemoryInfo
from app.services.catalog_store import default_catalog, default_performance_table
from tests.hardware_scenarios import profile

CATALOG = default_catalog()
TABLE = default_performance_table()


def variant(model_id: str, quant: str):
    model = next(m for m in CATALOG.models if m.id == model_id)
    return model, next(v for v in CATALOG.variants(model) if v.quant == quant)


def test_full_gpu_on_a_desktop_rtx_3060():
    model, v = variant("qwen3-4b", "Q4_K_M")
    plan = plan_load(profile("rtx3060-desktop"), model, v, table=TABLE, context_length=4096)
    assert plan.backend == "llama.cpp"
    assert plan.placement == "gpu" and plan.gpu_layers == model.n_layers
    assert plan.flash_attn is True and "RTX 3060" in plan.device
    assert any("layers on the" in r for r in plan.reasons)


def test_partial_offload_on_a_busy_gtx_1650_says_how_many_layers():
    model, v = variant("qwen3-4b", "Q5_K_M")
    plan = plan_load(profile("gtx1650-laptop-busy"), model, v, table=TABLE, context_length=4096)
    assert plan.placement == "partial"
    assert 0 < plan.gpu_layers < model.n_layers
    assert any(f"{plan.gpu_layers} of {model.n_layers} layers" in r for r in plan.reasons)


def test_cpu_only_box_uses_physical_cores_and_no_gpu():
    model, v = variant("qwen2.5-coder-0.5b-instruct", "Q4_K_M")
    p = profile("ci-box-2core")
    plan = plan_load(p, model, v, table=TABLE, context_length=4096)
    assert plan.placement == "cpu" and plan.device == "CPU"
    assert plan.n_threads == p.cpu.physical_cores == plan.n_threads_batch
    assert plan.use_mmap and plan.kv_type == "f16"


def test_apple_mlx_variant_gets_the_mlx_backend():
    model, v = variant("qwen3-4b", "mlx-4bit")
    plan = plan_load(profile("m2-16gb"), model, v, table=TABLE, context_length=4096)
    assert plan.backend == "mlx" and plan.placement == "gpu"


def test_mlx_variant_on_linux_is_refused_clearly():
    model, v = variant("qwen3-4b", "mlx-4bit")
    with pytest.raises(BackendUnavailable, match="cannot run here"):
        plan_load(profile("ci-box-2core"), model, v, table=TABLE, context_length=4096)


def test_context_longer_than_trained_is_clamped_with_a_reason():
    model = next(m for m in CATALOG.models if m.id == "smollm2-135m-instruct")
    v = next(v for v in CATALOG.variants(model) if v.format == "gguf")
    plan = plan_load(profile("ci-box-2core"), model, v, table=TABLE, context_length=model.max_context * 4)
    assert plan.context_length == model.max_context
    assert any("trained for" in r for r in plan.reasons)


def test_tight_memory_shortens_the_context_before_refusing():
    model, v = variant("qwen3-4b", "Q4_K_M")
    p = profile("laptop-8gb-no-gpu")
    # Only a little free RAM: the 32k context's KV cache cannot fit, a shorter one can.
    tight = p.model_copy(update={"memory": MemoryInfo(total_bytes=8 * GIB, available_bytes=int(4.6 * GIB))})
    plan = plan_load(tight, model, v, table=TABLE, context_length=32768)
    assert MIN_CONTEXT <= plan.context_length < 32768
    assert any("context shortened" in r for r in plan.reasons)


def test_model_too_large_even_at_the_minimum_context_is_refused_before_loading():
    model, v = variant("qwen3-14b", "Q8_0")
    with pytest.raises(NotEnoughMemory) as err:
        plan_load(profile("box-4gb-no-avx2"), model, v, table=TABLE, context_length=4096)
    assert err.value.hint and "smaller model" in err.value.hint


def test_settings_override_threads_and_gpu_layers():
    model, v = variant("qwen3-4b", "Q4_K_M")
    plan = plan_load(profile("rtx3060-desktop"), model, v, table=TABLE, context_length=4096, n_threads=3,
                     gpu_layers=0)
    assert plan.n_threads == 3 and plan.placement == "cpu"
    assert any("from settings" in r for r in plan.reasons)


def gpu_plan(layers: int = 36, ctx: int = 8192) -> LoadPlan:
    return LoadPlan(backend="llama.cpp", context_length=ctx, gpu_layers=layers, total_layers=layers, n_threads=4,
                    n_threads_batch=4, flash_attn=True, device="RTX 3060")


def test_fallback_ladder_fewer_layers_then_shorter_context_then_cpu():
    ladder = fallback_plans(gpu_plan())
    layers = [p.gpu_layers for p in ladder]
    assert layers[:3] == [27, 18, 9]                       # 3/4, 1/2, 1/4 of the layers
    assert [p.context_length for p in ladder[3:5]] == [4096, 2048]   # then shorter, keeping 9 layers
    cpu = [p for p in ladder if p.placement == "cpu"]
    assert cpu[0].context_length == 8192 and cpu[0].device == "CPU"  # CPU at the planned context first
    assert [p.context_length for p in cpu] == [8192, 4096, 2048]
    assert ladder[-1].placement == "cpu"
    assert all(p.reasons for p in ladder)


def test_cpu_plan_only_shortens_context():
    cpu = LoadPlan(backend="llama.cpp", context_length=8192, gpu_layers=0, total_layers=30, n_threads=2,
                   n_threads_batch=2)
    assert [p.context_length for p in fallback_plans(cpu)] == [4096, 2048]
    assert fallback_plans(cpu.with_reason("x", context_length=2048)) == []


def test_describe_load_says_where_and_why():
    planned = gpu_plan()
    used = fallback_plans(planned)[5]
    assert used.placement == "cpu"
    message = describe_load([LoadAttempt(planned, "cudaMalloc failed: out of memory"), LoadAttempt(used, None)])
    assert message is not None
    assert "CPU only" in message and "cudaMalloc failed: out of memory" in message and "slower" in message
    assert describe_load([LoadAttempt(planned, None)]) is None
