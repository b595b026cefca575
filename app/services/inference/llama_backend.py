"""The llama.cpp chat backend (llama-cpp-python), streaming token by token.

We drive `Llama.generate` ourselves rather than `create_completion(stream=True)` because we need
what the latter hides: exact prompt/cached/completion token counts, a cancel check between prompt
slices (a long prompt on a slow CPU takes seconds), and UTF-8 + stop-sequence handling that holds
back only what could still become a stop sequence (app.core.stop_text).

KV reuse: the evaluated tokens stay in the context between requests. Each request evaluates only
the part of the prompt after the longest common prefix with what is already there, so a follow-up
turn costs its own new tokens, not the whole conversation (prompt layout in app.core.context_policy
keeps that prefix stable).

Thinking models (Qwen3) are prompted in non-thinking mode by the chat template
(app.services.inference.chat_template) and their stream goes through app.core.think_filter, so no
reasoning text reaches the CLI or the GUI.
"""

from __future__ import annotations

import ctypes
import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from app.core.errors import InferenceFailed, OutputFormatUnsupported, PromptTooLong
from app.core.i18n import _
from app.core.inference import (
    CancelToken,
    ChatMessage,
    Chunk,
    EngineCapabilities,
    FinishReason,
    GenerationRequest,
    GenerationStats,
    OutputFormat,
)
from app.core.load_plan import LoadPlan
from app.core.stop_text import StopTextStream
from app.core.think_filter import DeclaredThinking, ThinkingTextStream
from app.services.inference.chat_template import ChatTemplate, RenderedPrompt

log = logging.getLogger(__name__)



class _Cancelled(Exception):
    """A cancel noticed between prompt slices; ends the stream with finish_reason='cancelled'."""


