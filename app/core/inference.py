"""One protocol for every text-generation and embedding backend.

`ChatEngine` is what a caller talks to: stream an answer, count a prompt's tokens, and read the
engine's `capabilities` (model id, backend, *where it runs* — on-device or cloud —, context length,
structured output). llama.cpp and MLX run on this machine; an OpenAI-compatible cloud model and the
local/cloud router come next and implement the same protocol, so the badge and every `--json`
output say where an answer was produced from the engine, never from a literal. A `ChatBackend` is
one loaded model (a `ChatEngine` that can be closed); `ModelHost` is a `ChatEngine` too.

A request is an immutable snapshot (built on the GUI thread, consumed on the model's worker thread);
a stream yields `Chunk`s, the last of which carries the finish reason and the statistics. A cancel
is not an error: the stream ends with `finish_reason="cancelled"`.

Backends are registered by name (`BackendRegistry`), the way llama-cpp-python registers chat
formats, so adding one is registration, not an edit of the callers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

MessageRole = Literal["system", "user", "assistant"]
Where = Literal["on-device", "cloud"]
FinishReason = Literal["stop", "length", "context_full", "cancelled"]
OutputKind = Literal["text", "json", "grammar"]


@dataclass(frozen=True)
class ChatMessage:
    role: MessageRole
    content: str


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters. temperature 0 means greedy (deterministic for a given prompt)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None  # None: a fresh random seed per request

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 <= self.min_p < 1:
            raise ValueError(f"min_p must be in [0, 1), got {self.min_p}")
        if self.repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty must be > 0, got {self.repeat_penalty}")


GREEDY = Sampling(temperature=0.0, repeat_penalty=1.0)


@dataclass(frozen=True)
class OutputFormat:
    """Free text, JSON (optionally matching a JSON Schema), or a GBNF grammar (llama.cpp's format)."""

    kind: OutputKind = "text"
    json_schema: Mapping[str, Any] | None = None
    grammar: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "grammar" and not self.grammar:
            raise ValueError("OutputFormat(kind='grammar') needs a grammar")
        if self.kind != "json" and self.json_schema is not None:
            raise ValueError("json_schema applies only to kind='json'")
        if self.kind != "grammar" and self.grammar is not None:
            raise ValueError("grammar applies only to kind='grammar'")


TEXT = OutputFormat()
ANY_JSON = OutputFormat(kind="json")


def json_output(schema: Mapping[str, Any] | None = None) -> OutputFormat:
    return OutputFormat(kind="json", json_schema=schema)


def without_length_bounds(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` without minLength/maxLength, for sending to an engine. llama.cpp spells `maxLength: 200` out as
    200 nested optional characters in its grammar, which made each token ~20x slower (measured: 52 s per
    hint with Qwen2.5-Coder-0.5B on 2 cores), and OpenAI's strict mode refuses the keyword. The caller checks
    lengths when it reads the reply, and max_tokens caps the reply."""
    def strip(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {k: strip(v) for k, v in node.items() if k not in ("maxLength", "minLength")}
        return [strip(v) for v in node] if isinstance(node, list) else node
    return dict(strip(schema))


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one answer needs. `messages` is the whole prompt (system, history, question),
    already trimmed to the window by app.core.context_policy."""

    messages: tuple[ChatMessage, ...]
    sampling: Sampling = field(default_factory=Sampling)
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    output: OutputFormat = TEXT
    # End-of-text is not allowed before this many tokens: a 0.5B model otherwise ends its answer right
    # after "[1]" (issue 16). Stop sequences still end the answer.
    min_tokens: int = 0
    # Record each answer token's log-probability (llama.cpp): the router reads their mean as the model's
    # confidence. Off by default: it costs a pass over the vocabulary per token (~1 % of decode time).
    logprobs: bool = False

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a GenerationRequest needs at least one message")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ValueError(f"min_tokens must be in [0, max_tokens], got {self.min_tokens}")
        if any(not s for s in self.stop):
            raise ValueError("stop sequences must not be empty strings")


@dataclass(frozen=True)
class GenerationStats:
    """What one answer cost. Times are seconds from the start of the request."""

    backend: str
    model: str
    prompt_tokens: int            # the whole prompt, after the chat template
    cached_prompt_tokens: int     # of those, reused from the previous turn's KV cache
    completion_tokens: int
    time_to_first_token_s: float | None   # None when no token was produced (cancelled early)
    prompt_seconds: float         # evaluating the uncached part of the prompt
    generation_seconds: float     # from the first token to the last
    finish_reason: FinishReason
    # Mean natural-log probability of the answer's tokens under the model, when the request asked for
    # log-probabilities and the backend can give them (llama.cpp); None otherwise.
    mean_logprob: float | None = None

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_prompt_tokens

    @property
    def prompt_tokens_per_second(self) -> float | None:
        n = self.evaluated_prompt_tokens
        return n / self.prompt_seconds if n > 0 and self.prompt_seconds > 0 else None

    @property
    def generation_tokens_per_second(self) -> float | None:
        # The first token's time belongs to the prompt; the rate is over the tokens after it.
        n = self.completion_tokens - 1
        return n / self.generation_seconds if n > 0 and self.generation_seconds > 0 else None


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer. `tokens` counts the tokens this chunk covers (text may be
    empty while a possible stop sequence is held back); the last chunk has `finish_reason` and
    `stats` set."""

    text: str
    tokens: int
    elapsed_s: float
    finish_reason: FinishReason | None = None
    stats: GenerationStats | None = None

    @property
    def is_final(self) -> bool:
        return self.finish_reason is not None


class CancelToken:
    """Set from any thread; backends check it between tokens (and while reading the prompt).
    A token with a `parent` is also cancelled when the parent is, not the other way round: a
    worker can stop its own run without cancelling the caller's token."""

    def __init__(self, parent: CancelToken | None = None) -> None:
        self._event = threading.Event()
        self._parent = parent

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.cancelled)


@dataclass(frozen=True)
class EngineCapabilities:
    """What a chat engine is and can do; the UI and `--json` read where an answer came from here."""

    model_id: str
    backend: str                # registry name: "llama.cpp", "mlx", later "openai"
    where: Where                # "on-device" (this machine) or "cloud" (an API)
    context_length: int         # the window this engine was loaded with
    json_schema: bool           # honours OutputFormat(kind="json", json_schema=...)
    grammar: bool = False       # honours OutputFormat(kind="grammar")
    prompt_cache: bool = False  # reuses the previous turn's KV cache for a shared prefix

    @property
    def on_device(self) -> bool:
        return self.where == "on-device"


@runtime_checkable
class ChatEngine(Protocol):
    """Anything that answers: a loaded model, the model host, later a cloud model or the router."""

    @property
    def capabilities(self) -> EngineCapabilities: ...

    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]: ...

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens these messages take once the chat template is applied, with the generation prompt."""
        ...


@runtime_checkable
class ChatBackend(ChatEngine, Protocol):
    """One loaded chat model. Not thread-safe: one worker thread drives it (app.services.inference.host)."""

    def close(self) -> None: ...


@runtime_checkable
class EmbeddingBackend(Protocol):
    """A loaded embedding model: the one protocol the indexer, the searcher and the host use."""

    name: str
    model_id: str
    dimension: int
    max_tokens: int             # longer inputs are truncated to this many tokens (and a warning is logged)

    def tokenize(self, text: str) -> list[int]: ...

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[list[float]]: ...

    def close(self) -> None: ...


def collect(chunks: Iterator[Chunk]) -> tuple[str, Chunk]:
    """Drain a stream: the whole text and the final chunk (with stats)."""
    parts: list[str] = []
    for chunk in chunks:
        parts.append(chunk.text)
        if chunk.is_final:
            return "".join(parts), chunk
    raise RuntimeError("stream ended without a final chunk")


B = TypeVar("B")


class BackendRegistry(Generic[B]):
    """Backends by name. A factory takes keyword arguments the backend documents (a model path and
    a LoadPlan for local ones; an endpoint for cloud ones) and returns a ready backend."""

    def __init__(self) -> None:
        self._factories: dict[str, Callable[..., B]] = {}

    def register(self, name: str, factory: Callable[..., B], *, replace: bool = False) -> None:
        if name in self._factories and not replace:
            raise ValueError(f"backend {name!r} is already registered")
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, **kwargs: Any) -> B:
        try:
            factory = self._factories[name]
        except KeyError:
            raise KeyError(f"no backend named {name!r}; registered: {', '.join(self.names()) or 'none'}") from None
        return factory(**kwargs)
