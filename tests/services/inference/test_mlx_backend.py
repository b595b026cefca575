"""The MLX backend on real MLX (the CPU build on Linux) with a tiny random-weight llama model.

The model says nothing sensible; what is checked is the protocol: chunks per token, finish
reasons, stop sequences, seeding, cancelling from another thread, errors, and KV-cache reuse
(including that reusing the cache does not change what greedy decoding produces).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlx.core", reason="mlx is not installed (pip install 'mlx[cpu]' mlx-lm); CI installs it")

from app.core.errors import BackendUnavailable, ModelLoadFailed, OutputFormatUnsupported, PromptTooLong
from app.core.inference import (
    ANY_JSON,
    GREEDY,
    TEXT,
    CancelToken,
    ChatBackend,
    ChatMessage,
    Chunk,
    GenerationRequest,
    OutputFormat,
    Sampling,
    collect,
)
from app.services.inference.mlx_backend import MlxChatBackend, load_mlx_backend
from tests.support.tiny_mlx_model import NO_SYSTEM_TEMPLATE, copy_with_eos, with_chat_template

SYSTEM = ChatMessage("system", "You are a patient tutor. Answer briefly.")
QUESTION = ChatMessage("user", "What is photosynthesis?")


def ask(*messages: ChatMessage, sampling: Sampling = GREEDY, max_tokens: int = 512, stop: tuple[str, ...] = (),
        output: OutputFormat = TEXT) -> GenerationRequest:
    return GenerationRequest(messages=messages or (SYSTEM, QUESTION), sampling=sampling, max_tokens=max_tokens,
                             stop=stop, output=output)


def plain_mlx_lm(folder: Path) -> tuple[Any, Any, list[int]]:
    """The model, tokenizer and templated prompt as mlx-lm alone gives them: the reference."""
    import mlx_lm

    loaded = mlx_lm.load(str(folder))
    model, tokenizer = loaded[0], loaded[1]
    messages = [{"role": m.role, "content": m.content} for m in (SYSTEM, QUESTION)]
    return model, tokenizer, list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))


@pytest.fixture
def backend(tiny_mlx_model: Path) -> Iterator[MlxChatBackend]:
    b = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=2048)
    yield b
    b.close()


def test_is_a_chat_backend(backend: MlxChatBackend) -> None:
    assert isinstance(backend, ChatBackend)
    assert backend.name == "mlx"
    caps = backend.capabilities
    assert caps.on_device and caps.where == "on-device" and caps.prompt_cache
    assert (caps.model_id, caps.backend, caps.context_length) == ("tiny-llama", "mlx", 2048)
    assert not caps.grammar and not caps.json_schema


def test_streams_one_chunk_per_token_then_a_final_chunk(backend: MlxChatBackend) -> None:
    chunks = list(backend.stream(ask(max_tokens=40)))
    final = chunks[-1]
    tokens = chunks[:-1]
    assert final.is_final and not any(c.is_final for c in tokens)
    assert final.tokens == 0 and all(c.tokens == 1 for c in tokens)
    assert final.stats is not None
    assert final.stats.completion_tokens == len(tokens) == 40
    assert final.finish_reason == final.stats.finish_reason == "length"
    text = "".join(c.text for c in chunks)
    assert len(text) > 20 and sum(1 for c in tokens if c.text) > 10
    assert collect(iter(chunks))[0] == text
    times = [c.elapsed_s for c in chunks]
    assert times == sorted(times)
    stats = final.stats
    assert (stats.backend, stats.model) == ("mlx", "tiny-llama")
    assert stats.prompt_tokens == backend.count_tokens((SYSTEM, QUESTION))
    assert stats.cached_prompt_tokens == 0
    assert stats.time_to_first_token_s is not None and 0 < stats.time_to_first_token_s <= final.elapsed_s
    assert stats.generation_seconds > 0 and stats.generation_tokens_per_second is not None


def test_max_tokens_gives_length_with_exactly_that_many_tokens(backend: MlxChatBackend) -> None:
    chunks = list(backend.stream(ask(max_tokens=7)))
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].stats is not None and chunks[-1].stats.completion_tokens == 7
    assert sum(c.tokens for c in chunks) == 7 and len(chunks) == 8


def test_a_full_window_ends_with_context_full(tiny_mlx_model: Path) -> None:
    probe = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=2048)
    window = probe.count_tokens((SYSTEM, QUESTION)) + 5
    small = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=window)
    _, final = collect(small.stream(ask(max_tokens=50)))
    assert final.finish_reason == "context_full"
    assert final.stats is not None and final.stats.completion_tokens == 5
    _, final = collect(small.stream(ask(max_tokens=5)))
    assert final.finish_reason == "length"   # exactly fits: the limit asked for came first


def test_greedy_matches_plain_mlx_lm(backend: MlxChatBackend, tiny_mlx_model: Path) -> None:
    import mlx_lm

    model, tokenizer, prompt = plain_mlx_lm(tiny_mlx_model)
    expected = mlx_lm.generate(model, tokenizer, prompt, max_tokens=30, verbose=False)
    text, _ = collect(backend.stream(ask(max_tokens=30)))
    assert text == expected


def test_greedy_twice_is_identical_and_reuses_the_prompt(backend: MlxChatBackend, tiny_mlx_model: Path) -> None:
    first, f1 = collect(backend.stream(ask(max_tokens=30)))
    second, f2 = collect(backend.stream(ask(max_tokens=30)))
    assert first == second and first
    assert f1.stats is not None and f2.stats is not None
    assert f2.stats.cached_prompt_tokens == f2.stats.prompt_tokens - 1   # one token is always evaluated
    other = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=2048)
    assert collect(other.stream(ask(max_tokens=30)))[0] == first        # and a fresh model agrees


def test_stop_sequence_from_a_greedy_run_ends_the_next_one_before_it(backend: MlxChatBackend) -> None:
    reference, _ = collect(backend.stream(ask(max_tokens=40)))
    stop = reference[12:17]
    assert stop.strip(), f"pick a visible stop sequence from {reference!r}"
    expected = reference[: reference.index(stop)]
    chunks = list(backend.stream(ask(max_tokens=40, stop=(stop, "never-appears"))))
    text, final = collect(iter(chunks))
    assert final.finish_reason == "stop"
    assert text == expected and stop not in text
    assert final.stats is not None and final.stats.completion_tokens == len(chunks) - 1 < 40


def test_end_of_sequence_token_stops_with_stop(backend: MlxChatBackend, tiny_mlx_model: Path,
                                               tmp_path: Path) -> None:
    import mlx_lm

    model, tokenizer, prompt = plain_mlx_lm(tiny_mlx_model)
    ids = [r.token for r in mlx_lm.stream_generate(model, tokenizer, prompt, max_tokens=30)]
    k = next(i for i in range(5, 30) if ids[i] not in ids[:i])
    reference, _ = collect(backend.stream(ask(max_tokens=30)))

    ending = load_mlx_backend(copy_with_eos(tiny_mlx_model, tmp_path / "eos", [ids[k]]),
                              model_id="tiny-eos", context_length=2048)
    chunks = list(ending.stream(ask(max_tokens=30)))
    text, final = collect(iter(chunks))
    assert final.finish_reason == "stop"
    assert final.stats is not None and final.stats.completion_tokens == k == len(chunks) - 1
    assert text and reference.startswith(text) and text != reference


def test_min_tokens_rules_out_the_end_token(tiny_mlx_model: Path, tmp_path: Path) -> None:
    import mlx_lm

    model, tokenizer, prompt = plain_mlx_lm(tiny_mlx_model)
    ids = [r.token for r in mlx_lm.stream_generate(model, tokenizer, prompt, max_tokens=30)]
    k = next(i for i in range(5, 30) if ids[i] not in ids[:i])
    ending = load_mlx_backend(copy_with_eos(tiny_mlx_model, tmp_path / "eos", [ids[k]]),
                              model_id="tiny-eos", context_length=2048)
    _, early = collect(ending.stream(ask(max_tokens=30)))
    assert early.stats is not None and early.stats.completion_tokens == k
    _, held = collect(ending.stream(replace(ask(max_tokens=30), min_tokens=k + 3)))
    assert held.stats is not None and held.stats.completion_tokens >= k + 3


def test_seed_makes_sampling_reproducible(backend: MlxChatBackend) -> None:
    def sample(seed: int | None) -> str:
        return collect(backend.stream(ask(max_tokens=30, sampling=Sampling(temperature=1.5, seed=seed))))[0]

    a, b, c = sample(7), sample(7), sample(8)
    assert a == b
    assert a != c
    assert sample(None) != sample(None)


def test_cancel_from_another_thread_ends_quickly_and_the_backend_still_works(backend: MlxChatBackend) -> None:
    cancel = CancelToken()
    started = threading.Event()
    received: list[tuple[Chunk, float]] = []

    def consume() -> None:
        for chunk in backend.stream(ask(max_tokens=1500), cancel):
            received.append((chunk, time.perf_counter()))
            if len(received) == 3:
                started.set()

    with ThreadPoolExecutor(1) as worker:   # the model's own thread, as in the app
        done = worker.submit(consume)
        assert started.wait(10)
        cancelled_at = time.perf_counter()
        cancel.cancel()
        done.result(timeout=10)
        final, ended_at = received[-1]
        assert final.finish_reason == "cancelled"
        assert ended_at - cancelled_at < 0.2
        assert final.stats is not None
        assert 3 <= final.stats.completion_tokens == len(received) - 1 < 1500

        _, after = worker.submit(lambda: collect(backend.stream(ask(max_tokens=5)))).result(timeout=10)
    assert after.finish_reason == "length"
    assert after.stats is not None and after.stats.completion_tokens == 5
    assert after.stats.cached_prompt_tokens == after.stats.prompt_tokens - 1


def test_cancelled_before_the_first_token(backend: MlxChatBackend) -> None:
    cancel = CancelToken()
    cancel.cancel()
    chunks = list(backend.stream(ask(max_tokens=20), cancel))
    assert len(chunks) == 1 and chunks[0].finish_reason == "cancelled"
    assert chunks[0].stats is not None and chunks[0].stats.completion_tokens == 0
    assert chunks[0].stats.time_to_first_token_s is None
    assert collect(backend.stream(ask(max_tokens=3)))[1].finish_reason == "length"


class CancelOnRead(CancelToken):
    """Reads as cancelled from its n-th check on: the backend checks before starting and after each
    prompt slice, so this lands a cancel at an exact point of a long prompt's evaluation."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.reads = 0
        self.n = n

    @property
    def cancelled(self) -> bool:
        self.reads += 1
        return self.reads >= self.n


