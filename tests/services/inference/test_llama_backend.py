"""The llama.cpp backend with real models (SmolLM2-135M for most; Qwen2.5-Coder-0.5B; Gemma 3 270M)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from app.core.context_policy import PromptParts, Turn, fit_to_window
from app.core.errors import ModelFileInvalid, OutputFormatUnsupported, PromptTooLong
from app.core.inference import (
    GREEDY,
    CancelToken,
    ChatBackend,
    ChatMessage,
    GenerationRequest,
    OutputFormat,
    Sampling,
    collect,
    json_output,
)
from app.core.load_plan import LoadPlan
from app.services.inference.loading import load_llama_chat

pytestmark = pytest.mark.slow

SYSTEM = ChatMessage("system", "You are a helpful tutor. Answer briefly.")


def cpu_plan(layers: int, ctx: int = 2048) -> LoadPlan:
    return LoadPlan(backend="llama.cpp", context_length=ctx, gpu_layers=0, total_layers=layers, n_threads=2,
                    n_threads_batch=2)


@pytest.fixture(scope="module")
def smol(smollm2_gguf):
    backend = load_llama_chat(smollm2_gguf, model_id="smollm2", plan=cpu_plan(30))
    yield backend
    backend.close()


def ask(text: str, **kw) -> GenerationRequest:
    return GenerationRequest((SYSTEM, ChatMessage("user", text)), **{"sampling": GREEDY, **kw})


def test_it_is_a_chat_backend_with_the_gguf_template(smol):
    assert isinstance(smol, ChatBackend)
    assert smol.template.kind == "gguf" and smol.context_length == 2048
    caps = smol.capabilities
    assert caps.where == "on-device" and caps.backend == "llama.cpp" and caps.context_length == 2048
    assert caps.json_schema and caps.grammar


def test_streams_token_by_token_with_counts_and_timings(smol):
    chunks = list(smol.stream(ask("Name three colours.", max_tokens=40)))
    final = chunks[-1]
    assert final.is_final and all(not c.is_final for c in chunks[:-1])
    token_chunks = [c for c in chunks if c.tokens]
    assert len(token_chunks) == final.stats.completion_tokens >= 3
    assert "".join(c.text for c in chunks).strip()
    stats = final.stats
    assert stats.prompt_tokens == smol.count_tokens(ask("Name three colours.").messages)
    assert 0 < stats.time_to_first_token_s < final.elapsed_s
    assert stats.generation_tokens_per_second and stats.generation_tokens_per_second > 0
    assert [c.elapsed_s for c in chunks] == sorted(c.elapsed_s for c in chunks)


def test_max_tokens_ends_with_length(smol):
    _, final = collect(smol.stream(ask("Write a long story about a dragon.", max_tokens=7)))
    assert final.finish_reason == "length" and final.stats.completion_tokens == 7


def test_greedy_is_deterministic_and_seed_reproduces_sampling(smol):
    a, _ = collect(smol.stream(ask("What is a loop?", max_tokens=20)))
    b, _ = collect(smol.stream(ask("What is a loop?", max_tokens=20)))
    assert a == b
    hot = Sampling(temperature=1.2, top_k=0, top_p=1.0, min_p=0.0, seed=1234)
    runs = []
    for seed in (1234, 1234, 99):
        collect(smol.stream(ask("Unrelated.", max_tokens=1)))  # the same cache state before each run
        runs.append(collect(smol.stream(ask("Tell me a word.", max_tokens=20, sampling=replace(hot, seed=seed))))[0])
    assert runs[0] == runs[1] != runs[2]


def test_stop_sequence_ends_the_answer_before_it(smol):
    full, _ = collect(smol.stream(ask("Count from 1 to 10, separated by commas.", max_tokens=40)))
    assert "5" in full, full
    stop = full[full.index("5"):full.index("5") + 2]
    text, final = collect(smol.stream(ask("Count from 1 to 10, separated by commas.", max_tokens=40, stop=(stop,))))
    assert final.finish_reason == "stop"
    assert stop not in text and full.startswith(text)


def test_json_schema_output_parses(smol):
    schema = {"type": "object", "properties": {"question": {"type": "string"},
                                               "answer": {"type": "string", "enum": ["A", "B", "C"]}},
              "required": ["question", "answer"]}
    text, final = collect(smol.stream(ask("Write one multiple-choice quiz question about Python lists.",
                                          max_tokens=150, output=json_output(schema))))
    assert final.finish_reason == "stop", text
    data = json.loads(text)
    assert set(data) >= {"question", "answer"} and data["answer"] in {"A", "B", "C"}


def test_grammar_constrains_output(smol):
    yes_no = OutputFormat(kind="grammar", grammar='root ::= "yes" | "no"')
    text, _ = collect(smol.stream(ask("Is Python a programming language?", max_tokens=5, output=yes_no)))
    assert text in {"yes", "no"}


def test_bad_grammar_is_a_clear_error(smol):
    with pytest.raises(OutputFormatUnsupported):
        smol.stream(ask("x", output=OutputFormat(kind="grammar", grammar="root ::= (")))


def test_cancel_between_tokens_returns_within_200ms_and_model_stays_usable(smol):
    cancel = CancelToken()
    stream = smol.stream(ask("Write a very long story about a dragon and a knight.", max_tokens=400), cancel)
    received = 0
    for chunk in stream:
        received += chunk.tokens
        if received == 5:
            cancelled_at = time.perf_counter()
            cancel.cancel()
        if chunk.is_final:
            ended = time.perf_counter()
            final = chunk
    assert final.finish_reason == "cancelled"
    assert ended - cancelled_at < 0.2
    assert final.stats.completion_tokens <= 6
    text, after = collect(smol.stream(ask("Say hello.", max_tokens=10)))
    assert after.finish_reason in ("stop", "length") and text.strip()


def test_cancel_from_another_thread_during_a_long_prompt(smol):
    """A ~1,100-token prompt takes seconds on this CPU; a cancel lands inside llama_decode (abort
    callback) and the stream ends within 200 ms, with the model still usable."""
    long_question = "Explain this lesson: " + "Lists hold items in order and can change. " * 120
    cancel = CancelToken()
    cancelled_at: list[float] = []

    def fire() -> None:
        cancelled_at.append(time.perf_counter())
        cancel.cancel()

    timer = threading.Timer(0.3, fire)
    timer.start()
    _, final = collect(smol.stream(ask(long_question, max_tokens=50), cancel))
    ended = time.perf_counter()
    timer.join()
    assert final.finish_reason == "cancelled" and final.stats.completion_tokens == 0
    assert ended - cancelled_at[0] < 0.2
    _, after = collect(smol.stream(ask("Say hello.", max_tokens=5)))
    assert after.finish_reason in ("stop", "length")
    # The half-read prompt left in the cache is reused correctly: same answer as from a cold cache.
    again, reused = collect(smol.stream(ask(long_question, max_tokens=8)))
    smol.forget_cache()
    cold, _ = collect(smol.stream(ask(long_question, max_tokens=8)))
    assert reused.stats.cached_prompt_tokens > 0 and again == cold


def test_follow_up_turn_reuses_the_kv_cache(smol):
    first = ask("What is a dictionary in Python?", max_tokens=30)
    answer, one = collect(smol.stream(first))
    follow = GenerationRequest((*first.messages, ChatMessage("assistant", answer),
                                ChatMessage("user", "Give an example.")), sampling=GREEDY, max_tokens=10)
    _, two = collect(smol.stream(follow))
    # Everything up to the end of the first answer is already in the cache.
    assert two.stats.cached_prompt_tokens >= one.stats.prompt_tokens
    assert two.stats.evaluated_prompt_tokens < two.stats.prompt_tokens - one.stats.prompt_tokens + 10


def test_prompt_longer_than_the_window_is_refused_clearly(smol):
    with pytest.raises(PromptTooLong) as err:
        smol.stream(ask("word " * 3000))
    assert "2,048" in err.value.user_message and err.value.hint


def test_context_policy_with_the_real_tokenizer_keeps_system_and_question(smol):
    history = tuple(Turn(f"Question {i}: " + "tell me about lists " * 20, "Lists are ordered. " * 20)
                    for i in range(30))
    parts = PromptParts(system=SYSTEM.content, question="What is a tuple?", history=history)
    result = fit_to_window(parts, count_tokens=smol.count_tokens, context_length=smol.context_length,
                           answer_tokens=256)
    assert result.messages[0] == SYSTEM and result.messages[-1].content == "What is a tuple?"
    assert result.dropped_turns > 0 and result.prompt_tokens + 256 <= smol.context_length
    assert smol.count_tokens(result.messages) == result.prompt_tokens
    _, final = collect(smol.stream(GenerationRequest(result.messages, sampling=GREEDY, max_tokens=8)))
    assert final.finish_reason in ("stop", "length")


def test_corrupt_model_file_gives_a_clear_error(smollm2_gguf, tmp_path):
    broken = tmp_path / "broken.gguf"
    with smollm2_gguf.open("rb") as f:
        broken.write_bytes(f.read(5_000_000))  # a truncated download
    with pytest.raises(ModelFileInvalid) as err:
        load_llama_chat(broken, model_id="broken", plan=cpu_plan(30))
    assert err.value.hint


def test_qwen_coder_answers_a_coding_question(qwen_gguf):
    backend = load_llama_chat(qwen_gguf, model_id="qwen", plan=cpu_plan(24))
    try:
        text, final = collect(backend.stream(GenerationRequest(
            (ChatMessage("user", "Write a Python function named add that returns the sum of a and b."),),
            sampling=GREEDY, max_tokens=60)))
    finally:
        backend.close()
    assert "def add" in text and final.stats.completion_tokens > 5


def test_gemma_base_model_without_template_uses_the_fallback_format(gemma_gguf):
    backend = load_llama_chat(gemma_gguf, model_id="gemma", plan=cpu_plan(18))
    try:
        assert backend.template.kind == "fallback"
        text, final = collect(backend.stream(GenerationRequest(
            (SYSTEM, ChatMessage("user", "What is the capital of France?")), sampling=GREEDY, max_tokens=40)))
    finally:
        backend.close()
    assert final.finish_reason in ("stop", "length")
    assert "User:" not in text  # the fallback's turn marker is a stop sequence


def test_min_tokens_forbids_ending_early(smol):
    short = ask("Say hi.", max_tokens=60)
    _, free = collect(smol.stream(short))
    assert free.finish_reason == "stop" and free.stats.completion_tokens < 20
    _, held = collect(smol.stream(replace(short, min_tokens=30)))
    assert held.stats.completion_tokens >= 30
    with pytest.raises(ValueError, match="min_tokens"):
        replace(short, min_tokens=61)


def test_logprobs_give_a_mean_confidence_that_tracks_how_sure_the_model_is(smol):
    """The router's confidence: greedy tokens of an easy continuation are likelier than those of a
    sampled, hot answer; without `logprobs` nothing is computed."""
    sure = collect(smol.stream(ask("Count: one, two, three, four,", max_tokens=12, logprobs=True)))[1].stats
    hot = Sampling(temperature=2.5, top_k=0, top_p=1.0, min_p=0.0, seed=7, repeat_penalty=1.0)
    wild = collect(smol.stream(ask("Count: one, two, three, four,", max_tokens=12, logprobs=True,
                                   sampling=hot)))[1].stats
    plain = collect(smol.stream(ask("Count: one, two, three, four,", max_tokens=12)))[1].stats
    assert sure is not None and wild is not None and plain is not None
    assert sure.mean_logprob is not None and wild.mean_logprob is not None
    assert sure.mean_logprob <= 0 and wild.mean_logprob <= 0
    assert sure.mean_logprob > wild.mean_logprob
    assert plain.mean_logprob is None
