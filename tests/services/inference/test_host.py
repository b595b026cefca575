"""The model host: one model per role on its own worker thread; switching and unloading free memory."""

from __future__ import annotations

import gc
import threading
import time

import psutil
import pytest

from app.core.inference import GREEDY, CancelToken, ChatEngine, ChatMessage, GenerationRequest, collect
from app.core.load_plan import LoadPlan
from app.services.inference.host import ModelHost
from app.services.inference.loading import load_llama_chat

pytestmark = pytest.mark.slow
MB = 1 << 20


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def plan(layers: int) -> LoadPlan:
    return LoadPlan(backend="llama.cpp", context_length=1024, gpu_layers=0, total_layers=layers, n_threads=2,
                    n_threads_batch=2)


def hello(max_tokens: int = 4) -> GenerationRequest:
    return GenerationRequest((ChatMessage("user", "Say hello."),), sampling=GREEDY, max_tokens=max_tokens)


@pytest.fixture
def host():
    h = ModelHost()
    yield h
    h.close()


def test_switching_models_frees_the_previous_one(host, qwen_gguf, smollm2_gguf, gemma_gguf):
    before = rss()
    host.load("chat", lambda: load_llama_chat(qwen_gguf, model_id="qwen", plan=plan(24)), label="Qwen").result()
    collect(host.stream(hello()))  # every weight is read once per token: the file is now resident
    with_qwen = rss()
    assert with_qwen - before > 300 * MB, (before, with_qwen)

    host.load("chat", lambda: load_llama_chat(smollm2_gguf, model_id="smol", plan=plan(30)), label="SmolLM2").result()
    _, final = collect(host.stream(hello()))
    with_smol = rss()
    assert host.loaded("chat") == "SmolLM2" and final.stats.model == "smol"
    assert with_qwen - with_smol > 250 * MB, (with_qwen, with_smol)   # Qwen's 491 MB went away

    # A second architecture through the same slot.
    host.load("chat", lambda: load_llama_chat(gemma_gguf, model_id="gemma", plan=plan(18)), label="Gemma").result()
    _, final = collect(host.stream(hello()))
    assert final.stats.model == "gemma"

    host.unload("chat").result()
    assert host.loaded("chat") is None
    assert rss() - before < 120 * MB, (before, rss())


def test_stream_runs_on_the_role_worker_and_cancel_stops_it(host, smollm2_gguf):
    threads: set[str] = set()

    def loader():
        threads.add(threading.current_thread().name)
        return load_llama_chat(smollm2_gguf, model_id="smol", plan=plan(30))

    host.load("chat", loader, label="SmolLM2").result()
    cancel = CancelToken()
    chunks = []
    for chunk in host.stream(GenerationRequest((ChatMessage("user", "Write a long story."),), sampling=GREEDY,
                                               max_tokens=300), cancel):
        chunks.append(chunk)
        if len(chunks) == 3:
            cancel.cancel()
    assert chunks[-1].finish_reason == "cancelled"
    assert threads == {n for n in threads if n.startswith("lantern-chat")}
    assert host.count_tokens(hello().messages) > 3


def test_walking_away_from_a_stream_stops_generation(host, smollm2_gguf):
    host.load("chat", lambda: load_llama_chat(smollm2_gguf, model_id="smol", plan=plan(30)), label="SmolLM2").result()
    stream = host.stream(GenerationRequest((ChatMessage("user", "Write a long story."),), sampling=GREEDY,
                                           max_tokens=500))
    next(stream)
    stream.close()  # e.g. the window closed
    # The worker is free again: the next request runs at once instead of after 500 tokens (~5 s here).
    started = time.perf_counter()
    _, final = collect(host.stream(hello()))
    assert final.finish_reason in ("stop", "length")
    assert time.perf_counter() - started < 1.0


def test_the_callers_cancel_token_is_not_spent_by_a_finished_stream(host, smollm2_gguf):
    host.load("chat", lambda: load_llama_chat(smollm2_gguf, model_id="smol", plan=plan(30)), label="SmolLM2").result()
    token = CancelToken()
    collect(host.stream(hello(), token))
    assert not token.cancelled
    _, final = collect(host.stream(hello(), token))  # reusable for the next question
    assert final.finish_reason != "cancelled"


def test_errors_reach_the_caller(host):
    with pytest.raises(RuntimeError, match="no model is loaded"):
        collect(host.stream(hello()))


def test_the_host_is_a_chat_engine_reporting_the_loaded_models_capabilities(host, smollm2_gguf, gemma_gguf):
    with pytest.raises(RuntimeError, match="no model is loaded"):
        host.capabilities  # noqa: B018
    host.load("chat", lambda: load_llama_chat(smollm2_gguf, model_id="smol", plan=plan(30)), label="smol").result()
    assert isinstance(host, ChatEngine)
    caps = host.capabilities
    assert (caps.model_id, caps.backend, caps.where, caps.context_length) == ("smol", "llama.cpp", "on-device", 1024)
    host.load("chat", lambda: load_llama_chat(gemma_gguf, model_id="gemma", plan=plan(18)), label="gemma").result()
    assert host.capabilities.model_id == "gemma"  # read from what is loaded now, never remembered