def test_cancel_during_a_long_prompt_keeps_what_was_evaluated(backend: MlxChatBackend,
                                                               tiny_mlx_model: Path) -> None:
    from app.services.inference.mlx_backend import PREFILL_STEP

    long_question = ChatMessage("user", "Explain photosynthesis and fractions in detail, with examples. " * 60)
    request = ask(SYSTEM, long_question, max_tokens=8)
    assert backend.count_tokens(request.messages) > 2 * PREFILL_STEP
    # reads: 1 before starting, 2 at slice 0 of the prompt, 3 after the first slice -> cancelled there
    chunks = list(backend.stream(request, CancelOnRead(3)))
    assert len(chunks) == 1 and chunks[0].finish_reason == "cancelled"
    assert chunks[0].stats is not None and chunks[0].stats.time_to_first_token_s is None

    text, final = collect(backend.stream(request))
    assert final.stats is not None and final.stats.cached_prompt_tokens == PREFILL_STEP
    fresh = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=2048)
    assert collect(fresh.stream(request))[0] == text


def test_json_output_is_refused_with_a_hint(backend: MlxChatBackend) -> None:
    with pytest.raises(OutputFormatUnsupported) as info:
        collect(backend.stream(ask(output=ANY_JSON)))
    assert info.value.hint is not None and "GGUF" in info.value.hint


