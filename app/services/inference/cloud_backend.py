"""A cloud chat model behind any OpenAI-compatible API (OpenAI, OpenRouter, vLLM, Ollama, LM Studio,
llama.cpp's server), as a `ChatEngine`.

It uses the official `openai` SDK with the SDK's own retries off (the router decides about retrying
and failing over) and an HTTP client from the `NetworkGate`, so offline mode refuses a non-loopback
provider before a socket is opened.

Timeouts are ours, not only httpx's: connect (httpx), first token (no answer text within
`first_token_s` of the request), idle (no event for `idle_s` once text flows) and a wall clock
(`total_s`). The SDK stream is read on a background thread that feeds a queue; the generator polls it
every 50 ms, so a cancel ends the stream within ~50 ms even while the server is silent, and a timeout
fires on time. On a cancel or a timeout the request's socket is shut down (app.services.inference.
cloud_abort) so the reader thread ends too; the generator joins it before it returns.

Token counts come from the server's usage chunk (`stream_options.include_usage`). A server that sends
none (llama.cpp's server, older vLLM) or a stream that was cancelled gets our own count: the prompt
from `count_tokens` (an estimate, below), the answer as one token per content delta (llama.cpp's
server, vLLM and Ollama stream exactly one token per delta; OpenAI one or a few).

`min_tokens` is ignored: the OpenAI API has no such parameter, and it exists for small local models
that end their answers too early. GBNF grammars are llama.cpp-only and refused.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import CloudNotConfigured, CloudTimeout, OutputFormatUnsupported
from app.core.i18n import _
from app.core.inference import (
    CancelToken,
    ChatMessage,
    Chunk,
    EngineCapabilities,
    FinishReason,
    GenerationRequest,
    GenerationStats,
)
from app.services.inference.cloud_abort import RequestHandle, SocketBook
from app.services.inference.cloud_errors import translate_error
from app.services.net import NetworkGate

log = logging.getLogger(__name__)

BACKEND = "openai"
_POLL_S = 0.05          # how often the generator looks at the cancel token and the clock
_JOIN_S = 2.0           # the reader ends within ms of an abort; this only bounds a stuck connect
_BACKSTOP_S = 10.0      # httpx's read timeout sits this far past ours, so the reader never blocks forever
_PER_MESSAGE_TOKENS = 4  # role + separators per message in the chat templates OpenAI documents
_REPLY_TOKENS = 3        # the assistant turn's opening


def _mask(key: str | None) -> str:
    if not key:
        return "None"
    return f"'…{key[-4:]}'" if len(key) >= 12 else "'…'"


@dataclass(frozen=True, repr=False)
class CloudEndpoint:
    """Which provider, where, which model, the key (kept out of every repr and message)."""

    provider: str
    base_url: str
    model: str
    api_key: str | None = None
    context_length: int = 128_000

    def __post_init__(self) -> None:
        if not self.provider or not self.model:
            raise CloudNotConfigured(_("A cloud model needs a provider name and a model name."),
                                     hint=_("Set the cloud model as provider/model, e.g. openai/gpt-4o-mini."))
        if not self.base_url.startswith(("http://", "https://")):
            raise CloudNotConfigured(
                _("The address of the cloud provider {provider} must start with https:// (or http:// for a "
                  "server on this machine).").format(provider=self.provider),
                hint=_("Fix cloud_providers in the settings file, e.g. {provider} = \"https://api.example.com/v1\"."
                       ).format(provider=self.provider))
        if self.context_length < 1:
            raise CloudNotConfigured(_("The context length of a cloud model must be positive."),
                                     hint=_("Check the model's entry in the pricing table."))

    def __repr__(self) -> str:
        return (f"CloudEndpoint(provider={self.provider!r}, base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key={_mask(self.api_key)}, context_length={self.context_length})")

    __str__ = __repr__


@dataclass(frozen=True)
class CloudTimeouts:
    connect_s: float = 10.0
    first_token_s: float = 20.0
    idle_s: float = 30.0
    total_s: float = 180.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "first_token_s", "idle_s", "total_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"CloudTimeouts.{name} must be > 0, got {getattr(self, name)}")


def count_tokens(messages: Sequence[ChatMessage]) -> int:
    """An estimate without the provider's tokenizer: ceil(UTF-8 bytes / 4) per message (English BPE
    averages ~4 bytes a token) plus 4 per message and 3 for the reply. Used to plan the window and
    when the server reports no usage; never billed from."""
    return sum(math.ceil(len(m.content.encode("utf-8")) / 4) + _PER_MESSAGE_TOKENS for m in messages) + _REPLY_TOKENS


_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}
_thread = threading.local()


class CloudChatEngine:
    """A `ChatEngine` (and `ChatBackend`: `close()`) for one OpenAI-compatible endpoint. Thread-safe:
    the SDK client and its connection pool are shared by concurrent streams."""

    name = BACKEND

    def __init__(self, endpoint: CloudEndpoint, *, gate: NetworkGate, timeouts: CloudTimeouts | None = None) -> None:
        self.endpoint = endpoint
        self.timeouts = timeouts or CloudTimeouts()
        self._gate = gate
        self._lock = threading.Lock()
        self._sdk: Any = None
        self._book = SocketBook()
        self._capabilities = EngineCapabilities(
            model_id=f"{endpoint.provider}/{endpoint.model}", backend=BACKEND, where="cloud",
            context_length=endpoint.context_length, json_schema=True)

    def __repr__(self) -> str:
        return f"CloudChatEngine({self.endpoint!r}, timeouts={self.timeouts!r})"

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._capabilities

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return count_tokens(messages)

    # -- the SDK client ---------------------------------------------------------------------------
    def _client(self) -> Any:
        """Built on first use: making the engine must cost nothing (the router makes it eagerly)."""
        with self._lock:
            if self._sdk is None:
                import httpx2
                import openai

                t = self.timeouts
                timeout = httpx2.Timeout(connect=t.connect_s, read=max(t.first_token_s, t.idle_s) + _BACKSTOP_S,
                                         write=t.idle_s, pool=t.connect_s)
                http = self._gate.http_client(timeout=timeout, event_hooks={"request": [_trace_hook]})
                key = self.endpoint.api_key or "not-needed"  # local servers want none; the SDK wants one
                self._sdk = openai.OpenAI(base_url=self.endpoint.base_url, api_key=key, max_retries=0,
                                          timeout=timeout, http_client=http)
            return self._sdk

    def close(self) -> None:
        """Close the connection pool. A later `stream` opens a new one."""
        with self._lock:
            sdk, self._sdk = self._sdk, None
        if sdk is not None:
            sdk.close()

    # -- streaming --------------------------------------------------------------------------------
    def _params(self, request: GenerationRequest) -> dict[str, Any]:
        s = request.sampling
        params: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            # max_tokens, not max_completion_tokens: every OpenAI-compatible server knows the former.
            "max_tokens": request.max_tokens, "temperature": s.temperature, "top_p": s.top_p,
            "stream": True, "stream_options": {"include_usage": True},
        }
        if s.seed is not None:
            params["seed"] = s.seed
        if request.stop:
            params["stop"] = list(request.stop)
        if request.output.kind == "json":
            if request.output.json_schema is not None:
                params["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "answer", "schema": dict(request.output.json_schema), "strict": False}}
            else:
                params["response_format"] = {"type": "json_object"}
        return params

    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]:
        """Checks the request now (a grammar raises here); the request is sent on the first `next()`."""
        if request.output.kind == "grammar":
            raise OutputFormatUnsupported(
                _("{provider}'s API does not take llama.cpp grammars.").format(provider=self.endpoint.provider),
                hint=_("Ask for JSON output instead, or answer with the on-device model."))
        return self._generate(request, self._params(request), cancel)

    def _generate(self, request: GenerationRequest, params: dict[str, Any],
                  cancel: CancelToken | None) -> Iterator[Chunk]:
        started = time.perf_counter()
        events: queue.SimpleQueue[tuple[str, Any, float]] = queue.SimpleQueue()
        handle = RequestHandle(self._book)
        reader = threading.Thread(target=self._read, args=(params, handle, events),
                                  name="lantern-cloud-stream", daemon=True)
        tally = _Tally(started)
        reader.start()
        try:
            while True:
                if cancel is not None and cancel.cancelled:
                    handle.abort()
                    yield tally.final(self, request, "cancelled", time.perf_counter())
                    return
                deadline, phase = self._deadline(tally)
                try:
                    kind, payload, at = events.get(timeout=max(0.0, min(_POLL_S, deadline - time.perf_counter())))
                except queue.Empty:
                    if time.perf_counter() >= deadline:
                        handle.abort()
                        raise self._timeout(phase, tally) from None
                    continue
                if kind == "end":
                    break
                if kind == "error":
                    raise translate_error(payload, self.endpoint,
                                          partial_text=tally.text() if handle.responded else None) from payload
                tally.last_event = at
                text = tally.take(payload, at)
                if text:
                    yield Chunk(text, 1, at - started)
            yield tally.final(self, request, _FINISH.get(tally.finish or "stop", "stop"), time.perf_counter())
        finally:
            handle.abort()  # the consumer stopped early (or we raised): end the reader's read now
            reader.join(_JOIN_S)
            if reader.is_alive():
                log.warning("a cloud stream reader is still connecting to %s; it ends at the connect timeout",
                            self.endpoint.provider)

    def _read(self, params: dict[str, Any], handle: RequestHandle,
              events: queue.SimpleQueue[tuple[str, Any, float]]) -> None:
        """The reader thread: send, then pass each SDK event on with the time it arrived."""
        _thread.handle = handle
        try:
            stream = self._client().chat.completions.create(**params)
            try:
                handle.attach(stream.response)
                for event in stream:
                    events.put(("event", event, time.perf_counter()))
                    if handle.aborted:
                        break
            finally:
                stream.close()
        except BaseException as exc:  # handed to the generator, which translates it (or ignores it after an abort)
            handle.finish()
            events.put(("error", exc, time.perf_counter()))
        else:
            handle.finish()
            events.put(("end", None, time.perf_counter()))
        finally:
            _thread.handle = None

    def _deadline(self, tally: _Tally) -> tuple[float, str]:
        t = self.timeouts
        total = tally.started + t.total_s
        pending = (tally.started + t.first_token_s, "first_token") if tally.first is None \
            else (tally.last_event + t.idle_s, "idle")
        return (total, "total") if total <= pending[0] else pending

    def _timeout(self, phase: str, tally: _Tally) -> CloudTimeout:
        provider, t = self.endpoint.provider, self.timeouts
        if phase == "first_token":
            message = _("{provider} sent no answer within {seconds:g} s.").format(provider=provider,
                                                                                   seconds=t.first_token_s)
        elif phase == "idle":
            message = _("{provider} stopped sending the answer for more than {seconds:g} s.").format(
                provider=provider, seconds=t.idle_s)
        else:
            message = _("{provider} did not finish the answer within {seconds:g} s.").format(
                provider=provider, seconds=t.total_s)
        return CloudTimeout(message, hint=_("Check your connection, or try again later."), debug_context={
            "provider": provider, "model": self.endpoint.model, "phase": phase,
            "partial_output": bool(tally.parts), "partial_text_chars": len(tally.text())})


def _trace_hook(request: Any) -> None:
    """The client's request hook: give the request (on the reader thread) its handle's trace callback."""
    handle = getattr(_thread, "handle", None)
    if handle is not None:
        request.extensions["trace"] = handle.trace


class _Tally:
    """What one stream has received so far."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.last_event = started
        self.first: float | None = None
        self.last: float | None = None
        self.parts: list[str] = []
        self.finish: str | None = None
        self.usage: Any = None

    def text(self) -> str:
        return "".join(self.parts)

    def take(self, event: Any, at: float) -> str:
        if getattr(event, "usage", None) is not None:
            self.usage = event.usage
        pieces = []
        for choice in getattr(event, "choices", None) or ():
            if choice.index != 0:
                continue
            content = choice.delta.content if choice.delta is not None else None
            if content:
                pieces.append(content)
            if choice.finish_reason:
                self.finish = choice.finish_reason
        text = "".join(pieces)
        if text:
            if self.first is None:
                self.first = at
            self.last = at
            self.parts.append(text)
        return text

    def final(self, engine: CloudChatEngine, request: GenerationRequest, finish: FinishReason, now: float) -> Chunk:
        usage = self.usage if finish != "cancelled" else None
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        ttft = None if self.first is None else self.first - self.started
        stats = GenerationStats(
            backend=BACKEND, model=engine.capabilities.model_id,
            prompt_tokens=prompt if isinstance(prompt, int) else engine.count_tokens(request.messages),
            cached_prompt_tokens=0,
            completion_tokens=completion if isinstance(completion, int) else len(self.parts),
            time_to_first_token_s=ttft,
            prompt_seconds=ttft if ttft is not None else now - self.started,
            generation_seconds=0.0 if self.first is None or self.last is None else self.last - self.first,
            finish_reason=finish)
        return Chunk("", 0, now - self.started, finish_reason=finish, stats=stats)


def open_cloud_engine(endpoint: CloudEndpoint, *, gate: NetworkGate,
                      timeouts: CloudTimeouts | None = None) -> CloudChatEngine:
    """The factory the service container and the router use (and the backend registry's "openai")."""
    return CloudChatEngine(endpoint, gate=gate, timeouts=timeouts)
