"""Recommendations for recorded profiles of real hardware classes (tests/hardware_scenarios.py)."""

from __future__ import annotations

import pytest

from app.core.estimates import usable_apple_gpu, usable_ram, usable_vram
from app.core.profile import GIB, MemoryInfo
from app.core.recommend import CONVERSATIONAL_TPS, disk_needed, recommend
from app.services.catalog_store import default_catalog, default_performance_table
from tests.hardware_scenarios import profile

CATALOG = default_catalog()
TABLE = default_performance_table()

# scenario -> (model id, quant, verdict, words the reason must contain)
EXPECTED = {
    "m1-air-8gb": ("qwen3-4b", "mlx-4bit", "full_gpu", ("Apple M1 GPU", "MLX")),
    "m2-16gb": ("qwen3-4b", "mlx-4bit", "full_gpu", ("Apple M2 GPU", "MLX")),
    "m3-max-36gb": ("qwen3-14b", "mlx-4bit", "full_gpu", ("Apple M3 Max GPU", "MLX")),
    "rtx3060-desktop": ("qwen3-14b", "Q4_K_M", "full_gpu", ("entirely on the NVIDIA GeForce RTX 3060", "llama.cpp")),
    "rtx4090-workstation": ("qwen3-14b", "Q8_0", "full_gpu", ("entirely on the NVIDIA GeForce RTX 4090",)),
    "gtx1650-laptop-busy": ("qwen3-4b", "Q5_K_M", "partial_gpu", ("layers on the NVIDIA GeForce GTX 1650",)),
    "busy-vgpu": ("qwen3-4b", "Q5_K_M", "cpu_only", ("runs on the CPU",)),
    "laptop-8gb-no-gpu": ("qwen3-4b", "Q5_K_M", "cpu_only", ("runs on the CPU",)),
    "box-4gb-no-avx2": ("qwen2.5-1.5b-instruct", "Q5_K_M", "cpu_only", ("runs on the CPU",)),
    "rpi5-8gb": ("qwen3-1.7b", "Q4_K_M", "cpu_only", ("runs on the CPU",)),
    "ci-box-2core": ("qwen3-4b", "Q5_K_M", "cpu_only", ("runs on the CPU",)),
    "nearly-full-disk": ("qwen3-1.7b", "Q4_K_M", "cpu_only", ("runs on the CPU",)),
    "old-dual-xeon": ("qwen3-4b", "Q5_K_M", "cpu_only", ("runs on the CPU",)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pick_and_reason(name):
    model_id, quant, verdict, words = EXPECTED[name]
    p = profile(name)
    rec = recommend(p, CATALOG, table=TABLE)
    assert rec.pick is not None, rec.reason
    got = (rec.pick.model.id, rec.pick.variant.quant, rec.pick.fit.verdict)
    assert got == (model_id, quant, verdict), rec.reason
    for word in words:
        assert word in rec.reason, rec.reason
    assert rec.pick.fit.tokens_per_second >= CONVERSATIONAL_TPS
    assert rec.options[0] is rec.pick  # the ranking leads with the pick
    # every pick fits what is free, with headroom
    assert rec.pick.fit.ram_bytes <= usable_ram(p)
    assert disk_needed(rec.pick.download_bytes) <= p.disk.free_bytes
    if p.apple is not None:
        assert rec.pick.fit.memory.total_bytes <= usable_apple_gpu(p)
    elif verdict in ("full_gpu", "partial_gpu"):
        assert rec.pick.fit.vram_bytes <= usable_vram(p.nvidia_gpus[0])


def test_apple_prefers_mlx_but_also_ranks_gguf():
    rec = recommend(profile("m2-16gb"), CATALOG, table=TABLE)
    runnable = [o for o in rec.options if o.runs]
    assert {o.variant.format for o in runnable} == {"mlx", "gguf"}
    assert rec.pick.variant.format == "mlx"


def test_apple_without_mlx_falls_back_to_metal_gguf():
    p = profile("m2-16gb")
    no_mlx = p.runtimes.model_copy(update={"mlx": p.runtimes.mlx.model_copy(update={"can_run": False})})
    rec = recommend(p.model_copy(update={"runtimes": no_mlx}), CATALOG, table=TABLE)
    assert rec.pick.variant.format == "gguf" and rec.pick.fit.verdict == "full_gpu"


def test_the_busy_gpu_is_judged_by_its_free_memory():
    p = profile("busy-vgpu")
    gpu = p.nvidia_gpus[0]
    assert gpu.used_vram_bytes > gpu.free_vram_bytes  # 807 of 1024 MiB held by other processes
    rec = recommend(p, CATALOG, table=TABLE)
    assert not any(o.fit.verdict == "full_gpu" for o in rec.options if o.model.params_b >= 0.5)
    assert "usable VRAM" in rec.pick.fit.reason


def test_nearly_full_disk_never_recommends_what_it_cannot_store():
    p = profile("nearly-full-disk")
    rec = recommend(p, CATALOG, table=TABLE)
    too_big = [o for o in rec.options if o.fit.verdict == "cpu_only" and not o.disk_ok]
    assert too_big, "bigger models that fit in RAM but not on disk must be marked"
    roomy = recommend(p.model_copy(update={"disk": p.disk.model_copy(update={"free_bytes": 500 * GIB})}),
                      CATALOG, table=TABLE)
    assert roomy.pick.download_bytes > rec.pick.download_bytes


@pytest.mark.parametrize(("intent", "strength"), [("code", "code"), ("multilingual", "multilingual")])
def test_intent_picks_a_model_with_that_strength(intent, strength):
    rec = recommend(profile("ci-box-2core"), CATALOG, table=TABLE, intent=intent)
    assert strength in rec.pick.model.strengths and rec.pick.matches_intent


def test_longer_context_costs_memory():
    short = recommend(profile("rtx3060-desktop"), CATALOG, table=TABLE, context_length=4096)
    long = recommend(profile("rtx3060-desktop"), CATALOG, table=TABLE, context_length=32768)
    key = short.pick.variant.key
    same = next(o for o in long.options if o.variant.key == key)
    assert same.fit.memory.kv_cache_bytes == 8 * short.pick.fit.memory.kv_cache_bytes


def test_warns_when_nothing_is_fast():
    slow = TABLE.model_copy(update={"defaults": TABLE.defaults.model_copy(update={"cpu_core_gbps": 0.3})})
    rec = recommend(profile("laptop-8gb-no-gpu"), CATALOG, table=slow)
    assert rec.pick is not None and not rec.pick.fast
    assert any("conversational speed" in w for w in rec.warnings)
    runnable = [o for o in rec.options if o.runs]
    fastest = max(o.fit.tokens_per_second for o in runnable)
    # a better model only slightly slower than the fastest wins; a crawling one does not
    assert rec.pick.fit.tokens_per_second >= 0.5 * fastest
    assert rec.pick.quality >= max(o.quality for o in runnable if o.fit.tokens_per_second == fastest)


def test_nothing_fits_is_said_plainly():
    p = profile("box-4gb-no-avx2")
    tiny = p.model_copy(update={"memory": MemoryInfo(total_bytes=1 * GIB, available_bytes=GIB // 2)})
    rec = recommend(tiny, CATALOG, table=TABLE)
    assert rec.pick is None and "free memory" in rec.reason


def test_bitnet_is_runtime_unavailable_with_reason():
    rec = recommend(profile("rtx4090-workstation"), CATALOG, table=TABLE)
    bitnet = [o for o in rec.options if o.model.id.startswith("bitnet")]
    assert bitnet and all(o.fit.verdict == "runtime_unavailable" and "bitnet.cpp" in o.fit.reason for o in bitnet)


def test_mlx_is_unavailable_off_apple():
    rec = recommend(profile("rtx4090-workstation"), CATALOG, table=TABLE)
    assert all(o.fit.verdict == "runtime_unavailable" for o in rec.options if o.variant.format == "mlx")


def test_models_with_a_shorter_context_are_not_picked():
    rec = recommend(profile("m2-16gb"), CATALOG, table=TABLE, context_length=32768)
    assert rec.pick.model.max_context >= 32768
    short = [o for o in rec.options if o.model.id == "phi-3-mini-4k-instruct"]
    assert short and all(o.fit.verdict == "context_too_short" and "4,096" in o.fit.reason for o in short)


def test_two_gpus_use_the_faster_placement():
    from app.core.profile import GpuInfo

    p = profile("rtx4090-workstation")
    fast = p.nvidia_gpus[0].model_copy(update={"free_vram_bytes": 12 * GIB})
    slow_card = GpuInfo(vendor="nvidia", name="Tesla P40", index=1, total_vram_bytes=24 * GIB,
                        free_vram_bytes=13 * GIB, used_vram_bytes=11 * GIB, source="nvml")
    two = p.model_copy(update={"gpus": (fast, slow_card)})
    one = p.model_copy(update={"gpus": (fast,)})
    a, b = recommend(one, CATALOG, table=TABLE), recommend(two, CATALOG, table=TABLE)
    assert b.pick.fit.tokens_per_second >= a.pick.fit.tokens_per_second
    assert "RTX 4090" in b.pick.fit.device


def test_unknown_free_memory_is_assumed_conservatively_and_said():
    p = profile("rtx3060-desktop")
    gpu = p.nvidia_gpus[0].model_copy(update={"free_vram_bytes": None, "used_vram_bytes": None})
    unknown = p.model_copy(update={"gpus": (gpu,), "memory": MemoryInfo(total_bytes=16 * GIB)})
    rec = recommend(unknown, CATALOG, table=TABLE)
    assert any("Free RAM could not be measured" in w for w in rec.warnings)
    assert any("Free VRAM could not be measured" in w for w in rec.warnings)
    assert rec.pick.fit.vram_bytes <= 6 * GIB  # half of the 12 GB card, not all of it


def test_nothing_measurable_picks_nothing():
    from app.core.profile import DeviceProfile

    rec = recommend(DeviceProfile(runtimes=profile("rtx3060-desktop").runtimes), CATALOG, table=TABLE)
    assert rec.pick is None and any("could not be measured" in w for w in rec.warnings)


def test_missing_runtime_is_named_as_the_reason():
    from app.core.profile import DeviceProfile

    rec = recommend(DeviceProfile(memory=MemoryInfo(total_bytes=16 * GIB, available_bytes=12 * GIB)),
                    CATALOG, table=TABLE)
    assert rec.pick is None and "llama-cpp-python is not installed" in rec.reason
