"""How the tutor's prompt is trimmed to fit the model's context window.

The prompt is [system] + the kept conversation turns (user, assistant) + one final user message
holding the retrieved course passages and the question. The order is chosen for llama.cpp's KV-cache
prefix reuse: everything before the final message is the same from one turn to the next, so a
follow-up only evaluates the new tokens and time-to-first-token does not grow with the conversation.
Passages change every turn, so they live only in the final message; anywhere earlier they would
invalidate the cache for everything after them.

When the prompt does not fit, `fit_to_window` applies, in this order:

1. Budget = context length - answer reserve. Start from the caller's `first_turn` (the previous
   result's), so turns dropped before stay dropped and the prefix stays the same.
2. Drop the oldest turns. Dropping any turn invalidates the cache after the system prompt, so when
   we drop we drop down to `low_water * budget` (or no turns left): the next few questions then
   append to the same prefix instead of dropping one turn each time (hysteresis).
3. Drop passages, lowest-ranked first, until the prompt fits the budget.
4. Shrink the answer reserve, down to `min_answer_tokens`.
5. Raise `PromptTooLong`: the system prompt and the question alone do not fit.

Token counts come from `count_tokens`, which may be a real tokenizer (milliseconds per call), so
the number of turns and passages to drop is found by binary search (the count is monotone in what
is kept): O(log turns + log passages) calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.errors import PromptTooLong
from app.core.i18n import _
from app.core.inference import ChatMessage

CountTokens = Callable[[Sequence[ChatMessage]], int]


@dataclass(frozen=True)
class Turn:
    user: str
    assistant: str


@dataclass(frozen=True)
class Passage:
    text: str
    source: str  # a label shown to the model and the user, e.g. "Lesson 2 › Loops"
    score: float = 0.0


@dataclass(frozen=True)
class PromptParts:
    system: str
    question: str
    passages: tuple[Passage, ...] = ()  # ranked, best first
    history: tuple[Turn, ...] = ()  # oldest first


@dataclass(frozen=True)
class TrimResult:
    messages: tuple[ChatMessage, ...]
    prompt_tokens: int
    first_turn: int  # index of the oldest kept turn; pass it to the next call
    dropped_turns: int  # turns dropped by this call (first_turn - the first_turn passed in)
    kept_passages: int
    dropped_passages: int
    answer_tokens: int  # the answer reserve left (may be less than asked for)
    notes: tuple[str, ...]  # plain-language lines for logs and the UI


def build_messages(parts: PromptParts, *, first_turn: int = 0, passages: int | None = None) -> tuple[ChatMessage, ...]:
    """The chat messages for `parts`, keeping turns from `first_turn` and the best `passages`."""
    if not 0 <= first_turn <= len(parts.history):
        raise ValueError(f"first_turn must be in [0, {len(parts.history)}], got {first_turn}")
    if passages is None:
        passages = len(parts.passages)
    if not 0 <= passages <= len(parts.passages):
        raise ValueError(f"passages must be in [0, {len(parts.passages)}], got {passages}")
    messages: list[ChatMessage] = []
    if parts.system:
        messages.append(ChatMessage("system", parts.system))
    for turn in parts.history[first_turn:]:
        messages.append(ChatMessage("user", turn.user))
        messages.append(ChatMessage("assistant", turn.assistant))
    kept = parts.passages[:passages]
    if kept:
        material = "\n\n".join(f"[{i}] ({p.source})\n{p.text}" for i, p in enumerate(kept, start=1))
        final = f"Course material:\n\n{material}\n\nQuestion: {parts.question}"
    else:
        final = parts.question
    messages.append(ChatMessage("user", final))
    return tuple(messages)


def fit_to_window(
    parts: PromptParts,
    *,
    count_tokens: CountTokens,
    context_length: int,
    answer_tokens: int,
    min_answer_tokens: int = 128,
    first_turn: int = 0,
    low_water: float = 0.75,
) -> TrimResult:
    """Trim `parts` to fit `context_length` with room for the answer, by the policy above."""
    n_turns, n_passages = len(parts.history), len(parts.passages)
    if context_length <= 0:
        raise ValueError(f"context_length must be > 0, got {context_length}")
    if not 0 < low_water <= 1:
        raise ValueError(f"low_water must be in (0, 1], got {low_water}")
    if not answer_tokens >= min_answer_tokens >= 1:
        raise ValueError(f"need answer_tokens >= min_answer_tokens >= 1, got {answer_tokens} and {min_answer_tokens}")
    if not 0 <= first_turn <= n_turns:
        raise ValueError(f"first_turn must be in [0, {n_turns}], got {first_turn}")

    counts: dict[tuple[int, int], int] = {}

    def tokens(turn: int, kept: int) -> int:
        if (turn, kept) not in counts:
            counts[turn, kept] = count_tokens(build_messages(parts, first_turn=turn, passages=kept))
        return counts[turn, kept]

    budget = context_length - answer_tokens
    notes: list[str] = []
    turn, kept, reserve = first_turn, n_passages, answer_tokens

    if tokens(turn, kept) > budget and turn < n_turns:
        target = low_water * budget
        turn = _first_true(turn + 1, n_turns, lambda t: tokens(t, n_passages) <= target)
        dropped = turn - first_turn
        if dropped == 1:
            note = _("Left out the oldest turn to fit the {window:,}-token window.")
        else:
            note = _("Left out the {count:,} oldest turns to fit the {window:,}-token window.")
        notes.append(note.format(count=dropped, window=context_length))

    if tokens(turn, kept) > budget and kept > 0:
        kept = n_passages - _first_true(1, n_passages, lambda d: tokens(turn, n_passages - d) <= budget)
        dropped = n_passages - kept
        if dropped == 1:
            note = _("Left out the lowest-ranked course passage to fit the {window:,}-token window.")
        else:
            note = _("Left out the {count:,} lowest-ranked course passages to fit the {window:,}-token window.")
        notes.append(note.format(count=dropped, window=context_length))

    prompt = tokens(turn, kept)
    if prompt > budget:
        if prompt > context_length - min_answer_tokens:
            raise PromptTooLong(
                _("The question and the tutor's instructions take {prompt:,} tokens; this model's window is "
                  "{context_length:,}, and at least {min_answer_tokens:,} must be left for the answer.").format(
                  prompt=prompt, context_length=context_length, min_answer_tokens=min_answer_tokens),
                hint=_("Shorten the question, or load the model with a longer context (Settings › Context length)."),
                debug_context={
                    "prompt_tokens": prompt,
                    "context_length": context_length,
                    "min_answer_tokens": min_answer_tokens,
                    "answer_tokens": answer_tokens,
                },
            )
        reserve = context_length - prompt
        notes.append(_("Shortened the room for the answer to {reserve:,} tokens to fit the {window:,}-token "
                       "window.").format(reserve=reserve, window=context_length))

    return TrimResult(
        messages=build_messages(parts, first_turn=turn, passages=kept),
        prompt_tokens=prompt,
        first_turn=turn,
        dropped_turns=turn - first_turn,
        kept_passages=kept,
        dropped_passages=n_passages - kept,
        answer_tokens=reserve,
        notes=tuple(notes),
    )


def _first_true(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The smallest x in [lo, hi] with pred(x), for pred monotone False→True; hi if none (unchecked)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


