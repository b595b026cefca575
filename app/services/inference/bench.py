"""`lantern bench`: how fast a model really runs here, through Lantern and through raw llama-cpp-python.

Both paths get the same file, the same load settings (the LoadPlan), the same prompt tokens, stop
sequences and greedy sampling, so they produce the same tokens and the ratio isolates the
backend's own overhead (streaming, stop handling, cancel checks). The app adds one queue hop per
chunk on top (app.services.inference.host), not measured here. Measured per path:
- load time; prompt processing (a cold ~512-token prompt, tokens/s);
- an 8-turn tutoring conversation: time to first token per turn (turn 1 is cold; later turns
  reuse the KV cache for the shared prefix) and generation tokens/s over all turns;
- peak RSS while loaded (sampled every 10 ms) and RSS after unloading.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from app.core.inference import GREEDY, ChatMessage, GenerationRequest, collect
from app.core.load_plan import LoadPlan
from app.services.inference.llama_import import import_llama_cpp
from app.services.inference.loading import llama_settings, load_llama_chat
from app.services.inference.memory import release_freed_memory

SYSTEM = ("You are a patient programming tutor. Answer the learner's question clearly and briefly, "
          "with a short example when it helps.")
QUESTIONS = (
    "What is a variable in Python?",
    "How is a list different from a tuple?",
    "Show me how to loop over a list with its index.",
    "What does a dictionary store?",
    "How do I read a text file line by line?",
    "What is a function, and why write one?",
    "Explain what an exception is.",
    "How do I check whether a key is in a dictionary?",
    "What does 'return' do in a function?",
    "What is the difference between '==' and 'is'?",
)
LESSON = (
    "Lesson 3. Lists. A list is an ordered, changeable collection. You create one with square brackets, "
    "for example scores = [90, 72, 85]. Items are reached by index, starting at zero, so scores[0] is 90. "
    "Negative indexes count from the end. append adds an item, insert puts one at a position, remove "
    "deletes the first matching item and pop removes by index and returns it. len(scores) gives the "
    "number of items. Slicing, scores[1:3], returns a new list with the items from index 1 up to but not "
    "including 3. Lists can hold any type, even other lists, which is how tables are often stored. "
)


@dataclass
class PathResult:
    load_s: float = 0.0
    prompt_tokens: int = 0
    prompt_tps: float = 0.0
    ttft_s: list[float] = field(default_factory=list)       # per turn; [0] is the cold first turn
    generated_tokens: int = 0
    generation_s: float = 0.0
    peak_rss_bytes: int = 0
    rss_after_unload_bytes: int = 0
    texts: list[str] = field(default_factory=list)
    turn_tokens: list[int] = field(default_factory=list)    # tokens generated per turn

    @property
    def generation_tps(self) -> float:
        return self.generated_tokens / self.generation_s if self.generation_s > 0 else 0.0

    @property
    def followup_ttft_ratio(self) -> float:
        return self.ttft_s[-1] / self.ttft_s[0] if len(self.ttft_s) > 1 and self.ttft_s[0] > 0 else 0.0


@dataclass
class BenchReport:
    model: str
    path: str
    plan: LoadPlan
    turns: int
    max_tokens: int
    rss_before_bytes: int
    lantern: PathResult
    raw: PathResult | None
    same_output: bool | None

    @property
    def generation_ratio(self) -> float | None:
        if self.raw is None or not self.raw.generation_tps:
            return None
        return self.lantern.generation_tps / self.raw.generation_tps

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("lantern", "raw"):
            result: PathResult | None = getattr(self, name)
            if result is not None:
                out[name].pop("texts")
                out[name]["generation_tps"] = result.generation_tps
                out[name]["followup_ttft_ratio"] = result.followup_ttft_ratio
        out["plan"]["reasons"] = list(self.plan.reasons)
        out["generation_ratio"] = self.generation_ratio
        return out


class RssSampler:
    """Peak resident memory of this process while a block runs (sampled; psutil works everywhere)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._proc = psutil.Process()

    def now(self) -> int:
        return int(self._proc.memory_info().rss)

    @contextmanager
    def watch(self) -> Iterator[None]:
        stop = threading.Event()
        self.peak = self.now()

        def run() -> None:
            while not stop.wait(self.interval):
                self.peak = max(self.peak, self.now())

        thread = threading.Thread(target=run, name="lantern-rss", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.peak = max(self.peak, self.now())


def _conversation(turns: int, answers: list[str]) -> list[tuple[ChatMessage, ...]]:
    """The prompts of each turn: system, the earlier questions with their (Lantern) answers, the next one."""
    prompts = []
    history: list[ChatMessage] = [ChatMessage("system", SYSTEM)]
    for i in range(turns):
        prompts.append((*history, ChatMessage("user", QUESTIONS[i % len(QUESTIONS)])))
        if i < len(answers):
            history += [ChatMessage("user", QUESTIONS[i % len(QUESTIONS)]), ChatMessage("assistant", answers[i])]
    return prompts


def run_bench(path: Path, *, model_id: str, plan: LoadPlan, turns: int = 8, max_tokens: int = 64,
              prompt_tokens: int = 512, raw: bool = True,
              progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    sampler = RssSampler()
    gc.collect()
    before = sampler.now()
    progress("Lantern: loading")
    lantern = PathResult()
    with sampler.watch():
        started = time.perf_counter()
        backend = load_llama_chat(path, model_id=model_id, plan=plan)
        lantern.load_s = time.perf_counter() - started
        lesson = _lesson_prompt(backend, prompt_tokens)
        progress("Lantern: prompt processing")
        _, final = collect(backend.stream(GenerationRequest(lesson, sampling=GREEDY, max_tokens=1)))
        assert final.stats is not None
        lantern.prompt_tokens = final.stats.evaluated_prompt_tokens
        lantern.prompt_tps = final.stats.prompt_tokens_per_second or 0.0
        backend.forget_cache()  # turn 1 starts cold, exactly as the raw path does after its reset()
        for i in range(turns):
            progress(f"Lantern: turn {i + 1} of {turns}")
            messages = _conversation(i + 1, lantern.texts)[i]
            text, final = collect(backend.stream(GenerationRequest(messages, sampling=GREEDY, max_tokens=max_tokens)))
            stats = final.stats
            assert stats is not None and stats.time_to_first_token_s is not None
            lantern.texts.append(text)
            lantern.ttft_s.append(stats.time_to_first_token_s)
            lantern.turn_tokens.append(stats.completion_tokens)
            lantern.generated_tokens += max(0, stats.completion_tokens - 1)
            lantern.generation_s += stats.generation_seconds
        # The raw path gets exactly the token lists (BOS handling included) and stop sequences
        # Lantern used, so both generate the same tokens.
        prompts = [backend._prompt_tokens(m) for m in _conversation(turns, lantern.texts)]
        lesson_tokens = backend._prompt_tokens(lesson)[0]
    lantern.peak_rss_bytes = sampler.peak
    lantern.rss_after_unload_bytes = _unload(backend, sampler)
    del backend
    raw_result = _run_raw(path, plan, lesson_tokens, prompts, max_tokens, sampler, progress) if raw else None
    same = None if raw_result is None else raw_result.texts == lantern.texts
    return BenchReport(model=model_id, path=str(path), plan=plan, turns=turns, max_tokens=max_tokens,
                       rss_before_bytes=before, lantern=lantern, raw=raw_result, same_output=same)


def _lesson_prompt(backend: Any, prompt_tokens: int) -> tuple[ChatMessage, ...]:
    text = LESSON
    while backend.count_tokens((ChatMessage("user", text + "Summarise the lesson."),)) < prompt_tokens:
        text += LESSON
    return (ChatMessage("user", text + "Summarise the lesson."),)


def _run_raw(path: Path, plan: LoadPlan, lesson: list[int], prompts: list[tuple[list[int], tuple[str, ...]]],
             max_tokens: int, sampler: RssSampler, progress: Callable[[str], None]) -> PathResult:
    """The same work through llama-cpp-python's own API: Llama(...) and create_completion(stream=True).

    Its stream does not count tokens (a chunk may hold several, and a last empty chunk carries the
    finish reason), so the count comes from the context: what was evaluated after the prompt. The
    rate is over the time from the first chunk to the last chunk that carried text."""
    llama_cpp = import_llama_cpp()

    result = PathResult()
    greedy: dict[str, Any] = {"temperature": 0.0, "top_k": GREEDY.top_k, "top_p": GREEDY.top_p,
                              "min_p": GREEDY.min_p, "repeat_penalty": GREEDY.repeat_penalty}
    progress("raw llama-cpp-python: loading")
    with sampler.watch():
        started = time.perf_counter()
        llm = llama_cpp.Llama(model_path=str(path), **llama_settings(plan))
        result.load_s = time.perf_counter() - started
        progress("raw llama-cpp-python: prompt processing")
        started = time.perf_counter()
        llm.eval(lesson)
        result.prompt_tokens = len(lesson)
        result.prompt_tps = len(lesson) / (time.perf_counter() - started)
        llm.reset()
        for i, (prompt, stop) in enumerate(prompts):
            progress(f"raw llama-cpp-python: turn {i + 1} of {len(prompts)}")
            started = time.perf_counter()
            first = last = None
            parts = []
            stream = cast(Iterator[Any], llm.create_completion(prompt, max_tokens=max_tokens, stream=True,
                                                               stop=list(stop) or None, **greedy))
            finish = None
            for chunk in stream:
                now = time.perf_counter()
                first = first or now
                text = chunk["choices"][0]["text"]
                finish = chunk["choices"][0]["finish_reason"] or finish
                if text:
                    last = now
                    parts.append(text)
            assert first is not None
            # Every generated token but the last is evaluated into the context; an end-of-generation
            # token ends a "stop" (not counted), the max_tokens-th token ends a "length" (counted).
            generated = llm.n_tokens - len(prompt) + (1 if finish == "length" else 0)
            result.turn_tokens.append(generated)
            result.ttft_s.append(first - started)
            result.generated_tokens += max(0, generated - 1)
            result.generation_s += (last or first) - first
            result.texts.append("".join(parts))
    result.peak_rss_bytes = sampler.peak
    result.rss_after_unload_bytes = _unload(llm, sampler)
    return result


def _unload(model: Any, sampler: RssSampler) -> int:
    """Close a model and give its memory back; the process's RSS afterwards."""
    model.close()
    release_freed_memory()
    return sampler.now()