class LlamaChatBackend:
    name = "llama.cpp"

    def __init__(self, llm: Any, *, model_id: str, plan: LoadPlan, thinking: DeclaredThinking | None = None) -> None:
        """`thinking`: what the catalog says about this model's reasoning (None: unknown or none;
        the chat template's own text is read too)."""
        self._llm = llm
        self.model_id = model_id
        self.plan = plan
        self.context_length = int(llm.n_ctx())
        self.capabilities = EngineCapabilities(model_id=model_id, backend=self.name, where="on-device",
                                               context_length=self.context_length, json_schema=True, grammar=True,
                                               prompt_cache=True)
        model = llm._model
        eos, bos = llm.token_eos(), llm.token_bos()
        self.template = ChatTemplate(
            llm.metadata.get("tokenizer.chat_template"), model_id=model_id,
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            eos_token=model.token_get_text(eos) if eos != -1 else "", thinking=thinking)
        self._vocab = model.vocab
        self._eog_ids: Any = None  # numpy array of end-token ids, built on first use (_end_tokens)
        self._pieces: dict[int, bytes] = {}
        self._piece_buf = ctypes.create_string_buffer(256)
        self._grammars: dict[str, Any] = {}
        self._cancel: CancelToken | None = None
        self._abort = _abort_callback(self)  # kept alive: llama.cpp holds a raw pointer while it is set

    # -- prompt ---------------------------------------------------------------------------------
    def _prompt_tokens(self, messages: Sequence[ChatMessage]) -> tuple[list[int], tuple[str, ...]]:
        rendered = self.template.render(messages)
        return self._tokenize(rendered), rendered.stop

    def _tokenize(self, rendered: RenderedPrompt) -> list[int]:
        bos = self.template.bos_token
        # Templates that write the BOS token themselves must not get a second one from the tokenizer.
        add_bos = not (bos and rendered.text.startswith(bos))
        return list(self._llm.tokenize(rendered.text.encode("utf-8"), add_bos=add_bos, special=True))

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt_tokens(messages)[0])

    def _prefill(self, tokens: list[int], cancel: CancelToken | None) -> int:
        """Evaluate what the KV cache lacks; returns how many prompt tokens were already cached.

        A long prompt on a slow CPU takes seconds, so a cancel must not wait for it. Cutting the
        prompt into small slices would do, but costs prompt speed (measured: 0.81x with 64-token
        slices) and changes the floating-point results, so answers would differ from llama.cpp's
        own for the same prompt. Instead llama.cpp's abort callback is set while the prompt is read:
        ggml's CPU backend asks it between graph nodes (milliseconds). It is unset while generating,
        where it would cost a Python call per node per token and the between-token check suffices."""
        llm = self._llm
        cached = llm.longest_token_prefix(llm._input_ids.tolist(), tokens)
        cached = min(cached, len(tokens) - 1)  # the last prompt token is always evaluated: fresh logits
        if cached < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, cached, -1):
            cached = 0  # recurrent models cannot drop part of their state
            llm.reset()
        llm.n_tokens = cached
        if cancel is not None and cancel.cancelled:
            raise _Cancelled
        self._set_abort(cancel)
        try:
            self._eval(tokens[cached:])
        except InferenceFailed:
            if cancel is not None and cancel.cancelled:
                raise _Cancelled from None  # llama_decode returned 2: aborted; the cache keeps what was read
            raise
        finally:
            self._set_abort(None)
        return cached

    def _set_abort(self, cancel: CancelToken | None) -> None:
        import llama_cpp

        self._cancel = cancel
        callback = self._abort if cancel is not None else llama_cpp.ggml_abort_callback()  # a NULL callback
        llama_cpp.llama_set_abort_callback(self._llm._ctx.ctx, callback, None)

    def _eval(self, tokens: list[int]) -> None:
        try:
            self._llm.eval(tokens)
        except Exception as exc:  # llama_decode failed: translate once, here
            raise InferenceFailed(
                _("The model failed while reading the prompt."),
                hint=_("Try again; if it keeps failing, reload the model with a shorter context."),
                debug_context={"error": repr(exc), "n_tokens": self._llm.n_tokens}) from exc

    # -- output ---------------------------------------------------------------------------------
    def _grammar(self, output: OutputFormat) -> Any:
        if output.kind == "text":
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        if output.kind == "grammar":
            key, source = f"g:{output.grammar}", output.grammar
        elif output.json_schema is not None:
            key, source = f"s:{json.dumps(output.json_schema, sort_keys=True)}", None
        else:
            key, source = "json", JSON_GBNF
        if key not in self._grammars:
            problem = None
            try:
                if source is None:
                    grammar = LlamaGrammar.from_json_schema(json.dumps(output.json_schema), verbose=False)
                else:
                    grammar = LlamaGrammar.from_string(source, verbose=False)
                if not self._grammar_parses(grammar):
                    problem = "llama.cpp could not parse the grammar"
            except Exception as exc:
                problem = repr(exc)
            if problem is not None:
                raise OutputFormatUnsupported(
                    _("The requested output format could not be turned into a grammar."),
                    hint=_("Check the JSON Schema or GBNF grammar; llama.cpp supports a subset of JSON Schema."),
                    debug_context={"error": problem})
            self._grammars[key] = grammar
        return self._grammars[key]

    def _grammar_parses(self, grammar: Any) -> bool:
        """llama-cpp-python parses a grammar only inside the sampler chain, where a parse failure is a
        NULL sampler added to the chain; parse it here once so a bad grammar is an error, not a crash."""
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(self._vocab, grammar._grammar.encode("utf-8"),
                                                       grammar._root.encode("utf-8"))
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            import llama_cpp

            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, len(self._piece_buf), 0, False)
            if n < 0:  # a piece longer than the buffer: grow it once
                self._piece_buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, -n, 0, False)
            piece = self._piece_buf.raw[:n]
            self._pieces[token] = piece
        return piece

    def _is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def _end_tokens(self) -> Any:
        """Every end-of-generation token id (EOS, EOT, <|im_end|>, ...), found once per model."""
        if self._eog_ids is None:
            import llama_cpp
            import numpy as np

            n = llama_cpp.llama_vocab_n_tokens(self._vocab)
            self._eog_ids = np.array([t for t in range(n) if llama_cpp.llama_vocab_is_eog(self._vocab, t)],
                                     dtype=np.intc)
        return self._eog_ids

    def _no_end_before(self, min_tokens: int) -> Any:
        """A logits processor that rules out the end tokens for the first `min_tokens` steps. It runs
        first in llama-cpp-python's sampler chain, where the candidates are still in token-id order."""
        import llama_cpp

        ends = self._end_tokens()
        steps = [0]

        def block(_input_ids: Any, scores: Any) -> Any:
            if steps[0] < min_tokens and len(ends):
                scores[ends] = -float("inf")
            steps[0] += 1
            return scores

        return llama_cpp.LogitsProcessorList([block])

    # -- generation -----------------------------------------------------------------------------
    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]:
        """Checks the request now (a too-long prompt or a bad grammar raises here, not at the first
        chunk), then returns the stream."""
        started = time.perf_counter()
        rendered = self.template.render(request.messages)
        tokens = self._tokenize(rendered)
        if len(tokens) >= self.context_length:
            raise PromptTooLong(
                _("The prompt takes {count:,} tokens; this model's window is {context_length:,}.").format(
                  count=len(tokens), context_length=self.context_length),
                hint=_("Shorten the question, or load the model with a longer context (Settings › Context length)."))
        grammar = self._grammar(request.output)
        return self._generate(request, cancel, tokens, rendered, grammar, started)

    def _text_stream(self, stop: tuple[str, ...], rendered: RenderedPrompt) -> StopTextStream | ThinkingTextStream:
        if self.template.thinking.thinks:
            return ThinkingTextStream(stop, inside=rendered.opens_thought)
        return StopTextStream(stop)

    def _generate(self, request: GenerationRequest, cancel: CancelToken | None, tokens: list[int],
                  rendered: RenderedPrompt, grammar: Any, started: float) -> Iterator[Chunk]:
        s = request.sampling
        self._llm.set_seed(s.seed if s.seed is not None else random.getrandbits(31))
        counts = _Counts(prompt=len(tokens))
        if request.logprobs:
            counts.logprob_sum = 0.0
        try:
            counts.cached = self._prefill(tokens, cancel)
        except _Cancelled:
            yield counts.final(self, "cancelled", started, time.perf_counter())
            return
        prefilled = time.perf_counter()
        counts.prompt_seconds = prefilled - started
        text = self._text_stream((*request.stop, *rendered.stop), rendered)
        generator = self._llm.generate(
            tokens, top_k=s.top_k, top_p=s.top_p, min_p=s.min_p, temp=s.temperature,
            repeat_penalty=s.repeat_penalty, grammar=grammar,
            logits_processor=self._no_end_before(request.min_tokens) if request.min_tokens else None)
        finish: FinishReason = "length"
        try:
            for token in generator:
                now = time.perf_counter()
                if counts.first is None:
                    counts.first = now
                if self._is_end(token):
                    finish = "stop"
                    break
                if counts.logprob_sum is not None:
                    counts.logprob_sum += self._token_logprob(token)
                counts.completion += 1
                counts.last = now
                released = text.feed(self._piece(token))
                if released.stopped:
                    yield Chunk(released.text, 1, now - started)
                    finish = "stop"
                    break
                if cancel is not None and cancel.cancelled:
                    yield Chunk(released.text, 1, now - started)
                    finish = "cancelled"
                    break
                if counts.completion >= request.max_tokens:
                    yield Chunk(released.text + text.flush().text, 1, now - started)
                    break
                if counts.prompt + counts.completion >= self.context_length:
                    yield Chunk(released.text + text.flush().text, 1, now - started)
                    finish = "context_full"
                    break
                yield Chunk(released.text, 1, now - started)
        except Exception as exc:
            raise InferenceFailed(_("The model failed while writing the answer."),
                                  hint=_("Try again; if it keeps failing, reload the model."),
                                  debug_context={"error": repr(exc)}) from exc
        finally:
            generator.close()
        tail = "" if finish in ("length", "context_full") else text.flush().text
        yield counts.final(self, finish, started, time.perf_counter(), tail=tail)

    def _token_logprob(self, token: int) -> float:
        """log p(token) under the logits that chose it. Generate yields a token before it decodes the next
        one, so the context's last logits row is still the one sampled from (the raw model distribution,
        before the repeat penalty and the min_tokens mask)."""
        import llama_cpp
        import numpy as np

        n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1), shape=(n_vocab,))
        top = float(logits.max())
        return float(logits[token]) - top - float(np.log(np.exp(logits - top).sum()))

    def forget_cache(self) -> None:
        """Drop the KV cache: the next request reads its whole prompt (a cold start, for benchmarks)."""
        self._llm.reset()

    def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            self._grammars.clear()
            llm.close()


