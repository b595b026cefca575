"""Chat generation with MLX (mlx-lm): the native path on Apple silicon, the CPU build on Linux.

Behaves like the llama.cpp backend behind `app.core.inference.ChatBackend`: one chunk per
generated token (its text may be "" while a possible stop sequence is held back), then one final
chunk with the finish reason and statistics; a cancel ends the stream, it does not raise.

The previous turn's KV cache is kept with the exact token list it holds, so a follow-up question
evaluates only the new suffix of the prompt (the cache is trimmed back to the shared prefix). mlx
and mlx_lm are imported inside functions: they are heavy, and absent on most Windows/Linux installs.

Thinking models run in non-thinking mode by the same rules as the llama.cpp backend
(app.core.think_filter): `enable_thinking=False` goes to every `apply_chat_template` call (templates
that do not read it ignore it, so it is always safe), the soft switch is added when the template
has no such switch, and the stream is filtered so no reasoning text is shown.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from app.core.errors import (
    BackendUnavailable,
    InferenceFailed,
    ModelLoadFailed,
    OutputFormatUnsupported,
    PromptTooLong,
)
from app.core.i18n import N_, _
from app.core.inference import (
    CancelToken,
    ChatMessage,
    Chunk,
    EngineCapabilities,
    FinishReason,
    GenerationRequest,
    GenerationStats,
)
from app.core.stop_text import StopTextStream
from app.core.think_filter import (
    DeclaredThinking,
    ThinkingPlan,
    ThinkingTextStream,
    plan_thinking,
    prompt_opens_thought,
)
from app.services.inference.chat_template import FALLBACK_STOP, fold_system, plain_transcript

log = logging.getLogger(__name__)

MLX_HINT = N_("MLX runs on Macs with Apple silicon (pip install mlx-lm); on Linux the CPU build works too "
              "(pip install 'mlx[cpu]' mlx-lm). Or choose a GGUF model, which runs through llama.cpp.")
REPEAT_WINDOW = 20          # tokens the repetition penalty looks back over (mlx-lm's default)
PREFILL_STEP = 512          # prompt tokens per model call; a cancel is noticed between slices


class _Cancelled(Exception):
    """Raised from the prefill progress callback to abandon a long prompt evaluation."""


def _import_mlx() -> tuple[Any, Any]:
    try:
        import mlx.core as mx
        import mlx_lm
    except (ImportError, OSError) as exc:
        raise BackendUnavailable(
            _("The MLX runtime is not installed or cannot run on this computer."),
            hint=_(MLX_HINT),
            debug_context={"error": repr(exc)},
        ) from exc
    return mx, mlx_lm


def load_mlx_backend(path: str | Path, *, model_id: str, context_length: int,
                     thinking: DeclaredThinking | None = None) -> MlxChatBackend:
    """Load an MLX model folder (config.json, *.safetensors, tokenizer files); never downloads."""
    _mlx, mlx_lm = _import_mlx()
    folder = Path(path)
    if not (folder / "config.json").is_file():
        # mlx_lm.load treats a missing path as a hub repo id and would try to download it.
        raise ModelLoadFailed(
            _("The MLX model folder for {model_id} is missing or incomplete.").format(model_id=model_id),
            hint=_("Download the model again from the Models page."),
            debug_context={"path": str(folder)},
        )
    try:
        model, tokenizer = mlx_lm.load(str(folder))
    except Exception as exc:
        raise ModelLoadFailed(
            _("MLX could not load {model_id}.").format(model_id=model_id),
            hint=_("The model files may be damaged or of an architecture this mlx-lm does not know; "
              "download it again or update mlx-lm."),
            debug_context={"path": str(folder), "error": repr(exc)},
        ) from exc
    return MlxChatBackend(model, tokenizer, model_id=model_id, context_length=context_length, thinking=thinking)


class MlxChatBackend:
    """A loaded mlx-lm model and tokenizer. Not thread-safe: one worker thread drives it."""

    name = "mlx"

    def __init__(self, model: Any, tokenizer: Any, *, model_id: str, context_length: int,
                 thinking: DeclaredThinking | None = None) -> None:
        if context_length < 2:
            raise ValueError(f"context_length must be >= 2, got {context_length}")
        self.model_id = model_id
        self.context_length = context_length
        self.capabilities = EngineCapabilities(model_id=model_id, backend=self.name, where="on-device",
                                               context_length=context_length, json_schema=False, prompt_cache=True)
        self._model: Any = model
        self._tokenizer: Any = tokenizer
        self._cache: list[Any] | None = None     # KV cache of the last request
        self._cache_tokens: list[int] = []       # exactly the tokens that cache holds
        self._warned_plain = False
        self._plain = False   # the last prompt used the plain transcript (its turn markers stop the answer)
        self._opens_thought = False   # the last prompt ends inside an open <think> block
        template = getattr(tokenizer, "chat_template", None) if tokenizer.has_chat_template else None
        self.thinking: ThinkingPlan = plan_thinking(template if isinstance(template, str) else None, thinking)

    # -- prompt ---------------------------------------------------------------------------------

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._encode(messages))

    def _encode(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Same rules as the llama.cpp backend (app.services.inference.chat_template): the model's
        template; if it rejects a system message, the system prompt folded into the first user turn;
        without a usable template, a plain transcript whose turn markers are stop sequences."""
        tok = self._live()[1]
        plan = self.thinking
        self._opens_thought = False
        convo = messages if plan.template_switch else plan.soft_switched(messages)
        dicts = [{"role": m.role, "content": m.content} for m in convo]
        if tok.has_chat_template:
            attempts = [dicts, fold_system(dicts)] if any(m.role == "system" for m in messages) else [dicts]
            problem: Exception | None = None
            for attempt in attempts:
                try:
                    self._plain = False
                    tokens = list(tok.apply_chat_template(attempt, add_generation_prompt=True, enable_thinking=False))
                except Exception as exc:  # a template that rejects this conversation: try the next form
                    problem = exc
                    continue
                self._opens_thought = plan.thinks and prompt_opens_thought(tok.decode(tokens[-8:]))
                return tokens
            log.warning("chat template of %s failed (%r); using a plain transcript", self.model_id, problem)
        elif not self._warned_plain:
            log.warning("%s has no chat template; using a plain System/User/Assistant prompt", self.model_id)
            self._warned_plain = True
        self._plain = True
        return list(tok.encode(plain_transcript(plan.soft_switched(messages)), add_special_tokens=True))

    # -- generation -----------------------------------------------------------------------------

    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]:
        """Check the request now (errors raise here, not on the first `next`), then stream."""
        start = time.perf_counter()
        self._live()
        if request.output.kind != "text":
            raise OutputFormatUnsupported(
                _("MLX models can only answer in free text, not in a fixed format."),
                hint=_("use a GGUF model through llama.cpp for quizzes"),
                debug_context={"output": request.output.kind, "model": self.model_id},
            )
        tokens = self._encode(request.messages)
        if len(tokens) >= self.context_length:
            raise PromptTooLong(
                _("The question and its instructions are too long for this model's context window."),
                hint=_("Shorten the question, or load the model with a larger context length."),
                debug_context={"prompt_tokens": len(tokens), "context_length": self.context_length},
            )
        stop = (*request.stop, *(FALLBACK_STOP if self._plain else ()))  # read now: count_tokens also sets _plain
        held = ThinkingTextStream(stop, inside=self._opens_thought) if self.thinking.thinks else StopTextStream(stop)
        return self._generate(request, tokens, cancel or CancelToken(), start, held)

    def _generate(self, request: GenerationRequest, tokens: list[int], cancel: CancelToken,
                  start: float, held: StopTextStream | ThinkingTextStream) -> Iterator[Chunk]:
        mx, mlx_lm = _import_mlx()
        from mlx_lm.sample_utils import make_sampler

        model, tok = self._live()
        cache: list[Any] | None
        cache, reused = self._reuse_cache(tokens)
        room = self.context_length - len(tokens)
        budget = min(request.max_tokens, room)
        at_limit: FinishReason = "length" if request.max_tokens <= room else "context_full"
        s = request.sampling
        if s.temperature > 0:
            mx.random.seed(s.seed if s.seed is not None else secrets.randbits(32))

        def on_prefill(done: int, total: int) -> None:
            if cancel.cancelled and done < total:
                raise _Cancelled

        generated: list[int] = []
        completion = 0
        finish: FinishReason | None = None
        tail = ""
        first_at: float | None = None
        last_at = prefill_at = time.perf_counter()
        gen = mlx_lm.stream_generate(
            model, tok, mx.array(tokens[reused:]), max_tokens=budget,
            sampler=make_sampler(s.temperature, s.top_p, s.min_p, top_k=s.top_k),
            logits_processors=[*self._penalty(s.repeat_penalty, tokens[:reused]),
                               *self._no_end_before(request.min_tokens, tok)],
            prompt_cache=cache, prefill_step_size=PREFILL_STEP, prompt_progress_callback=on_prefill,
        )
        try:
            if cancel.cancelled:
                finish = "cancelled"
            else:
                for response in gen:
                    last_at = time.perf_counter()
                    first_at = first_at if first_at is not None else last_at
                    generated.append(int(response.token))
                    if response.finish_reason == "stop":      # end-of-sequence token: no text, no count
                        tail = held.feed(response.text.encode()).text
                        finish = "stop"
                        break
                    completion += 1
                    released = held.feed(response.text.encode())
                    yield Chunk(released.text, 1, last_at - start)
                    if released.stopped:
                        finish = "stop"
                    elif response.finish_reason == "length":
                        finish = at_limit
                    elif cancel.cancelled:
                        finish = "cancelled"
                    if finish is not None:
                        break
        except _Cancelled:
            finish = "cancelled"
        except Exception as exc:
            cache = None     # state unknown: do not reuse it
            raise InferenceFailed(_("MLX failed while generating the answer."),
                                  hint=_("Try again, or reload the model."),
                                  debug_context={"model": self.model_id, "error": repr(exc)}) from exc
        finally:
            gen.close()
            self._remember_cache(cache, tokens + generated)
        finish = finish or at_limit
        tail += held.flush().text
        end = time.perf_counter()
        stats = GenerationStats(
            backend=self.name, model=self.model_id, prompt_tokens=len(tokens), cached_prompt_tokens=reused,
            completion_tokens=completion,
            time_to_first_token_s=None if first_at is None else first_at - start,
            prompt_seconds=(first_at if first_at is not None else end) - prefill_at,
            generation_seconds=0.0 if first_at is None else last_at - first_at,
            finish_reason=finish,
        )
        yield Chunk(tail, 0, end - start, finish_reason=finish, stats=stats)

    @staticmethod
    def _no_end_before(min_tokens: int, tok: Any) -> list[Callable[[Any, Any], Any]]:
        """Rule out the end-of-sequence tokens for the first `min_tokens` steps (GenerationRequest.min_tokens)."""
        ends = sorted(getattr(tok, "eos_token_ids", None) or ())
        if not min_tokens or not ends:
            return []
        import mlx.core as mx

        steps = [0]
        ids = mx.array(ends)

        def block(_seen: Any, logits: Any) -> Any:
            steps[0] += 1
            if steps[0] > min_tokens:
                return logits
            blocked = mx.zeros((logits.shape[-1],), dtype=logits.dtype).at[ids].add(-float("inf"))
            return logits + blocked

        return [block]

    @staticmethod
    def _penalty(penalty: float, prefix: list[int]) -> list[Callable[[Any, Any], Any]]:
        """Repetition penalty that also sees the cached part of the prompt, so reuse never changes output."""
        if penalty == 1.0:
            return []
        import mlx.core as mx
        from mlx_lm.sample_utils import make_logits_processors

        [process] = make_logits_processors(repetition_penalty=penalty, repetition_context_size=REPEAT_WINDOW)
        if not prefix:
            return [process]
        head = mx.array(prefix[-REPEAT_WINDOW:])
        return [lambda seen, logits: process(mx.concatenate([head, seen.astype(head.dtype)]), logits)]

    # -- KV cache reuse -------------------------------------------------------------------------

    def _reuse_cache(self, tokens: list[int]) -> tuple[list[Any], int]:
        """The cache to generate with and how many leading prompt tokens it already holds."""
        from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache

        cache, held = self._cache, self._cache_tokens
        self._cache, self._cache_tokens = None, []   # in use; given back by _remember_cache
        common = 0
        for a, b in zip(held, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)        # at least one token must be evaluated
        if cache is not None and common > 0:
            excess = len(held) - common
            if excess == 0:
                return cache, common
            if can_trim_prompt_cache(cache) and trim_prompt_cache(cache, excess) == excess:
                return cache, common
        return make_prompt_cache(self._model), 0

    def _remember_cache(self, cache: list[Any] | None, fed: list[int]) -> None:
        """Keep the cache with the tokens it holds; its offset says how many of `fed` made it in."""
        offsets = {getattr(c, "offset", None) for c in cache or ()}
        if len(offsets) != 1 or not isinstance(size := offsets.pop(), int) or size > len(fed):
            self._forget_cache()      # a cache whose contents we cannot name is not reused
            return
        self._cache, self._cache_tokens = cache, fed[:size]

    def _forget_cache(self) -> None:
        self._cache, self._cache_tokens = None, []

    # -- lifetime -------------------------------------------------------------------------------

    def _live(self) -> tuple[Any, Any]:
        if self._model is None:
            raise RuntimeError(f"the MLX backend for {self.model_id} is closed")
        return self._model, self._tokenizer

    def close(self) -> None:
        """Drop the model and cache so their memory can go back (on Apple silicon, unified memory)."""
        if self._model is None:
            return
        self._model = self._tokenizer = None
        self._forget_cache()
        try:
            import mlx.core as mx

            mx.clear_cache()
        except (ImportError, AttributeError):  # an MLX without clear_cache: memory is freed on the next allocation
            log.debug("mlx.clear_cache is not available")
