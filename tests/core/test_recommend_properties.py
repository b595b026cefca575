"""Property tests: the recommendation never over-commits, and more memory is never worse."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.estimates import RUNS, usable_apple_gpu, usable_ram, usable_vram
from app.core.profile import (
    GIB,
    MIB,
    AppleSiliconInfo,
    CpuInfo,
    DeviceProfile,
    DiskInfo,
    GpuInfo,
    MemoryInfo,
)
from app.core.recommend import disk_needed, pick_key, recommend
from app.services.catalog_store import default_catalog, default_performance_table
from tests.hardware_scenarios import CPU_BUILD, CUDA_BUILD, METAL_BUILD

CATALOG = default_catalog()
TABLE = default_performance_table()
FEATURES = [("sse4_1", "sse4_2"), ("avx", "sse4_2"), ("avx", "avx2", "f16c", "fma", "sse4_2"),
            ("avx", "avx2", "avx512f", "fma"), ("neon",), ("dotprod", "neon"), None]
GPUS = ["NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 4090", "NVIDIA GeForce GTX 1650", "Tesla T4", "Unknown GPU"]
CHIPS = ["Apple M1", "Apple M2 Pro", "Apple M3 Max", "Apple M4", "Apple M9 Future"]


@st.composite
def machines(draw):
    kind = draw(st.sampled_from(["cpu", "nvidia", "apple"]))
    total = draw(st.integers(1, 192)) * GIB
    available = draw(st.one_of(st.none(), st.floats(0.05, 1.0).map(lambda f: int(total * f))))
    cpu = CpuInfo(arch="arm64" if kind == "apple" else "x86_64", physical_cores=draw(st.integers(1, 32)),
                  logical_cores=64, features=draw(st.sampled_from(FEATURES)))
    disk = DiskInfo(free_bytes=draw(st.integers(0, 500)) * GIB)
    gpus: tuple[GpuInfo, ...] = ()
    apple = None
    runtimes = CPU_BUILD
    if kind == "nvidia":
        cards = []
        for index in range(draw(st.integers(1, 2))):
            vram = draw(st.integers(1, 48)) * 1024 * MIB
            free = draw(st.one_of(st.none(), st.floats(0.0, 1.0).map(lambda f, v=vram: int(v * f))))
            cards.append(GpuInfo(vendor="nvidia", name=draw(st.sampled_from(GPUS)), index=index, total_vram_bytes=vram,
                                 free_vram_bytes=free, used_vram_bytes=None if free is None else vram - free,
                                 source="nvml"))
        gpus = tuple(cards)
        runtimes = CUDA_BUILD
    elif kind == "apple":
        apple = AppleSiliconInfo(chip=draw(st.sampled_from(CHIPS)), unified_memory_bytes=total,
                                 gpu_working_set_bytes=int(total * 2 / 3))
        runtimes = METAL_BUILD
    return DeviceProfile(cpu=cpu, memory=MemoryInfo(total_bytes=total, available_bytes=available), disk=disk,
                         gpus=gpus, apple=apple, runtimes=runtimes)


CTX = st.sampled_from([2048, 4096, 8192, 32768])
INTENT = st.sampled_from(["chat", "code", "multilingual"])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(machines(), CTX, INTENT)
def test_never_over_commit(profile, ctx, intent):
    rec = recommend(profile, CATALOG, table=TABLE, intent=intent, context_length=ctx)
    runnable = [o for o in rec.options if o.runs]
    if rec.pick is not None:
        assert rec.pick in runnable
    ram = usable_ram(profile)
    for o in runnable:
        assert o.fit.verdict in RUNS
        assert profile.disk.free_bytes is None or disk_needed(o.download_bytes) <= profile.disk.free_bytes
        assert ram is not None and o.fit.ram_bytes <= ram
        if o.fit.verdict in ("full_gpu", "partial_gpu"):
            if profile.apple is not None:
                budget = usable_apple_gpu(profile)
                assert budget is not None and o.fit.vram_bytes <= budget
            else:
                assert o.fit.vram_bytes <= usable_vram(profile.gpus[o.fit.gpu_index])
    if rec.pick is None:
        assert not runnable


def _more(profile: DeviceProfile, ram_gib: int, vram_gib: int) -> DeviceProfile:
    mem = profile.memory
    avail = None if mem.available_bytes is None else mem.available_bytes + ram_gib * GIB
    bigger = {"memory": MemoryInfo(total_bytes=mem.total_bytes + ram_gib * GIB, available_bytes=avail)}
    if profile.apple is not None:
        unified = profile.apple.unified_memory_bytes + ram_gib * GIB
        bigger["apple"] = profile.apple.model_copy(update={"unified_memory_bytes": unified,
                                                           "gpu_working_set_bytes": int(unified * 2 / 3)})
    if profile.nvidia_gpus:
        def grow(g: GpuInfo) -> GpuInfo:
            free = None if g.free_vram_bytes is None else g.free_vram_bytes + vram_gib * GIB
            return g.model_copy(update={"total_vram_bytes": g.total_vram_bytes + vram_gib * GIB,
                                        "free_vram_bytes": free})
        bigger["gpus"] = tuple(grow(g) for g in profile.gpus)
    return profile.model_copy(update=bigger)


@FAST
@given(machines(), st.integers(0, 64), st.integers(0, 24), CTX, INTENT)
def test_more_memory_is_never_worse(profile, more_ram, more_vram, ctx, intent):
    before = recommend(profile, CATALOG, table=TABLE, intent=intent, context_length=ctx)
    after = recommend(_more(profile, more_ram, more_vram), CATALOG, table=TABLE, intent=intent, context_length=ctx)
    if before.pick is None:
        return
    assert after.pick is not None
    prefer_mlx = profile.apple is not None
    assert pick_key(after.pick, prefer_mlx=prefer_mlx) >= pick_key(before.pick, prefer_mlx=prefer_mlx)