def test_prompt_over_the_window_is_refused(tiny_mlx_model: Path) -> None:
    small = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=64)
    long_question = ChatMessage("user", "Explain photosynthesis and fractions in detail. " * 20)
    with pytest.raises(PromptTooLong):
        collect(small.stream(ask(SYSTEM, long_question)))
    assert collect(small.stream(ask(max_tokens=3)))[1].finish_reason == "length"


def test_count_tokens_grows_with_messages(backend: MlxChatBackend) -> None:
    one = backend.count_tokens([QUESTION])
    two = backend.count_tokens([SYSTEM, QUESTION])
    three = backend.count_tokens([SYSTEM, QUESTION, ChatMessage("assistant", "Plants make sugar from light.")])
    assert 0 < one < two < three


def test_follow_up_turn_reuses_the_previous_turn(backend: MlxChatBackend, tiny_mlx_model: Path) -> None:
    answer, first = collect(backend.stream(ask(max_tokens=12)))
    follow_up = (SYSTEM, QUESTION, ChatMessage("assistant", answer), ChatMessage("user", "And in Vietnamese?"))
    text, second = collect(backend.stream(ask(*follow_up, max_tokens=12)))
    assert first.stats is not None and second.stats is not None
    assert second.stats.cached_prompt_tokens >= first.stats.prompt_tokens
    assert second.stats.evaluated_prompt_tokens < second.stats.prompt_tokens

    fresh = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=2048)
    assert collect(fresh.stream(ask(*follow_up, max_tokens=12)))[0] == text   # the cache holds the right tokens

    # A different conversation shares only "<|im_start|>system\nYou are": the cache is trimmed, not misused.
    other = (ChatMessage("system", "You are strict."), ChatMessage("user", "Define a fraction."))
    text_other, third = collect(backend.stream(ask(*other, max_tokens=12)))
    assert third.stats is not None and 0 < third.stats.cached_prompt_tokens < first.stats.prompt_tokens // 2
    assert text_other == collect(fresh.stream(ask(*other, max_tokens=12)))[0]