def _abort_callback(backend: LlamaChatBackend) -> Any:
    import llama_cpp

    def should_abort(_data: Any) -> bool:
        cancel = backend._cancel
        return cancel is not None and cancel.cancelled

    return llama_cpp.ggml_abort_callback(should_abort)


class _Counts:
    def __init__(self, *, prompt: int) -> None:
        self.prompt = prompt
        self.cached = 0
        self.completion = 0
        self.prompt_seconds = 0.0
        self.first: float | None = None
        self.last: float | None = None
        self.logprob_sum: float | None = None

    def final(self, backend: LlamaChatBackend, finish: FinishReason, started: float, now: float, *,
              tail: str = "") -> Chunk:
        if finish == "cancelled" and not self.prompt_seconds:
            self.prompt_seconds = now - started
        stats = GenerationStats(
            backend=backend.name, model=backend.model_id, prompt_tokens=self.prompt, cached_prompt_tokens=self.cached,
            completion_tokens=self.completion,
            time_to_first_token_s=None if self.first is None else self.first - started,
            prompt_seconds=self.prompt_seconds,
            generation_seconds=0.0 if self.first is None or self.last is None else self.last - self.first,
            finish_reason=finish,
            mean_logprob=None if self.logprob_sum is None or not self.completion
            else self.logprob_sum / self.completion)
        return Chunk(tail, 0, now - started, finish_reason=finish, stats=stats)
