"""Loading with fallbacks: real llama.cpp failures on this CPU, recorded CUDA failures for the GPU path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import BackendUnavailable, ModelLoadFailed, NotEnoughMemory
from app.core.installed import InstalledModel
from app.core.load_plan import LoadPlan
from app.core.settings import LanternSettings
from app.services.catalog_store import default_catalog, default_performance_table
from app.services.inference import llama_log
from app.services.inference.backends import CHAT_BACKENDS, open_chat_model
from app.services.inference.loading import AttemptFailed, load_llama_chat, load_with_fallback, plan_for
from tests.hardware_scenarios import profile
from tests.support.gguf_files import write_gguf

LOGS = Path(__file__).parents[2] / "fixtures" / "llama_logs"


def recorded(name: str) -> list[str]:
    return (LOGS / name).read_text().splitlines()


@pytest.mark.parametrize("name", ["cuda_oom_weights.log", "cuda_oom_compute.log"])
def test_recorded_cuda_out_of_memory_logs_are_memory_failures(name):
    assert llama_log.classify(recorded(name), ValueError("Failed to load model from file")) == "memory"


def test_unknown_failures_are_not_mistaken_for_memory():
    lines = ["llama_model_load: error loading model: error loading model vocabulary: unknown pre-tokenizer type"]
    assert llama_log.classify(lines, ValueError("Failed to load model from file")) == "unknown"


def gpu_plan() -> LoadPlan:
    return LoadPlan(backend="llama.cpp", context_length=8192, gpu_layers=36, total_layers=36, n_threads=4,
                    n_threads_batch=4, flash_attn=True, device="NVIDIA GeForce RTX 3060")


def test_gpu_out_of_memory_steps_down_and_tells_the_user():
    """A driver that refuses more than 20 layers (the recorded cudaMalloc failure) until we ask for fewer."""
    tried: list[LoadPlan] = []

    def load_one(plan: LoadPlan) -> str:
        tried.append(plan)
        if plan.gpu_layers > 20:
            lines = recorded("cuda_oom_weights.log")
            raise AttemptFailed(llama_log.classify(lines, ValueError()), lines[-1], lines)
        return f"loaded with {plan.gpu_layers} layers"

    loaded = load_with_fallback(load_one, gpu_plan(), label="Qwen3 8B")
    assert [p.gpu_layers for p in tried] == [36, 27, 18]
    assert loaded.backend == "loaded with 18 layers" and loaded.plan.gpu_layers == 18
    assert loaded.notice is not None
    assert "18 of 36 layers" in loaded.notice and "unable to allocate CUDA0 buffer" in loaded.notice
    assert [a.failure is None for a in loaded.attempts] == [False, False, True]


def test_gpu_that_cannot_take_any_layer_falls_back_to_the_cpu_and_says_so():
    def load_one(plan: LoadPlan) -> str:
        if plan.gpu_layers > 0:
            lines = recorded("cuda_oom_compute.log")
            raise AttemptFailed("memory", lines[-1], lines)
        return "cpu"

    loaded = load_with_fallback(load_one, gpu_plan(), label="Qwen3 8B")
    assert loaded.plan.placement == "cpu" and loaded.plan.context_length == 8192
    assert "CPU only" in loaded.notice and "slower" in loaded.notice


def test_non_memory_failure_is_not_retried():
    calls = []

    def load_one(plan: LoadPlan) -> str:
        calls.append(plan)
        raise AttemptFailed("unknown", "bad things", ["bad things"])

    with pytest.raises(ModelLoadFailed) as err:
        load_with_fallback(load_one, gpu_plan(), label="X")
    assert len(calls) == 1 and err.value.hint


@pytest.mark.slow
def test_real_cpu_out_of_memory_shortens_the_context(smollm2_gguf):
    """llama.cpp really fails to allocate: a subprocess runs under an address-space limit 1.5 GB above
    what it has mapped, and asks for a 131,072-token context (a 3 GB KV cache for SmolLM2). The
    ladder halves the context until the allocations succeed, and the model then answers."""
    run = subprocess.run([sys.executable, "-m", "tests.support.oom_load", str(smollm2_gguf), str(1 << 17),
                          str(1536 << 20)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).parents[3])
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["failures"][0] and "allocate" in result["failures"][0]
    assert result["failures"][-1] is None and len(result["failures"]) >= 2
    assert 2048 <= result["context_length"] < 1 << 17
    assert f"{result['context_length']:,}-token context instead of 131,072" in result["notice"]
    assert result["finish"] in ("stop", "length")


@pytest.mark.slow
def test_unknown_architecture_is_a_clear_error(tmp_path):
    path = write_gguf(tmp_path / "future.gguf", arch="qwen99")
    plan = LoadPlan(backend="llama.cpp", context_length=512, gpu_layers=0, total_layers=2, n_threads=1,
                    n_threads_batch=1)
    with pytest.raises(BackendUnavailable) as err:
        load_with_fallback(lambda p: load_llama_chat(path, model_id="future", plan=p), plan, label="Future model")
    assert "architecture" in err.value.user_message and "Update Lantern" in err.value.hint
    assert any("qwen99" in line for line in err.value.debug_context["llama_cpp_log"])


def installed(path: Path, model_id: str = "smollm2") -> InstalledModel:
    return InstalledModel(id=model_id, display_name="SmolLM2 135M", source="import", source_ref=str(path),
                          path=str(path), managed=False, format="gguf", backend="llama.cpp",
                          size_bytes=path.stat().st_size, sha256="0" * 64)


@pytest.mark.slow
def test_open_chat_model_plans_from_the_header_and_loads(smollm2_gguf):
    settings = LanternSettings(context_length=2048)
    box = profile("ci-box-2core")
    plan = plan_for(installed(smollm2_gguf), profile=box, settings=settings, table=default_performance_table(),
                    catalog=default_catalog())
    assert plan.total_layers == 30 and plan.placement == "cpu" and plan.context_length == 2048
    loaded = open_chat_model(installed(smollm2_gguf), profile=box, settings=settings,
                             table=default_performance_table(), catalog=default_catalog())
    try:
        assert loaded.notice is None and loaded.plan == plan
        assert loaded.backend.name == "llama.cpp"
    finally:
        loaded.backend.close()


def test_backends_are_registered_by_name():
    assert {"llama.cpp", "mlx"} <= set(CHAT_BACKENDS.names())
    with pytest.raises(KeyError, match="registered"):
        CHAT_BACKENDS.create("nope")


def test_a_model_too_big_for_the_machine_is_refused_before_loading(smollm2_gguf):
    tiny = profile("ci-box-2core")
    tiny = tiny.model_copy(update={"memory": tiny.memory.model_copy(update={"available_bytes": 200 * 1024 * 1024})})
    with pytest.raises(NotEnoughMemory):
        plan_for(installed(smollm2_gguf), profile=tiny, settings=LanternSettings(), table=default_performance_table(),
                 catalog=default_catalog())