def test_a_cache_that_is_wholly_a_prefix_is_extended(backend: MlxChatBackend, tiny_mlx_model: Path) -> None:
    # One token, then the follow-up: the cache (prompt + that token) is exactly the start of the new
    # prompt, so nothing is trimmed and only the new turn is evaluated.
    answer, first = collect(backend.stream(ask(max_tokens=1)))
    follow_up = (SYSTEM, QUESTION, ChatMessage("assistant", answer), ChatMessage("user", "Why?"))
    text, second = collect(backend.stream(ask(*follow_up, max_tokens=12)))
    assert first.stats is not None and second.stats is not None
    assert second.stats.cached_prompt_tokens == first.stats.prompt_tokens + 1
    fresh = load_mlx_backend(tiny_mlx_model, model_id="tiny-llama", context_length=2048)
    assert collect(fresh.stream(ask(*follow_up, max_tokens=12)))[0] == text


def test_repeat_penalty_sees_the_reused_prompt(backend: MlxChatBackend, tiny_mlx_model: Path) -> None:
    # The penalty looks back over prompt tokens too; with most of the prompt reused from the cache
    # it must still see them, or the same request would answer differently the second time. The
    # question is the model's own favourite words, so penalising them changes what it says.
    favourite, _ = collect(backend.stream(ask(max_tokens=8)))
    messages = (SYSTEM, ChatMessage("user", favourite))
    strong = Sampling(temperature=0.0, repeat_penalty=3.0)
    first, _ = collect(backend.stream(ask(*messages, max_tokens=30, sampling=strong)))
    second, final = collect(backend.stream(ask(*messages, max_tokens=30, sampling=strong)))
    assert final.stats is not None and final.stats.cached_prompt_tokens > 0
    assert first == second
    assert first != collect(backend.stream(ask(*messages, max_tokens=30)))[0]   # the penalty did something


def test_model_without_chat_template_uses_a_plain_prompt(tiny_mlx_model: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    plain = load_mlx_backend(with_chat_template(tiny_mlx_model, tmp_path / "base", None),
                             model_id="tiny-base", context_length=2048)
    with caplog.at_level(logging.WARNING):
        _, final = collect(plain.stream(ask(max_tokens=4)))
    assert final.finish_reason == "length"
    assert "no chat template" in caplog.text


def test_a_template_without_a_system_role_gets_it_folded_into_the_first_turn(tiny_mlx_model: Path,
                                                                            tmp_path: Path) -> None:
    strict = load_mlx_backend(with_chat_template(tiny_mlx_model, tmp_path / "strict", NO_SYSTEM_TEMPLATE),
                              model_id="tiny-strict", context_length=2048)
    folded = ChatMessage("user", f"{SYSTEM.content}\n\n{QUESTION.content}")
    assert strict.count_tokens([SYSTEM, QUESTION]) == strict.count_tokens([folded])
    _, final = collect(strict.stream(ask(max_tokens=3)))
    assert final.finish_reason == "length"


def test_missing_runtime_and_missing_folder_are_user_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelLoadFailed):     # and no attempt to fetch it from the hub as a repo id
        load_mlx_backend(tmp_path / "not-there", model_id="gone", context_length=2048)
    monkeypatch.setitem(sys.modules, "mlx_lm", None)    # import mlx_lm now raises ImportError
    with pytest.raises(BackendUnavailable) as info:
        load_mlx_backend(tmp_path, model_id="any", context_length=2048)
    assert info.value.hint is not None and "GGUF" in info.value.hint


def test_a_closed_backend_refuses_work(backend: MlxChatBackend) -> None:
    backend.close()
    backend.close()   # idempotent
    with pytest.raises(RuntimeError):
        backend.stream(ask())
